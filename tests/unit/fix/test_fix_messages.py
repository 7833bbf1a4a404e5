"""Application messages <-> core types, both directions, every FIX version; prices are
decimals on the wire and ticks in the process; bad input becomes FixMappingError.

Every message encoded here is checked against the shipped data dictionary of its
version: the messages the daemon and the exchange send are valid FIX of that version."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.requests import (
    CancelRequest,
    MassStatusRequest,
    NewOrderRequest,
    ReplaceRequest,
    StatusRequest,
)
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from gateways.fix.codec import FixMessage, HeaderEncoder, parse
from gateways.fix.dictionary import DataDictionary, session_dictionary
from gateways.fix.messages import BusinessReject, FixMappingError, FixMessages, Outbound
from gateways.fix.validation import validate

TS = 1_767_623_400_123_000_000  # 2026-01-05 14:30:00.123
INSTRUMENTS = {
    "AMZN": Instrument("AMZN"),
    "BTC-USD": Instrument("BTC-USD", tick_size=Decimal("0.5"), qty_unit=Decimal("0.00001")),
}
# A BeginString, or a FIXT.1.1 application version.
VERSIONS = [
    "FIX.4.0",
    "FIX.4.1",
    "FIX.4.2",
    "FIX.4.3",
    "FIX.4.4",
    "FIX.5.0",
    "FIX.5.0SP1",
    "FIX.5.0SP2",
]
WHOLE_QTY = {"FIX.4.0", "FIX.4.1"}  # quantities are INT there, timestamps whole seconds
TS_SECOND = TS - TS % 1_000_000_000


def begin_of(version: str) -> str:
    return "FIXT.1.1" if version.startswith("FIX.5") else version


def dd_of(version: str) -> DataDictionary:
    return session_dictionary(begin_of(version), app_version=version)


def messages(version: str, instruments: object = None) -> FixMessages:
    return FixMessages(
        begin_of(version),
        INSTRUMENTS if instruments is None else instruments,  # type: ignore[arg-type]
        dictionary=dd_of(version),
    )


def wire(version: str, out: Outbound) -> FixMessage:
    """Through the real encoder and parser, and valid per the version's dictionary."""
    msg = parse(
        HeaderEncoder(begin_of(version), "A", "B").encode(
            out.msg_type, 9, b"20260105-14:30:00.000", out.body
        )
    )
    problem = validate(msg, dd_of(version))
    assert problem is None, (problem, msg)
    return msg


@pytest.mark.parametrize("begin", VERSIONS)
def test_new_order_single_round_trip(begin: str) -> None:
    fm = messages(begin)
    req = NewOrderRequest(
        "C1", "AMZN", Side.SELL, 400, 18725, tif=TimeInForce.IOC, ts_ns=TS, account="ACC1"
    )
    msg = wire(begin, fm.new_order_single(req))
    assert msg.get(44) == b"187.25" and msg.get(38) == b"400" and msg.get(54) == b"2"
    if begin in WHOLE_QTY:  # no TransactTime on FIX.4.0/4.1 orders
        req = dataclasses.replace(req, ts_ns=0)
    assert fm.decode_new_order_single(msg) == req


@pytest.mark.parametrize("begin", VERSIONS)
def test_market_order_carries_no_price(begin: str) -> None:
    fm = messages(begin)
    if begin in WHOLE_QTY:
        with pytest.raises(FixMappingError, match="whole numbers"):
            fm.new_order_single(NewOrderRequest("C2", "BTC-USD", Side.BUY, 1, None))
        return
    req = NewOrderRequest(
        "C2", "BTC-USD", Side.BUY, 150_000, None, ord_type=OrdType.MARKET, ts_ns=TS
    )
    msg = wire(begin, fm.new_order_single(req))
    assert 44 not in msg and msg.get(38) == b"1.50000"
    assert fm.decode_request(msg) == req


@pytest.mark.parametrize("begin", VERSIONS)
def test_cancel_replace_status_round_trips(begin: str) -> None:
    fm = messages(begin)
    cancel = CancelRequest("C3", "C1", "AMZN", Side.BUY, 100, ts_ns=TS)
    replace = ReplaceRequest("C4", "C1", "AMZN", Side.BUY, 300, 18700, ts_ns=TS)
    status = StatusRequest("C1", "AMZN", Side.BUY)
    if begin in WHOLE_QTY:  # no TransactTime on FIX.4.0/4.1 cancels and replaces
        cancel = dataclasses.replace(cancel, ts_ns=0)
        replace = dataclasses.replace(replace, ts_ns=0)
    assert fm.decode_request(wire(begin, fm.order_cancel_request(cancel))) == cancel
    assert fm.decode_request(wire(begin, fm.order_cancel_replace_request(replace))) == replace
    assert fm.decode_request(wire(begin, fm.order_status_request(status))) == status


@pytest.mark.parametrize("begin", VERSIONS)
def test_mass_status_request_from_fix43_on(begin: str) -> None:
    fm = messages(begin)
    req = MassStatusRequest("R1")
    if begin < "FIX.4.3":
        with pytest.raises(ValueError, match=f"does not exist in {begin}"):
            fm.order_mass_status_request(req)
        return
    msg = wire(begin, fm.order_mass_status_request(req))
    assert msg.get(585) == b"7" and fm.decode_request(msg) == req


def _fill(exec_type: ExecType, status: OrdStatus, cum: int, last: int) -> ExecReport:
    return ExecReport(
        "C1",
        "E7",
        exec_type,
        status,
        "AMZN",
        Side.BUY,
        400,
        cum,
        400 - cum,
        TS,
        price=18725,
        last_qty=last,
        last_px=18724 if last else 0,
        avg_px=18724.5 if cum else 0.0,
        venue_order_id="V1",
        liquidity="A" if last else "",
    )


@pytest.mark.parametrize("begin", VERSIONS)
@pytest.mark.parametrize(
    "report",
    [
        _fill(ExecType.NEW, OrdStatus.NEW, 0, 0),
        _fill(ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 100, 100),
        _fill(ExecType.TRADE, OrdStatus.FILLED, 400, 300),
        _fill(ExecType.CANCELED, OrdStatus.CANCELED, 100, 0),
        _fill(ExecType.ORDER_STATUS, OrdStatus.PARTIALLY_FILLED, 100, 0),
        _fill(ExecType.REJECTED, OrdStatus.REJECTED, 0, 0),
    ],
    ids=lambda r: r.exec_type.name,
)
def test_execution_report_round_trip(begin: str, report: ExecReport) -> None:
    fm = messages(begin)
    msg = wire(begin, fm.execution_report(report))
    got = fm.decode_report(msg)
    expect = report
    if begin < "FIX.4.4":  # no LastLiquidityInd before 4.4
        expect = dataclasses.replace(expect, liquidity="")
    if begin in WHOLE_QTY:
        expect = dataclasses.replace(expect, ts_ns=TS_SECOND)
    if begin == "FIX.4.0":  # ExecID is an integer; no LeavesQty (derived from the status)
        leaves = 0 if report.ord_status.is_terminal else report.order_qty - report.cum_qty
        exec_id = fm.wire_exec_id(report.exec_id).decode()
        assert exec_id.isdigit() and exec_id == fm.wire_exec_id(report.exec_id).decode()
        expect = dataclasses.replace(expect, exec_id=exec_id, leaves_qty=leaves)
    assert got == expect
    if report.exec_type is ExecType.TRADE:
        assert msg.get(31) == b"187.24" and msg.get(6) == b"187.245"
        legacy = b"1" if report.ord_status is OrdStatus.PARTIALLY_FILLED else b"2"
        assert msg.get(150) == (
            None if begin == "FIX.4.0" else b"F" if begin >= "FIX.4.3" else legacy
        )


@pytest.mark.parametrize("begin", VERSIONS)
def test_cancel_reject_round_trip(begin: str) -> None:
    fm = messages(begin)
    rej = CancelReject("C3", "C1", True, "too late to cancel", TS, OrdStatus.FILLED)
    expect = rej
    if begin in WHOLE_QTY:
        # FIX.4.0/4.1 OrderCancelReject has no TransactTime or CxlRejResponseTo: the
        # daemon tells cancel from replace by the ClOrdID it sent; 4.0 has no
        # OrigClOrdID or OrdStatus either.
        expect = dataclasses.replace(rej, is_replace=False, ts_ns=0)
        if begin == "FIX.4.0":
            expect = dataclasses.replace(expect, orig_cl_ord_id="", ord_status=None)
    assert fm.decode_report(wire(begin, fm.order_cancel_reject(rej))) == expect


def test_business_reject_decodes() -> None:
    fm = FixMessages("FIX.4.4", INSTRUMENTS)
    msg = parse(
        HeaderEncoder("FIX.4.4", "A", "B").encode(
            b"j", 3, b"20260105-14:30:00.000", b"45=7\x01372=D\x01380=3\x0158=no\x01"
        )
    )
    assert fm.decode_report(msg) == BusinessReject(7, "D", 3, "no")


def _nos(fields: bytes) -> FixMessage:
    return parse(
        HeaderEncoder("FIX.4.4", "A", "B").encode(b"D", 5, b"20260105-14:30:00.000", fields)
    )


BASE = {
    11: b"C9",
    21: b"1",
    38: b"100",
    40: b"2",
    44: b"10.00",
    54: b"1",
    55: b"AMZN",
    60: b"20260105-14:30:00",
}


@pytest.mark.parametrize(
    ("change", "tag", "text"),
    [
        ({44: b"10.005"}, 44, "not a multiple of tick size"),
        ({55: b"TSLA"}, 55, "unknown symbol"),
        ({54: b"5"}, 54, "not supported"),
        ({38: b"1.5"}, 38, "not a multiple of the unit"),
        ({40: b"3"}, 40, "OrdType"),
        ({44: None}, 44, "needs Price"),
        ({40: b"1"}, 44, "market order carries no Price"),
        ({11: None}, 11, "required tag 11"),
        ({44: b"0"}, 44, "must be > 0"),
    ],
)
def test_bad_new_order_single_is_a_clear_mapping_error(
    change: dict[int, bytes | None], tag: int, text: str
) -> None:
    fields = {**BASE, **change}
    body = b"".join(b"%d=%b\x01" % (t, v) for t, v in fields.items() if v is not None)
    with pytest.raises(FixMappingError, match=text) as info:
        FixMessages("FIX.4.4", INSTRUMENTS).decode_new_order_single(_nos(body))
    err = info.value
    assert err.tag == tag and err.ref_seq_num == 5 and err.msg_type == b"D"
    if tag not in (11, 55, 54):
        assert (err.cl_ord_id, err.symbol, err.side) == ("C9", "AMZN", Side.BUY)


@given(
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=1, max_value=10**7),
    st.sampled_from(list(Side)),
    st.sampled_from(list(INSTRUMENTS)),
)
def test_any_order_survives_the_wire_exactly(ticks: int, qty: int, side: Side, symbol: str) -> None:
    fm = FixMessages("FIX.4.4", INSTRUMENTS)
    req = NewOrderRequest("Z", symbol, side, qty, ticks, ts_ns=TS)
    assert fm.decode_new_order_single(wire("FIX.4.4", fm.new_order_single(req))) == req


def test_soh_in_an_id_is_refused_on_the_way_out() -> None:
    fm = FixMessages("FIX.4.4", INSTRUMENTS)
    with pytest.raises(ValueError, match="SOH"):
        fm.new_order_single(NewOrderRequest("bad\x01id", "AMZN", Side.BUY, 1, 1, ts_ns=TS))


GRIDS = [
    Instrument("A", tick_size=Decimal("0.01")),
    Instrument("B", tick_size=Decimal("1"), qty_unit=Decimal("0.00001")),
    Instrument("C", tick_size=Decimal("0.05"), qty_unit=Decimal("100")),
    Instrument("D", tick_size=Decimal("0.0001")),
]
NUMBER_TEXT = st.from_regex(r"\A-?[0-9]{0,6}(\.[0-9]{0,7})?\Z", fullmatch=True) | st.text(
    max_size=8
)


@given(st.sampled_from(GRIDS), NUMBER_TEXT)
def test_fast_decimal_path_equals_the_instruments_exact_conversion(
    inst: Instrument, text: str
) -> None:
    from core.errors import CoreError
    from gateways.fix.decimals import GridCodec

    codec = GridCodec(inst)
    raw = text.encode("utf-8")
    for fast, exact in ((codec.ticks, inst.to_ticks), (codec.units, inst.to_units)):
        try:
            want: int | str = exact(text)
        except (CoreError, ValueError):
            want = "error"
        try:
            got: int | str = fast(raw)
        except (CoreError, ValueError):
            got = "error"
        assert got == want


@given(st.sampled_from(GRIDS), st.integers(min_value=-(10**12), max_value=10**12))
def test_fast_text_equals_decimal_text(inst: Instrument, n: int) -> None:
    from gateways.fix.decimals import GridCodec

    codec = GridCodec(inst)
    assert codec.px_text(n) == format(inst.price(n), "f").encode()
    assert codec.qty_text(n) == format(inst.quantity(n), "f").encode()
    assert codec.ticks(codec.px_text(n)) == n


def _maybe(values: list[bytes | None]) -> st.SearchStrategy[bytes | None]:
    """Mostly the valid first value, so the fast path succeeds often enough to compare."""
    return st.sampled_from([values[0]] * 8 + values)


ER_FIELD_CHOICES: dict[int, list[bytes | None]] = {
    11: [b"C1", b"", None],
    17: [b"E1", b"", None],
    150: [b"0", b"F", b"4", b"I", b"Z", None],
    39: [b"0", b"1", b"2", b"Q", None],
    55: [b"AMZN", b"BTC-USD", b"NOPE", b"", None],
    54: [b"1", b"2", b"5", None],
    38: [b"400", b"1.5", b"-3", b"x", None],
    14: [b"100", b"0", b"-1", b"1e2", None],
    151: [b"300", b"0.00001", None],
    32: [b"100", b"0.5", None],
    31: [b"187.25", b"187.255", b"abc", None],
    44: [b"187.25", b"0", b"-1.00", None],
    6: [b"187.245", b"0", b"x", None],
    60: [b"20260105-14:30:00.123", b"2026", None],
    41: [b"C0", None],
    37: [b"V1", b"", None],
    58: [b"hello", None],
    851: [b"1", b"2", b"9", None],
    43: [b"Y", None],
    97: [b"Y", None],
}
NOS_FIELD_CHOICES: dict[int, list[bytes | None]] = {
    11: [b"C1", b"", None],
    55: [b"AMZN", b"BTC-USD", b"NOPE", None],
    54: [b"1", b"2", b"7", None],
    40: [b"2", b"1", b"3", None],
    44: [b"10.00", b"10.005", b"0", b"-5", b"1.5", None],
    38: [b"100", b"0.00001", b"1.5", b"-2", None],
    59: [b"0", b"3", b"4", b"9", b"", None],
    60: [b"20260105-14:30:00", b"bad", None],
    1: [b"ACC", b"", None],
}


def _message(choice: dict[int, bytes | None], msg_type: bytes) -> FixMessage:
    pairs = [(35, msg_type), (34, b"5")] + [(t, v) for t, v in choice.items() if v is not None]
    return FixMessage(b"", b"FIX.4.4", pairs, dict(pairs))


@given(st.fixed_dictionaries({t: _maybe(v) for t, v in ER_FIELD_CHOICES.items()}))
def test_fast_execution_report_path_agrees_with_the_careful_one(
    choice: dict[int, bytes | None],
) -> None:
    fm = FixMessages("FIX.4.4", INSTRUMENTS)
    fm.codec("AMZN"), fm.codec("BTC-USD")  # the fast path only uses codecs already built
    msg = _message(choice, b"8")
    try:
        fast = fm._fast_execution_report(msg)
    except Exception:
        fast = None
    try:
        careful: ExecReport | None = fm._careful_execution_report(msg)
    except FixMappingError:
        careful = None
    if fast is not None:
        assert fast == careful


@given(st.fixed_dictionaries({t: _maybe(v) for t, v in NOS_FIELD_CHOICES.items()}))
def test_fast_new_order_path_agrees_with_the_careful_one(choice: dict[int, bytes | None]) -> None:
    fm = FixMessages("FIX.4.4", INSTRUMENTS)
    fm.codec("AMZN"), fm.codec("BTC-USD")
    msg = _message(choice, b"D")
    try:
        fast = fm._fast_new_order_single(msg)
    except Exception:
        fast = None
    try:
        careful: NewOrderRequest | None = fm._careful_new_order_single(msg)
    except FixMappingError:
        careful = None
    if fast is not None:
        assert fast == careful


def test_fast_paths_are_taken_for_well_formed_messages() -> None:
    fm = FixMessages("FIX.4.4", INSTRUMENTS)
    fm.codec("AMZN"), fm.codec("BTC-USD")
    er = _message({t: v[0] for t, v in ER_FIELD_CHOICES.items()}, b"8")
    nos = _message({t: v[0] for t, v in NOS_FIELD_CHOICES.items()}, b"D")
    fast_er = fm._fast_execution_report(er)
    fast_nos = fm._fast_new_order_single(nos)
    assert fast_er is not None and fast_er == fm._careful_execution_report(er)
    assert fast_nos is not None and fast_nos == fm._careful_new_order_single(nos)

"""The FIX order-entry bridge in process: decoding, answers to bad input, resends.

The session is not connected here, so every answer is queued by order entry and
handed over on the next logon: that path is part of what is tested.
"""

from __future__ import annotations

from pathlib import Path

from core.clock import SimClock
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.requests import NewOrderRequest
from core.types import ExecType, OrdStatus, Side
from exchange.engine import MatchingEngine
from exchange.service.audit import AuditLog, read_audit
from exchange.service.fix_order_entry import FixOrderEntry
from exchange.service.order_entry import EngineOrderEntry, Report
from exchange.service.venues import EngineVenue
from gateways.fix import (
    AcceptorSettings,
    AppMessage,
    FixMessages,
    HeaderEncoder,
    SessionSettings,
    parse,
)

AMZN = Instrument("AMZN")
SESSION = SessionSettings(sender_comp_id="EXCHANGE", target_comp_id="RLEXEC")
SID = SESSION.session_id


def _bridge(tmp_path: Path) -> tuple[FixOrderEntry, EngineOrderEntry, Path]:
    audit = tmp_path / "audit.jsonl"
    entry = EngineOrderEntry(AuditLog(audit, clock=SimClock()))
    engine = MatchingEngine([AMZN], entry.on_report)
    engine.new_order(NewOrderRequest("MM", "AMZN", Side.SELL, 100, 10_000), "maker", 1)
    entry.attach(EngineVenue(engine, lambda: 5))
    bridge = FixOrderEntry(
        AcceptorSettings(port=0, sessions=(SESSION,)),
        entry,
        {"AMZN": AMZN},
        clock=SimClock(),
        venue_time=lambda: 5,
    )
    return bridge, entry, audit


_ENC = HeaderEncoder("FIX.4.4", "RLEXEC", "EXCHANGE")
_SEQ = iter(range(1, 1000))


def _msg(msg_type: bytes, body: bytes, *, resend: bool = False) -> AppMessage:
    raw = _ENC.encode(msg_type, next(_SEQ), b"20240101-00:00:00.000", body)
    return AppMessage(SID, parse(raw), poss_resend=resend)


def _collect(entry: EngineOrderEntry) -> list[Report]:
    got: list[Report] = []
    entry.connect(SID, lambda s, r: got.append(r))
    return got


def test_orders_and_rejects_with_reasons(tmp_path: Path) -> None:
    bridge, entry, audit = _bridge(tmp_path)
    fm = FixMessages("FIX.4.4", {"AMZN": AMZN})
    bridge._on_event(
        _msg(*fm.new_order_single(NewOrderRequest("C1", "AMZN", Side.BUY, 10, 10_000)))
    )
    nos = b"21=1\x0138=10\x0140=2\x0154=1\x0159=0\x0160=20240101-00:00:00\x01"
    bridge._on_event(_msg(b"D", b"11=C2\x0155=TSLA\x0144=1.00\x01" + nos))
    bridge._on_event(_msg(b"D", b"11=C3\x0155=AMZN\x0144=100.005\x01" + nos))
    bridge._on_event(
        _msg(
            b"D",
            b"11=C4\x0155=AMZN\x0144=100.00\x0154=9\x0121=1\x0138=1\x0140=2\x0160=20240101-00:00:00\x01",
        )
    )
    bridge._on_event(_msg(b"F", b"11=C5\x0141=C1\x0155=AMZN\x0154=1\x0160=bad-time\x01"))
    got = _collect(entry)
    by_id: dict[str, list[Report]] = {}
    for r in got:
        by_id.setdefault(r.cl_ord_id, []).append(r)
    assert [r.exec_type for r in by_id["C1"]] == [ExecType.NEW, ExecType.TRADE]  # type: ignore[union-attr]
    for cl, words in (("C2", "unknown symbol"), ("C3", "tick size")):
        (r,) = by_id[cl]
        assert isinstance(r, ExecReport) and r.ord_status is OrdStatus.REJECTED
        assert words in r.text and r.ts_ns == 5
    # No readable Side: an ExecutionReport cannot echo one, so it is a BusinessMessageReject
    # (sent by the session, not a report of order entry); still audited below.
    assert "C4" not in by_id
    (c5,) = by_id["C5"]
    assert isinstance(c5, CancelReject) and c5.orig_cl_ord_id == "C1"
    assert bridge.rejected_inbound == 4
    entry.audit.close()
    bad = [r for r in read_audit(audit)[0] if r["kind"] == "bad_message"]
    assert [b["fields"]["cl_ord_id"] for b in bad] == ["C2", "C3", "C4", "C5"]


def test_a_poss_resend_of_a_known_order_is_answered_with_its_status(tmp_path: Path) -> None:
    bridge, entry, _ = _bridge(tmp_path)
    fm = FixMessages("FIX.4.4", {"AMZN": AMZN})
    order = fm.new_order_single(NewOrderRequest("C1", "AMZN", Side.BUY, 10, 9_000))
    bridge._on_event(_msg(*order))
    bridge._on_event(_msg(*order, resend=True))  # the same order again, flagged as a resend
    fresh = fm.new_order_single(NewOrderRequest("C9", "AMZN", Side.BUY, 10, 9_000))
    bridge._on_event(_msg(*fresh, resend=True))  # a resend the venue never saw: acted on
    got = _collect(entry)
    assert [(r.cl_ord_id, r.exec_type) for r in got] == [  # type: ignore[union-attr]
        ("C1", ExecType.NEW),
        ("C1", ExecType.ORDER_STATUS),
        ("C9", ExecType.NEW),
    ]
    assert len(entry.venue.open_orders(SID)) == 2  # type: ignore[union-attr]

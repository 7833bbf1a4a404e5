"""Matching engine rules: priority, order types, cancel/replace, rejects, STP, halts."""

from __future__ import annotations

import pytest
from exchange_engine_helpers import SYM, Venue

from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest, StatusRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from exchange.engine import EngineConfig, RejectReason, STPMode

B, S = Side.BUY, Side.SELL


def trades(v: Venue, session: str = "s1") -> list[ExecReport]:
    return [r for r in v.execs(session) if r.exec_type is ExecType.TRADE]


def test_limit_order_rests_and_is_acknowledged() -> None:
    v = Venue()
    clid = v.limit(B, 100, 500)
    (ack,) = v.execs()
    assert (ack.cl_ord_id, ack.exec_type, ack.ord_status) == (clid, ExecType.NEW, OrdStatus.NEW)
    assert ack.leaves_qty == 100 and ack.venue_order_id
    assert v.book.l2.best_bid == 500 and v.book.l2.best_bid_size == 100
    assert v.book.problems() == []


def test_price_time_priority_and_maker_price() -> None:
    v = Venue()
    first = v.limit(S, 50, 502, session="m1")
    second = v.limit(S, 50, 502, session="m2")
    better = v.limit(S, 30, 501, session="m3")
    v.limit(B, 100, 503, session="t")
    fills = trades(v, "t")
    # Best price first, then time: 30 @ 501 from m3, 50 @ 502 from m1, 20 @ 502 from m2.
    assert [(f.last_qty, f.last_px) for f in fills] == [(30, 501), (50, 502), (20, 502)]
    assert [f.liquidity for f in fills] == ["R", "R", "R"]
    assert trades(v, "m3")[0].cl_ord_id == better
    assert (
        trades(v, "m1")[0].cl_ord_id == first and trades(v, "m1")[0].ord_status is OrdStatus.FILLED
    )
    m2 = trades(v, "m2")[0]
    assert m2.cl_ord_id == second and m2.ord_status is OrdStatus.PARTIALLY_FILLED
    assert (m2.cum_qty, m2.leaves_qty, m2.liquidity) == (20, 30, "A")
    assert fills[-1].ord_status is OrdStatus.FILLED and fills[-1].avg_px == pytest.approx(
        (30 * 501 + 70 * 502) / 100
    )
    assert v.book.l2.best_ask == 502 and v.book.l2.best_ask_size == 30
    assert v.book.problems() == []


def test_market_order_walks_book_and_cancels_remainder() -> None:
    v = Venue(EngineConfig(price_band_bps=None))
    v.bg(S, 10, 501, key=1)
    v.bg(S, 10, 505, key=2)
    v.market(B, 50)
    rep = v.execs()
    assert [r.exec_type for r in rep] == [
        ExecType.NEW,
        ExecType.TRADE,
        ExecType.TRADE,
        ExecType.CANCELED,
    ]
    assert rep[-1].cum_qty == 20 and rep[-1].leaves_qty == 0
    assert v.book.l2.best_ask is None


def test_market_order_on_empty_side_is_cancelled_for_no_liquidity() -> None:
    v = Venue()
    v.market(S, 10)
    last = v.last()
    assert isinstance(last, ExecReport) and last.exec_type is ExecType.CANCELED
    assert RejectReason.from_text(last.text) is RejectReason.NO_LIQUIDITY


def test_market_order_stops_at_price_band() -> None:
    v = Venue(EngineConfig(price_band_bps=100))  # 1 %
    v.bg(B, 10, 999, key=1)
    v.bg(S, 10, 1001, key=2)
    v.bg(S, 10, 1100, key=3)  # 10 % away: beyond the band
    v.market(B, 20)
    assert sum(f.last_qty for f in trades(v)) == 10
    assert v.book.l2.best_ask == 1100


def test_ioc_fills_what_it_can() -> None:
    v = Venue()
    v.bg(S, 30, 500, key=1)
    v.limit(B, 100, 500, tif=TimeInForce.IOC)
    rep = v.execs()
    assert [r.exec_type for r in rep] == [ExecType.NEW, ExecType.TRADE, ExecType.CANCELED]
    assert rep[-1].cum_qty == 30 and v.book.l2.best_bid is None


def test_fok_all_or_nothing() -> None:
    v = Venue()
    v.bg(S, 30, 500, key=1)
    v.bg(S, 30, 501, key=2)
    v.limit(B, 61, 501, tif=TimeInForce.FOK)
    last = v.last()
    assert isinstance(last, ExecReport) and last.exec_type is ExecType.CANCELED
    assert RejectReason.from_text(last.text) is RejectReason.NOT_FILLABLE
    assert v.book.l2.volume(S, 5) == 60  # untouched
    v.limit(B, 60, 501, tif=TimeInForce.FOK)
    assert [f.last_qty for f in trades(v)] == [30, 30]
    assert v.book.l2.best_ask is None


def test_cancel_answers_with_request_ids() -> None:
    v = Venue()
    clid = v.limit(B, 100, 500)
    v.engine.cancel(CancelRequest("c-1", clid, SYM, B, 100), "s1", v.tick())
    last = v.last()
    assert isinstance(last, ExecReport)
    assert (last.exec_type, last.cl_ord_id, last.orig_cl_ord_id) == (ExecType.CANCELED, "c-1", clid)
    assert v.book.l2.best_bid is None and v.engine.open_orders() == []


def test_cancel_of_unknown_and_of_filled_orders() -> None:
    v = Venue()
    v.engine.cancel(CancelRequest("c-1", "nope", SYM, B, 1), "s1", v.tick())
    rej = v.last()
    assert isinstance(rej, CancelReject) and not rej.is_replace
    assert RejectReason.from_text(rej.reason) is RejectReason.UNKNOWN_ORDER
    clid = v.limit(B, 10, 500)
    v.bg(S, 10, 500, key=1)
    v.engine.cancel(CancelRequest("c-2", clid, SYM, B, 10), "s1", v.tick())
    rej = v.last()
    assert isinstance(rej, CancelReject) and rej.ord_status is OrdStatus.FILLED
    assert RejectReason.from_text(rej.reason) is RejectReason.TOO_LATE


def test_cancel_of_a_replaced_clordid_reports_the_live_order_s_status_not_replaced() -> None:
    # OrdStatus "replaced" (5) does not exist from FIX.4.3 on: a FIX.4.4 peer refuses a
    # CancelReject carrying it, and the cancel goes unanswered. The order lives on under
    # its new ClOrdID, and that is the status to report.
    v = Venue()
    first = v.limit(B, 10, 500)
    v.engine.replace(ReplaceRequest("r-1", first, SYM, B, 10, 499), "s1", v.tick())
    v.engine.cancel(CancelRequest("c-1", first, SYM, B, 10), "s1", v.tick())
    rej = v.last()
    assert isinstance(rej, CancelReject) and rej.ord_status is OrdStatus.NEW
    assert RejectReason.from_text(rej.reason) is RejectReason.TOO_LATE
    assert "r-1" in rej.reason
    v.engine.status(StatusRequest("r-1", SYM, B), "s1", v.tick())  # asked under its new id
    assert v.last().ord_status is OrdStatus.NEW


def test_cancel_from_another_session_is_unknown() -> None:
    v = Venue()
    clid = v.limit(B, 10, 500, session="a")
    v.engine.cancel(CancelRequest("c-1", clid, SYM, B, 10), "b", v.tick())
    assert isinstance(v.last("b"), CancelReject)
    assert v.book.l2.best_bid == 500


def _queue_keys(v: Venue, side: Side, price: int) -> list[int]:
    q = v.book.queue(side, price)
    assert q is not None
    return list(q)


def test_replace_size_down_keeps_priority_size_up_or_price_loses_it() -> None:
    v = Venue()
    a = v.limit(B, 100, 500, session="a")
    v.limit(B, 100, 500, session="b")
    key_a = v.engine.order("a", a)
    assert key_a is not None
    v.engine.replace(ReplaceRequest("a2", a, SYM, B, 60, 500), "a", v.tick())
    rep = v.last("a")
    assert isinstance(rep, ExecReport) and rep.exec_type is ExecType.REPLACED
    assert (rep.cl_ord_id, rep.orig_cl_ord_id, rep.order_qty, rep.leaves_qty) == ("a2", a, 60, 60)
    assert _queue_keys(v, B, 500)[0] == key_a.key  # still first
    assert v.book.l2.best_bid_size == 160
    v.engine.replace(ReplaceRequest("a3", "a2", SYM, B, 80, 500), "a", v.tick())
    assert _queue_keys(v, B, 500)[-1] == key_a.key  # size up: back of the queue
    v.engine.replace(ReplaceRequest("a4", "a3", SYM, B, 80, 499), "a", v.tick())
    assert v.book.level_size(B, 499) == 80 and v.book.level_size(B, 500) == 100
    assert v.engine.order("a", "a4") is key_a and v.engine.order("a", a) is None
    assert v.book.problems() == []


def test_replace_into_the_spread_trades_and_counts_previous_fills() -> None:
    v = Venue()
    v.bg(S, 30, 502, key=1)
    clid = v.limit(B, 100, 500)
    v.bg(B, 1, 499, key=2)
    v.engine.background_order(SYM, S, 500, 40, key=3, ts_ns=v.tick())  # hits our bid
    assert trades(v)[-1].cum_qty == 40
    v.engine.replace(ReplaceRequest("r1", clid, SYM, B, 90, 502), "s1", v.tick())
    rep = v.execs()
    assert rep[-2].exec_type is ExecType.REPLACED and rep[-2].leaves_qty == 50
    assert rep[-1].exec_type is ExecType.TRADE and rep[-1].last_qty == 30
    assert (rep[-1].cum_qty, rep[-1].leaves_qty, rep[-1].cl_ord_id) == (70, 20, "r1")
    assert v.book.l2.best_bid == 502 and v.book.l2.best_bid_size == 20


@pytest.mark.parametrize(
    ("qty", "price", "reason"),
    [
        (40, 500, RejectReason.BAD_QTY),  # not above the 40 already filled
        (0, 500, RejectReason.BAD_QTY),
        (90, 0, RejectReason.BAD_PRICE),
    ],
)
def test_replace_rejects(qty: int, price: int, reason: RejectReason) -> None:
    v = Venue()
    clid = v.limit(B, 100, 500)
    v.engine.background_order(SYM, S, 500, 40, key=1, ts_ns=v.tick())
    v.engine.replace(ReplaceRequest("r1", clid, SYM, B, qty, price), "s1", v.tick())
    rej = v.last()
    assert isinstance(rej, CancelReject) and rej.is_replace
    assert RejectReason.from_text(rej.reason) is reason
    assert rej.ord_status is OrdStatus.PARTIALLY_FILLED
    assert v.book.level_size(B, 500) == 60


def test_replace_and_cancel_with_mismatched_side_or_reused_id() -> None:
    v = Venue()
    clid = v.limit(B, 100, 500)
    v.engine.replace(ReplaceRequest("r1", clid, SYM, S, 50, 500), "s1", v.tick())
    assert RejectReason.from_text(v.last().reason) is RejectReason.MISMATCH  # type: ignore[union-attr]
    v.engine.cancel(CancelRequest(clid, clid, SYM, B, 100), "s1", v.tick())
    assert RejectReason.from_text(v.last().reason) is RejectReason.DUPLICATE_ID  # type: ignore[union-attr]
    assert v.book.l2.best_bid == 500


@pytest.mark.parametrize(
    ("req", "reason"),
    [
        (NewOrderRequest("x", "MSFT", B, 10, 500), RejectReason.UNKNOWN_SYMBOL),
        (NewOrderRequest("x", SYM, B, 0, 500), RejectReason.BAD_QTY),
        (NewOrderRequest("x", SYM, B, -5, 500), RejectReason.BAD_QTY),
        (NewOrderRequest("x", SYM, B, 150, 500), RejectReason.BAD_LOT),
        (NewOrderRequest("x", SYM, B, 100, 0), RejectReason.BAD_PRICE),
        (NewOrderRequest("x", SYM, B, 100, None), RejectReason.BAD_PRICE),
        (NewOrderRequest("x", SYM, B, 100, 500, ord_type=OrdType.MARKET), RejectReason.BAD_PRICE),
        (NewOrderRequest("x", SYM, B, 100, 800), RejectReason.PRICE_BAND),
        (NewOrderRequest("x", SYM, B, 100, 200), RejectReason.PRICE_BAND),
        (NewOrderRequest("", SYM, B, 100, 500), RejectReason.UNSUPPORTED),
    ],
)
def test_new_order_rejects(req: NewOrderRequest, reason: RejectReason) -> None:
    v = Venue(lot=100)
    v.bg(B, 100, 499, key=1)
    v.bg(S, 100, 501, key=2)
    v.engine.new_order(req, "s1", v.tick())
    (rej,) = v.execs()
    assert (rej.exec_type, rej.ord_status) == (ExecType.REJECTED, OrdStatus.REJECTED)
    assert RejectReason.from_text(rej.text) is reason, rej.text
    assert rej.cl_ord_id == req.cl_ord_id and rej.leaves_qty == 0
    assert v.book.l2.volume(B, 5) == 100 and v.book.l2.volume(S, 5) == 100


def test_duplicate_clordid_is_rejected_even_after_the_order_ended() -> None:
    v = Venue()
    clid = v.limit(B, 10, 500)
    v.limit(B, 10, 500, clid=clid)
    assert RejectReason.from_text(v.execs()[-1].text) is RejectReason.DUPLICATE_ID
    v.bg(S, 10, 500, key=1)
    v.limit(B, 10, 500, clid=clid)
    assert RejectReason.from_text(v.execs()[-1].text) is RejectReason.DUPLICATE_ID
    v.limit(B, 10, 500, clid=clid, session="other")  # ids are per session
    assert v.execs("other")[-1].exec_type is ExecType.NEW


def test_halt_refuses_new_orders_and_replaces_but_allows_cancels() -> None:
    v = Venue()
    clid = v.limit(B, 10, 500)
    v.engine.halt(SYM, True)
    v.limit(B, 10, 500)
    assert RejectReason.from_text(v.execs()[-1].text) is RejectReason.HALTED
    assert RejectReason.HALTED.ord_rej_reason == 2
    v.engine.replace(ReplaceRequest("r", clid, SYM, B, 5, 500), "s1", v.tick())
    assert isinstance(v.last(), CancelReject)
    v.engine.cancel(CancelRequest("c", clid, SYM, B, 10), "s1", v.tick())
    assert v.execs()[-1].exec_type is ExecType.CANCELED
    v.engine.halt(SYM, False)
    v.limit(B, 10, 500)
    assert v.execs()[-1].exec_type is ExecType.NEW


def test_self_trade_prevention_cancel_newest() -> None:
    v = Venue()
    v.limit(S, 10, 500, session="a", account="ACC")
    v.bg(S, 10, 501, key=1)
    v.limit(B, 30, 501, session="b", account="ACC")
    last = v.execs("b")[-1]
    assert last.exec_type is ExecType.CANCELED and last.cum_qty == 0
    assert RejectReason.from_text(last.text) is RejectReason.SELF_TRADE
    assert v.book.level_size(S, 500) == 10  # the resting order is untouched
    v.limit(B, 5, 500, session="b", account="OTHER")
    assert trades(v, "b")[-1].last_qty == 5


def test_self_trade_prevention_cancel_oldest() -> None:
    v = Venue(EngineConfig(stp=STPMode.CANCEL_OLDEST))
    v.limit(S, 10, 500, session="a")
    v.bg(S, 10, 500, key=1)
    v.limit(B, 15, 500, session="a")  # same session -> same account
    cancelled = v.execs("a")[2]  # after the two acks
    assert cancelled.exec_type is ExecType.CANCELED and cancelled.cl_ord_id == "a-1"
    assert RejectReason.from_text(cancelled.text) is RejectReason.SELF_TRADE
    assert trades(v, "a")[-1].last_qty == 10
    assert v.book.l2.best_bid == 500 and v.book.l2.best_bid_size == 5


def test_status_request_reports_current_state() -> None:
    v = Venue()
    clid = v.limit(B, 10, 500)
    v.engine.status(StatusRequest(clid, SYM, B), "s1", v.tick())
    st = v.execs()[-1]
    assert st.exec_type is ExecType.ORDER_STATUS and st.ord_status is OrdStatus.NEW
    v.engine.status(StatusRequest("nope", SYM, B), "s1", v.tick())
    assert RejectReason.from_text(v.execs()[-1].text) is RejectReason.UNKNOWN_ORDER


def test_cancel_all_for_a_session() -> None:
    v = Venue()
    v.limit(B, 10, 500, session="a")
    v.limit(S, 10, 510, session="a")
    v.limit(B, 10, 499, session="b")
    assert v.engine.cancel_all(v.tick(), session="a") == 2
    assert [r.exec_type for r in v.execs("a")[-2:]] == [ExecType.CANCELED] * 2
    assert v.book.l2.best_bid == 499 and v.book.l2.best_ask is None


def test_l2_view_is_read_only_and_a_real_l2book() -> None:
    from core.book import L2Book

    v = Venue()
    v.limit(B, 10, 500)
    assert isinstance(v.book.l2, L2Book)
    with pytest.raises(TypeError):
        v.book.l2.apply_delta(B, 500, 5)
    copy = v.book.l2.copy_as_l2book()
    copy.apply_delta(B, 500, 5)
    assert v.book.l2.best_bid_size == 10


def test_reject_reason_codes_and_text_round_trip() -> None:
    for reason in RejectReason:
        assert RejectReason.from_text(reason.text("detail")) is reason
        assert isinstance(reason.ord_rej_reason, int)
        assert isinstance(reason.cxl_rej_reason, int)
    assert RejectReason.from_text("something else") is None
    assert RejectReason.UNKNOWN_SYMBOL.ord_rej_reason == 1
    assert RejectReason.UNKNOWN_ORDER.cxl_rej_reason == 1

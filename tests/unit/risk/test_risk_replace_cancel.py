"""Replaces are checked like new orders on their new terms and counted at the larger of
old and new remainder until the venue answers; cancels are never blocked."""

from __future__ import annotations

from pathlib import Path

import pytest
from risk_harness import Harness, approved, denied, make_config

from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, Side
from risk.approval import Approved
from risk.reasons import BadField, OrderRef, SelfCross
from risk.reasons import DenyReason as R
from risk.trading_state import TradingState

# ----------------------------------------------------------------- replace


def test_replace_inside_every_limit_is_approved(h: Harness):
    a = approved(h.new(qty=100, price=9_999))
    r = approved(h.replace(a, qty=150, price=9_998))
    assert r.request.orig_cl_ord_id == a.request.cl_ord_id


def test_replace_of_an_unknown_order_is_denied_with_unknown_order(h: Harness):
    a = approved(h.new())
    d = denied(h.replace(a, 100, 9_999, orig_cl_ord_id="NOPE"))
    assert d.reason is R.UNKNOWN_ORDER
    assert d.context == OrderRef("NOPE", "no live order with this ClOrdID")


def test_replace_of_a_done_order_is_denied_with_unknown_order(h: Harness):
    a = approved(h.new())
    h.canceled(a)
    assert denied(h.replace(a, 100, 9_998)).reason is R.UNKNOWN_ORDER


def test_second_replace_while_one_is_in_flight_is_denied_with_order_not_replaceable(h: Harness):
    a = approved(h.new())
    approved(h.replace(a, 100, 9_998))
    assert denied(h.replace(a, 100, 9_997)).reason is R.ORDER_NOT_REPLACEABLE


def test_replace_while_a_cancel_is_in_flight_is_denied_with_order_not_replaceable(h: Harness):
    a = approved(h.new())
    h.cancel(a.request.cl_ord_id)
    assert denied(h.replace(a, 100, 9_998)).reason is R.ORDER_NOT_REPLACEABLE


def test_replace_is_possible_again_after_a_cancel_reject(h: Harness):
    a = approved(h.new())
    c = approved(h.cancel(a.request.cl_ord_id))
    h.cancel_reject(c.request.cl_ord_id, a.request.cl_ord_id, is_replace=False)
    approved(h.replace(a, 100, 9_998))


def test_replace_of_a_market_order_is_denied_with_order_not_replaceable(h: Harness):
    m = approved(h.market(10))
    assert denied(h.replace(m, 10, 10_001)).reason is R.ORDER_NOT_REPLACEABLE


@pytest.mark.parametrize("change", [{"side": Side.SELL}, {"symbol": "LOTS"}])
def test_replace_changing_side_or_symbol_is_denied_with_replace_mismatch(
    h: Harness, change: dict[str, object]
):
    a = approved(h.new(qty=100))
    assert denied(h.replace(a, 100, 9_999, **change)).reason is R.REPLACE_MISMATCH


def test_replace_to_no_more_than_the_filled_qty_is_denied_with_invalid_quantity(h: Harness):
    a = approved(h.new(qty=100))
    h.fill(a, 40, 9_999)
    d = denied(h.replace(a, 40, 9_999))
    assert d.reason is R.INVALID_QUANTITY
    assert d.context == BadField("qty", "40", "more than the 40 already filled")
    approved(h.replace(a, 41, 9_999))


@pytest.mark.parametrize(
    ("qty", "price", "reason"),
    [
        (1_001, 9_999, R.MAX_ORDER_QTY),
        (100, 10_101, R.PRICE_COLLAR),
        (100.5, 9_999, R.INVALID_QUANTITY),
        (float("nan"), 9_999, R.INVALID_QUANTITY),
        (100, None, R.INVALID_PRICE),
        (100, float("inf"), R.INVALID_PRICE),
    ],
)
def test_replace_terms_are_checked_like_a_new_order(
    h: Harness, qty: object, price: object, reason: R
):
    a = approved(h.new(qty=100))
    assert denied(h.replace(a, qty, price)).reason is reason


def test_replace_off_the_lot_grid_is_denied_with_lot_size(h: Harness):
    a = approved(h.new(symbol="LOTS", qty=100))
    assert denied(h.replace(a, 150, 9_999)).reason is R.LOT_SIZE


def test_replace_above_max_notional_is_denied_with_max_order_notional(h: Harness):
    a = approved(h.new(symbol="TINY", qty=50, price=10_000))
    approved(h.replace(a, 100, 10_000))
    b = approved(h.new(symbol="TINY", qty=50, price=9_990))
    assert denied(h.replace(b, 100, 10_001)).reason is R.MAX_ORDER_NOTIONAL


def test_replace_with_a_missing_orig_cl_ord_id_is_denied_with_malformed_request(h: Harness):
    a = approved(h.new())
    d = denied(h.replace(a, 100, 9_999, orig_cl_ord_id=None))
    assert d.reason is R.MALFORMED_REQUEST


def test_replace_reusing_a_cl_ord_id_is_denied_with_duplicate_cl_ord_id(h: Harness):
    a = approved(h.new(cl_ord_id="A1"))
    assert denied(h.replace(a, 100, 9_998, cl_ord_id="A1")).reason is R.DUPLICATE_CL_ORD_ID


def test_replace_to_a_price_crossing_our_resting_sell_is_denied_with_self_cross(h: Harness):
    approved(h.new(side=Side.SELL, price=10_010))
    a = approved(h.new(side=Side.BUY, price=9_999))
    d = denied(h.replace(a, 100, 10_010))
    assert d.reason is R.SELF_CROSS
    assert d.context == SelfCross(10_010, 10_010)


def test_both_prices_of_a_pending_replace_guard_against_self_cross(h: Harness):
    a = approved(h.new(side=Side.BUY, price=9_950))
    approved(h.replace(a, 100, 10_000))
    # until the venue answers, the buy may rest at 9,950 or 10,000
    assert denied(h.new(side=Side.SELL, price=10_000)).reason is R.SELF_CROSS


def test_replace_on_a_stale_book_is_denied_with_stale_market_data(h: Harness):
    a = approved(h.new())
    h.advance(3)
    assert denied(h.replace(a, 100, 9_998)).reason is R.STALE_MARKET_DATA


def test_replace_while_halted_is_denied_but_cancel_passes(h: Harness):
    a = approved(h.new())
    h.ov.set_trading_state(TradingState.HALTED, now_ns=h.now, source="test")
    assert denied(h.replace(a, 100, 9_998)).reason is R.TRADING_HALTED
    approved(h.cancel(a.request.cl_ord_id))


def test_replace_spends_an_order_rate_token(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", make_config(orders_per_second=2, orders_per_minute=50))
    a = approved(h.new(qty=100))
    approved(h.replace(a, 100, 9_998))
    b = denied(h.new(qty=1))
    assert b.reason is R.ORDER_RATE


# -------------------------------------------- worst-case exposure of a replace


def test_growing_replace_counts_the_larger_new_remainder_at_once(h: Harness):
    a = approved(h.new(qty=500))
    approved(h.replace(a, 800, 9_999))
    assert h.ov.open_exposure("AMZN") == (800, 0)


def test_shrinking_replace_keeps_the_old_remainder_until_the_venue_confirms(h: Harness):
    a = approved(h.new(qty=500))
    r = approved(h.replace(a, 200, 9_999))
    assert h.ov.open_exposure("AMZN") == (500, 0)
    h.report(r.request.cl_ord_id, ExecType.REPLACED, OrdStatus.NEW, orig=a.request.cl_ord_id)
    assert h.ov.open_exposure("AMZN") == (200, 0)


def test_replace_reject_restores_the_old_terms(h: Harness):
    a = approved(h.new(qty=500))
    r = approved(h.replace(a, 800, 9_998))
    h.cancel_reject(r.request.cl_ord_id, a.request.cl_ord_id, is_replace=True)
    assert h.ov.open_exposure("AMZN") == (500, 0)
    approved(h.new(side=Side.SELL, price=9_999 + 1))  # 9,998 no longer rests


def test_replaced_order_continues_under_its_new_cl_ord_id(h: Harness):
    a = approved(h.new(qty=500))
    r = approved(h.replace(a, 600, 9_998))
    h.report(r.request.cl_ord_id, ExecType.REPLACED, OrdStatus.NEW, orig=a.request.cl_ord_id)
    [live] = h.ov.open_orders()
    assert (live.cl_ord_id, live.qty, live.price) == (r.request.cl_ord_id, 600, 9_998)
    approved(h.replace(r, 700, 9_997))


def test_growing_replace_past_max_position_is_denied_with_max_position(h: Harness):
    a = approved(h.new(qty=900, price=9_950))
    approved(h.new(qty=1_000, price=9_950))
    approved(h.new(qty=100, price=9_950))
    d = denied(h.replace(a, 901, 9_950))
    assert d.reason is R.MAX_POSITION


def test_replace_that_does_not_grow_the_remainder_passes_even_at_max_position(h: Harness):
    a = approved(h.new(qty=1_000, price=9_950))
    approved(h.new(qty=1_000, price=9_950))
    approved(h.replace(a, 1_000, 9_960))


def test_shrinking_replace_passes_in_reducing_but_growing_one_does_not(h: Harness):
    a = approved(h.new(qty=500, price=9_950))
    h.ov.set_trading_state(TradingState.REDUCING, now_ns=h.now, source="test")
    assert denied(h.replace(a, 600, 9_950)).reason is R.REDUCE_ONLY
    approved(h.replace(a, 300, 9_950))


def test_growing_replace_counts_toward_participation(h: Harness):
    h.advance(61)
    h.refresh()
    h.trade("AMZN", 1_000)
    a = approved(h.new(qty=200))
    assert denied(h.replace(a, 251, 9_999)).reason is R.PARTICIPATION_CAP
    approved(h.replace(a, 250, 9_999))
    assert denied(h.new(qty=1, price=9_990)).reason is R.PARTICIPATION_CAP


# ------------------------------------------------------------------ cancel


def test_cancel_is_approved_and_keeps_exposure_until_the_venue_confirms(h: Harness):
    a = approved(h.new(qty=100))
    c = h.cancel(a.request.cl_ord_id)
    assert isinstance(c, Approved)
    assert h.ov.open_exposure("AMZN") == (100, 0)
    h.canceled(a)
    assert h.ov.open_exposure("AMZN") == (0, 0)


def test_cancel_passes_under_the_kill_switch(h: Harness):
    a = approved(h.new())
    h.ov.engage_kill_switch("test", h.now)
    approved(h.cancel(a.request.cl_ord_id))


def test_cancel_passes_on_a_stale_book(h: Harness):
    a = approved(h.new())
    h.advance(30)
    approved(h.cancel(a.request.cl_ord_id))


def test_cancel_of_an_unknown_order_is_approved_and_logged(
    h: Harness, logs: list[dict[str, object]]
):
    approved(h.cancel("NEVER-SENT"))
    assert any(e["event"] == "risk_cancel_unknown_order" for e in logs)


def test_cancel_with_garbage_fields_is_still_approved(h: Harness):
    req = CancelRequest(None, ["x"], 5, "?", float("nan"))  # type: ignore[arg-type]
    assert isinstance(h.ov.check_cancel(req, h.now), Approved)


def test_cancel_reject_leaves_the_order_working(h: Harness):
    a = approved(h.new(qty=100))
    c = approved(h.cancel(a.request.cl_ord_id))
    h.cancel_reject(c.request.cl_ord_id, a.request.cl_ord_id, is_replace=False)
    assert h.ov.open_exposure("AMZN") == (100, 0)
    assert not h.ov.open_orders()[0].cancel_pending


@pytest.mark.parametrize(
    "thing",
    [
        NewOrderRequest("C1", "AMZN", Side.BUY, 1, 9_999),
        ReplaceRequest("R", "C", "AMZN", Side.BUY, 1, 1),
        None,
    ],
)
def test_check_cancel_refuses_anything_but_a_cancel_request(h: Harness, thing: object):
    with pytest.raises(TypeError, match="CancelRequest"):
        h.ov.check_cancel(thing, h.now)  # type: ignore[arg-type]

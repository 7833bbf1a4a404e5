"""Every pre-trade check on a new order, at its boundary: the last value that passes and
the first that is denied, with the reason code and the typed context it carries.

Reference market (see risk_harness): bid 9999 / ask 10001, collar [9900, 10100].
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from risk_harness import Harness, approved, denied, make_config

from core.requests import NewOrderRequest, ReplaceRequest
from core.types import OrdStatus, OrdType, Side, TimeInForce
from risk.reasons import BadField, BookState, CollarBreach, LimitBreach, SelfCross, StateBlock
from risk.reasons import DenyReason as R
from risk.trading_state import TradingState

# ------------------------------------------------------------- happy path


def test_new_limit_order_inside_every_limit_is_approved_and_counted_as_open_exposure(h: Harness):
    a = approved(h.new(qty=100, price=9_999))
    assert a.request.cl_ord_id == "C1"
    assert a.approved_ns == h.now
    assert h.ov.open_exposure("AMZN") == (100, 0)
    assert [o.cl_ord_id for o in h.ov.open_orders()] == ["C1"]


def test_new_market_order_with_enough_opposite_size_is_approved(h: Harness):
    approved(h.market(300, Side.SELL))
    assert h.ov.open_exposure("AMZN") == (0, 300)


# --------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cl_ord_id", ""),
        ("cl_ord_id", "A" * 65),
        ("cl_ord_id", "C\x011"),  # a SOH would corrupt the FIX message
        ("cl_ord_id", "Cé"),
        ("cl_ord_id", 17),
        ("cl_ord_id", None),
        ("side", 1),
        ("side", "BUY"),
        ("side", None),
        ("ord_type", "2"),
        ("tif", "0"),
        ("account", "ACC\x01"),
        ("ts_ns", -1),
        ("ts_ns", 1.7e18),
        ("ts_ns", 2**63),
        ("ts_ns", None),
        ("account", None),
        ("symbol", b"AMZN"),
        ("symbol", ["AMZN"]),
    ],
)
def test_new_order_with_a_malformed_field_is_denied_with_malformed_request(
    h: Harness, field: str, value: object
):
    kw: dict[str, object] = {field: value}
    d = denied(h.new(**kw))
    assert d.reason is R.MALFORMED_REQUEST
    assert isinstance(d.context, BadField)
    assert d.context.field == field


def test_cl_ord_id_of_64_printable_characters_is_accepted(h: Harness):
    approved(h.new(cl_ord_id="A" * 64))


@pytest.mark.parametrize("thing", [None, 42, {"qty": 1}, "order"])
def test_something_that_is_not_a_new_order_request_is_denied_not_raised(h: Harness, thing: object):
    d = denied(h.ov.check_new(thing, h.now))  # type: ignore[arg-type]
    assert d.reason is R.MALFORMED_REQUEST
    assert d.context == BadField("request", type(thing).__name__, "NewOrderRequest")


def test_a_replace_request_sent_as_a_new_order_is_denied(h: Harness):
    req = ReplaceRequest("R1", "C1", "AMZN", Side.BUY, 100, 9_999)
    assert denied(h.ov.check_new(req, h.now)).reason is R.MALFORMED_REQUEST  # type: ignore[arg-type]


def test_a_subclass_of_new_order_request_is_denied_because_it_could_lie_about_its_fields(
    h: Harness,
):
    class Sneaky(NewOrderRequest):
        __slots__ = ()

    req = Sneaky("C1", "AMZN", Side.BUY, 100, 9_999)
    assert denied(h.ov.check_new(req, h.now)).reason is R.MALFORMED_REQUEST


# -------------------------------------------------------- symbol allow-list


@pytest.mark.parametrize("symbol", ["MSFT", "amzn", "AMZN ", ""])
def test_new_order_in_a_symbol_not_on_the_allow_list_is_denied_with_symbol_not_allowed(
    h: Harness, symbol: str
):
    d = denied(h.new(symbol=symbol))
    assert d.reason is R.SYMBOL_NOT_ALLOWED
    assert d.context == BadField("symbol", symbol, "an allowed symbol")


def test_every_allowed_symbol_can_trade(h: Harness):
    for symbol in ("AMZN", "LOTS", "TINY"):
        approved(h.new(symbol=symbol, qty=100))


# ---------------------------------------------------------- quantity precision


@pytest.mark.parametrize("qty", [0, -1, -(10**18)])
def test_new_order_with_non_positive_qty_is_denied_with_invalid_quantity(h: Harness, qty: int):
    d = denied(h.new(qty=qty))
    assert d.reason is R.INVALID_QUANTITY
    assert isinstance(d.context, BadField)


@pytest.mark.parametrize(
    "qty", [100.0, float("nan"), float("inf"), Decimal(100), True, "100", None]
)
def test_new_order_with_a_qty_that_is_not_an_exact_int_is_denied_with_invalid_quantity(
    h: Harness, qty: object
):
    d = denied(h.new(qty=qty))
    assert d.reason is R.INVALID_QUANTITY
    assert d.context.field == "qty"  # type: ignore[union-attr]


def test_new_order_below_instrument_min_qty_is_denied_with_qty_below_min(h: Harness):
    d = denied(h.new(symbol="LOTS", qty=99))
    assert d.reason is R.QTY_BELOW_MIN
    assert d.context == LimitBreach("min_qty", 100, 99, "units")
    approved(h.new(symbol="LOTS", qty=100))


def test_new_order_off_the_lot_grid_is_denied_with_lot_size(h: Harness):
    d = denied(h.new(symbol="LOTS", qty=150))
    assert d.reason is R.LOT_SIZE
    assert d.context == LimitBreach("lot_size", 100, 150, "units")
    approved(h.new(symbol="LOTS", qty=200))


# --------------------------------------------------------------- max order qty


def test_new_order_at_max_qty_is_approved(h: Harness):
    approved(h.new(qty=1_000, price=10_000))


def test_new_order_above_max_qty_is_denied_with_max_order_qty(h: Harness):
    d = denied(h.new(qty=1_001, price=10_000))
    assert d.reason is R.MAX_ORDER_QTY
    assert d.context == LimitBreach("max_order_qty", 1_000, 1_001, "units")


def test_new_order_of_1e18_units_is_denied_with_max_order_qty(h: Harness):
    assert denied(h.new(qty=10**18)).reason is R.MAX_ORDER_QTY


def test_symbol_override_raises_max_qty_for_that_symbol_only(h: Harness):
    approved(h.new(symbol="LOTS", qty=1_500))
    assert denied(h.new(symbol="AMZN", qty=1_500)).reason is R.MAX_ORDER_QTY


def test_instrument_max_qty_tighter_than_the_risk_limit_wins(h: Harness):
    approved(h.new(symbol="TINY", qty=99, price=10_000))
    d = denied(h.new(symbol="TINY", qty=301))
    assert d.reason is R.MAX_ORDER_QTY
    assert d.context == LimitBreach("max_order_qty", 300, 301, "units")


# ------------------------------------------------------------------- price


@pytest.mark.parametrize("price", [0, -1, 9_999.0, float("nan"), float("inf"), None, "9999", True])
def test_limit_order_without_a_positive_int_price_is_denied_with_invalid_price(
    h: Harness, price: object
):
    d = denied(h.new(price=price))
    assert d.reason is R.INVALID_PRICE
    assert d.context.field == "price"  # type: ignore[union-attr]


def test_market_order_carrying_a_price_is_denied_with_invalid_price(h: Harness):
    d = denied(h.new(price=10_001, ord_type=OrdType.MARKET))
    assert d.reason is R.INVALID_PRICE


# ------------------------------------------------------------- price collar


def test_limit_price_at_either_edge_of_the_collar_is_approved(h: Harness):
    approved(h.new(price=10_100, qty=1, side=Side.BUY))
    approved(h.new(price=9_900, qty=100, side=Side.SELL, symbol="LOTS"))


def test_limit_price_one_tick_above_the_collar_is_denied_with_price_collar(h: Harness):
    d = denied(h.new(price=10_101))
    assert d.reason is R.PRICE_COLLAR
    assert d.context == CollarBreach(10_101, Decimal(10_000), 100, 9_900, 10_100)


def test_limit_price_one_tick_below_the_collar_is_denied_with_price_collar(h: Harness):
    d = denied(h.new(price=9_899, side=Side.SELL))
    assert d.reason is R.PRICE_COLLAR


def test_limit_price_of_1e18_ticks_is_denied_with_price_collar(h: Harness):
    assert denied(h.new(price=10**18)).reason is R.PRICE_COLLAR


def test_collar_follows_the_latest_book(h: Harness):
    h.book("AMZN", bids=((19_999, 10),), asks=((20_001, 10),))
    approved(h.new(price=20_200, qty=1))
    assert denied(h.new(price=10_000, qty=1)).reason is R.PRICE_COLLAR


def test_collar_around_a_half_tick_mid_is_exact(h: Harness):
    # bid 9999 / ask 10000: mid 9999.5, band 1% = 99.995 -> [9899.505, 10099.495]
    h.book("AMZN", bids=((9_999, 10),), asks=((10_000, 10),))
    buy = approved(h.new(price=10_099, qty=1))
    assert denied(h.new(price=10_100, qty=1)).reason is R.PRICE_COLLAR
    h.canceled(buy)  # else the sells below would cross it
    approved(h.new(price=9_900, qty=1, side=Side.SELL))
    assert denied(h.new(price=9_899, qty=1, side=Side.SELL)).reason is R.PRICE_COLLAR


# -------------------------------------------------- market orders and liquidity


def test_market_order_for_exactly_the_opposite_size_inside_the_collar_is_approved(h: Harness):
    h.book("AMZN", asks=((10_001, 100), (10_002, 50), (10_200, 1_000)))
    approved(h.market(150, Side.BUY))


def test_market_order_larger_than_the_opposite_size_inside_the_collar_is_denied(h: Harness):
    h.book("AMZN", asks=((10_001, 100), (10_002, 50), (10_200, 1_000)))
    d = denied(h.market(151, Side.BUY))
    assert d.reason is R.INSUFFICIENT_LIQUIDITY
    assert d.context == LimitBreach("opposite_size_within_collar", 150, 151, "units")


def test_market_sell_looks_at_the_bid_side(h: Harness):
    h.book("AMZN", bids=((9_999, 40), (9_800, 1_000)))
    approved(h.market(40, Side.SELL))
    assert denied(h.market(41, Side.SELL)).reason is R.INSUFFICIENT_LIQUIDITY


# ------------------------------------------------------------ order notional


def test_new_order_at_max_notional_is_approved(h: Harness):
    approved(h.new(symbol="TINY", qty=100, price=10_000))  # 100 x 100.00 = 10,000


def test_new_order_above_max_notional_is_denied_with_max_order_notional(h: Harness):
    d = denied(h.new(symbol="TINY", qty=100, price=10_001))
    assert d.reason is R.MAX_ORDER_NOTIONAL
    assert d.context == LimitBreach(
        "max_order_notional", Decimal(10_000), Decimal("10001.00"), "USD"
    )


def test_market_order_notional_is_priced_at_the_far_edge_of_the_collar(h: Harness):
    approved(h.market(99, Side.BUY, symbol="TINY"))  # 99 x 101.00 = 9,999
    assert denied(h.market(100, Side.BUY, symbol="TINY")).reason is R.MAX_ORDER_NOTIONAL


def test_notional_uses_the_instrument_tick_size(h: Harness):
    # LOTS: tick 0.05, cap 1,000,000 -> 20,000,000 tick-units; 2,000 x 10,000 ticks fits
    approved(h.new(symbol="LOTS", qty=2_000, price=10_000))
    assert denied(h.new(symbol="LOTS", qty=2_100, price=10_000)).reason is R.MAX_ORDER_NOTIONAL


# ------------------------------------------------------------ stale market data


def test_book_exactly_stale_after_old_is_still_fresh(h: Harness):
    h.advance(2.0)
    approved(h.new())


def test_new_order_when_book_is_older_than_stale_after_is_denied_with_stale_market_data(
    h: Harness,
):
    h.clock.advance_to(h.now + 2_000_000_001)
    d = denied(h.new())
    assert d.reason is R.STALE_MARKET_DATA
    assert d.context == LimitBreach("stale_after", 2_000_000_000, 2_000_000_001, "ns")


def test_a_fresh_book_update_lifts_the_stale_denial(h: Harness):
    h.advance(5)
    denied(h.new())
    h.refresh("AMZN")
    approved(h.new())


def test_new_order_before_any_book_is_denied_with_stale_market_data(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", with_books=False)
    d = denied(h.new())
    assert d.reason is R.STALE_MARKET_DATA
    assert d.context.value == -1  # type: ignore[union-attr]


def test_new_order_on_a_one_sided_book_is_denied_with_no_reference_price(h: Harness):
    h.book("AMZN", asks=())
    d = denied(h.new())
    assert d.reason is R.NO_REFERENCE_PRICE
    assert d.context == BookState(9_999, None)


# --------------------------------------------------------- self-cross


def test_buy_at_or_above_our_own_resting_sell_is_denied_with_self_cross(h: Harness):
    approved(h.new(side=Side.SELL, price=10_001))
    d = denied(h.new(side=Side.BUY, price=10_001))
    assert d.reason is R.SELF_CROSS
    assert d.context == SelfCross(10_001, 10_001)
    approved(h.new(side=Side.BUY, price=10_000))


def test_sell_at_or_below_our_own_resting_buy_is_denied_with_self_cross(h: Harness):
    approved(h.new(side=Side.BUY, price=9_999))
    assert denied(h.new(side=Side.SELL, price=9_999)).reason is R.SELF_CROSS
    approved(h.new(side=Side.SELL, price=10_000))


def test_market_order_against_any_resting_order_of_ours_is_denied_with_self_cross(h: Harness):
    approved(h.new(side=Side.SELL, price=10_050))
    d = denied(h.market(10, Side.BUY))
    assert d.reason is R.SELF_CROSS
    assert d.context == SelfCross(None, 10_050)


def test_self_cross_guard_lifts_when_the_resting_order_is_canceled(h: Harness):
    sell = approved(h.new(side=Side.SELL, price=10_001))
    h.canceled(sell)
    approved(h.new(side=Side.BUY, price=10_001))


def test_self_cross_uses_the_nearest_of_several_resting_orders(h: Harness):
    approved(h.new(side=Side.SELL, price=10_050))
    inner = approved(h.new(side=Side.SELL, price=10_010))
    assert denied(h.new(side=Side.BUY, price=10_020)).reason is R.SELF_CROSS
    h.canceled(inner)
    approved(h.new(side=Side.BUY, price=10_020))


def test_self_cross_is_per_symbol(h: Harness):
    approved(h.new(side=Side.SELL, price=10_001, symbol="LOTS", qty=100))
    approved(h.new(side=Side.BUY, price=10_001, symbol="AMZN"))


# -------------------------------------------------- max position (worst case)


def test_buys_up_to_max_position_counting_open_orders_are_approved(h: Harness):
    for _ in range(3):
        approved(h.new(qty=500, price=9_950))
    approved(h.new(qty=500, price=9_950))  # open buys 2,000 == max_position


def test_buy_past_max_position_counting_open_orders_is_denied_with_max_position(h: Harness):
    for _ in range(4):
        approved(h.new(qty=500, price=9_950))
    d = denied(h.new(qty=1, price=9_950))
    assert d.reason is R.MAX_POSITION
    assert d.context == LimitBreach("max_position", 2_000, 2_001, "units")


def test_filled_position_plus_open_buys_count_toward_max_position(h: Harness):
    first = approved(h.new(qty=1_000, price=10_000))
    h.fill(first, 1_000, 10_000, status=OrdStatus.FILLED)
    approved(h.new(qty=800, price=9_950))
    approved(h.new(qty=200, price=9_950))
    assert denied(h.new(qty=1, price=9_950)).reason is R.MAX_POSITION


def test_sell_past_max_short_position_is_denied_with_max_position(h: Harness):
    for _ in range(4):
        approved(h.new(qty=500, side=Side.SELL, price=10_050))
    d = denied(h.new(qty=1, side=Side.SELL, price=10_050))
    assert d.reason is R.MAX_POSITION
    assert d.context == LimitBreach("max_position", 2_000, -2_001, "units")


def test_open_sells_do_not_offset_open_buys_in_the_worst_case(h: Harness):
    for _ in range(4):
        approved(h.new(qty=500, price=9_950))
    approved(h.new(qty=500, side=Side.SELL, price=10_050))
    # if every buy fills and no sell does, we would be long 2,000 + 1
    assert denied(h.new(qty=1, price=9_950)).reason is R.MAX_POSITION


def test_sell_that_reduces_a_long_position_beyond_the_limit_is_approved(h: Harness):
    # a position beyond the limit (adopted at recovery) can always be reduced
    h.ov.adopt_position("AMZN", 2_500, 10_000, h.now)
    approved(h.new(qty=500, side=Side.SELL, price=10_050))
    assert denied(h.new(qty=1, price=9_950)).reason is R.MAX_POSITION


# ------------------------------------------------------------- max open orders


def test_open_orders_per_symbol_up_to_the_limit_are_approved_then_denied(h: Harness):
    for _ in range(5):
        approved(h.new(qty=1))
    d = denied(h.new(qty=1))
    assert d.reason is R.MAX_OPEN_ORDERS
    assert d.context == LimitBreach("max_open_orders_per_symbol", 5, 6, "orders")


def test_open_orders_per_node_limit_spans_symbols(h: Harness):
    for _ in range(5):
        approved(h.new(qty=1, symbol="AMZN"))
    for _ in range(5):
        approved(h.new(qty=100, symbol="LOTS"))
    d = denied(h.new(qty=1, symbol="TINY"))
    assert d.reason is R.MAX_OPEN_ORDERS
    assert d.context == LimitBreach("max_open_orders", 10, 11, "orders")


def test_a_done_order_frees_its_open_order_slot(h: Harness):
    orders = [approved(h.new(qty=1)) for _ in range(5)]
    h.fill(orders[0], 1, 9_999, status=OrdStatus.FILLED)
    approved(h.new(qty=1))


# ---------------------------------------------------------- participation cap


def _fresh_window(h: Harness, market_qty: int) -> None:
    h.advance(61)  # the start-up volume leaves the 60 s window
    h.refresh("AMZN")
    h.trade("AMZN", market_qty)


def test_orders_up_to_the_participation_cap_are_approved(h: Harness):
    _fresh_window(h, 1_000)
    approved(h.new(qty=250))  # 25% of 1,000


def test_order_past_the_participation_cap_is_denied_with_participation_cap(h: Harness):
    _fresh_window(h, 1_000)
    approved(h.new(qty=200))
    d = denied(h.new(qty=51))
    assert d.reason is R.PARTICIPATION_CAP
    assert d.context == LimitBreach("participation_bps", 2_500, 2_510, "bps of market volume")


def test_our_fills_in_the_window_count_toward_participation(h: Harness):
    _fresh_window(h, 1_000)
    a = approved(h.new(qty=250))
    h.fill(a, 250, 9_999, status=OrdStatus.FILLED)
    assert denied(h.new(qty=1)).reason is R.PARTICIPATION_CAP


def test_participation_window_rolls_forward(h: Harness):
    _fresh_window(h, 1_000)
    a = approved(h.new(qty=250))
    h.fill(a, 250, 9_999, status=OrdStatus.FILLED)
    h.advance(60)
    h.refresh("AMZN")
    h.trade("AMZN", 1_000)
    approved(h.new(qty=250))


def test_no_market_volume_in_the_window_means_no_participation(h: Harness):
    h.advance(61)
    h.refresh("AMZN")
    d = denied(h.new(qty=1))
    assert d.reason is R.PARTICIPATION_CAP
    assert d.context.value == -1  # type: ignore[union-attr]


# ------------------------------------------------------- order and cancel rate

_RATES = make_config(
    orders_per_second=5, orders_per_minute=50, max_open_orders=100, max_open_orders_per_symbol=50
)


def test_orders_up_to_the_per_second_rate_pass_and_the_next_is_denied_not_queued(
    tmp_path: Path,
):
    h = Harness(tmp_path / "ks.json", _RATES)
    for _ in range(5):
        approved(h.new(qty=1, price=9_990))
    d = denied(h.new(qty=1, price=9_990))
    assert d.reason is R.ORDER_RATE
    assert d.context == LimitBreach("orders_per_second", 5, 6, "messages")
    assert len(h.ov.open_orders()) == 5  # denied, not queued


def test_order_rate_refills_continuously(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", _RATES)
    for _ in range(5):
        approved(h.new(qty=1, price=9_990))
    h.clock.advance_to(h.now + 199_999_999)
    assert denied(h.new(qty=1, price=9_990)).reason is R.ORDER_RATE
    h.clock.advance_to(h.now + 1)  # 0.2 s: one token back
    approved(h.new(qty=1, price=9_990))


def test_orders_per_minute_caps_a_steady_stream_that_each_second_allows(tmp_path: Path):
    h = Harness(
        tmp_path / "ks.json",
        make_config(
            orders_per_second=5,
            orders_per_minute=6,
            max_open_orders_per_symbol=50,
            max_open_orders=100,
        ),
    )
    for _ in range(5):
        approved(h.new(qty=1, price=9_990))
    h.advance(1)
    h.refresh()
    approved(h.new(qty=1, price=9_990))
    d = denied(h.new(qty=1, price=9_990))
    assert d.reason is R.ORDER_RATE
    assert d.context.limit_name == "orders_per_minute"  # type: ignore[union-attr]


def test_denied_orders_do_not_spend_rate_tokens(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", _RATES)
    for _ in range(20):
        denied(h.new(price=20_000))  # outside the collar
    for _ in range(5):
        approved(h.new(qty=1, price=9_990))


def test_cancels_past_the_cancel_rate_are_still_approved(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", make_config(cancels_per_second=10, cancels_per_minute=100))
    orders = [approved(h.new(qty=1)) for _ in range(3)]
    for _ in range(30):
        approved(h.cancel(orders[0].request.cl_ord_id))


def test_new_orders_are_denied_with_cancel_rate_while_cancels_churn(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", make_config(cancels_per_second=10, cancels_per_minute=100))
    for i in range(10):
        approved(h.cancel(f"GONE{i}"))
    d = denied(h.new(qty=1))
    assert d.reason is R.CANCEL_RATE
    assert d.context.limit_name == "cancels_per_second"  # type: ignore[union-attr]
    h.advance(0.1)
    h.refresh()
    approved(h.new(qty=1))


def test_cancel_debt_is_bounded_so_a_mass_cancel_does_not_block_trading_for_long(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", make_config(cancels_per_second=10, cancels_per_minute=100))
    for i in range(1_000):
        h.cancel(f"GONE{i}")
    h.advance(60 * 2)  # the minute bucket is at most one window in debt
    h.refresh()
    h.trade("AMZN", 1_000)
    approved(h.new(qty=1))


# -------------------------------------------------------------- duplicate ClOrdID


def test_new_order_reusing_an_approved_cl_ord_id_is_denied_with_duplicate_cl_ord_id(h: Harness):
    approved(h.new(cl_ord_id="DUP1"))
    d = denied(h.new(cl_ord_id="DUP1"))
    assert d.reason is R.DUPLICATE_CL_ORD_ID
    assert d.context.order_id == "DUP1"  # type: ignore[union-attr]


def test_cl_ord_id_stays_used_after_the_order_is_done(h: Harness):
    a = approved(h.new(cl_ord_id="DUP2"))
    h.canceled(a)
    assert denied(h.new(cl_ord_id="DUP2")).reason is R.DUPLICATE_CL_ORD_ID


def test_cl_ord_id_of_a_denied_order_may_be_used_again(h: Harness):
    denied(h.new(cl_ord_id="RETRY", price=20_000))
    approved(h.new(cl_ord_id="RETRY"))


def test_cl_ord_id_used_by_a_cancel_cannot_name_a_new_order(h: Harness):
    a = approved(h.new())
    c = approved(h.cancel(a.request.cl_ord_id))
    assert denied(h.new(cl_ord_id=c.request.cl_ord_id)).reason is R.DUPLICATE_CL_ORD_ID


# ---------------------------------------------------- market closed / halted


def test_new_order_while_the_market_is_closed_is_denied_with_market_closed(h: Harness):
    h.ov.set_market_open(False, h.now)
    d = denied(h.new())
    assert d.reason is R.MARKET_CLOSED
    assert d.context == StateBlock("market", "closed", "venue session not open")


def test_the_overlay_starts_with_the_market_closed(tmp_path: Path):
    h = Harness(tmp_path / "ks.json", open_market=False)
    assert denied(h.new()).reason is R.MARKET_CLOSED
    h.ov.set_market_open(True, h.now)
    approved(h.new())


def test_new_order_in_a_symbol_the_venue_halted_is_denied_with_symbol_halted(h: Harness):
    h.ov.set_symbol_halted("AMZN", True, h.now)
    assert denied(h.new()).reason is R.SYMBOL_HALTED
    approved(h.new(symbol="LOTS", qty=100))
    h.ov.set_symbol_halted("AMZN", False, h.now)
    approved(h.new())


def test_cancel_passes_while_the_market_is_closed(h: Harness):
    a = approved(h.new())
    h.ov.set_market_open(False, h.now)
    approved(h.cancel(a.request.cl_ord_id))


# -------------------------------------------------------------- trading state


def test_node_halted_denies_new_orders_with_trading_halted(h: Harness):
    h.ov.set_trading_state(TradingState.HALTED, now_ns=h.now, source="test")
    d = denied(h.new())
    assert d.reason is R.TRADING_HALTED
    assert d.context == StateBlock("node", "halted", "node trading state")


def test_symbol_halted_denies_only_that_symbol(h: Harness):
    h.ov.set_trading_state(TradingState.HALTED, now_ns=h.now, source="test", symbol="AMZN")
    d = denied(h.new())
    assert d.context == StateBlock("symbol", "halted", "symbol trading state")
    approved(h.new(symbol="LOTS", qty=100))


def test_cancel_passes_while_halted(h: Harness):
    a = approved(h.new())
    h.ov.set_trading_state(TradingState.HALTED, now_ns=h.now, source="test")
    approved(h.cancel(a.request.cl_ord_id))


def test_reducing_with_a_flat_position_denies_every_new_order_with_reduce_only(h: Harness):
    h.ov.set_trading_state(TradingState.REDUCING, now_ns=h.now, source="test")
    for side in (Side.BUY, Side.SELL):
        d = denied(h.new(side=side, price=10_000))
        assert d.reason is R.REDUCE_ONLY
        assert d.context == StateBlock(
            "node", "reducing", "only orders that reduce the position pass"
        )


def test_reducing_lets_a_sell_reduce_a_long_position_down_to_flat_and_no_further(h: Harness):
    a = approved(h.new(qty=300, price=10_000))
    h.fill(a, 300, 10_000, status=OrdStatus.FILLED)
    h.ov.set_trading_state(TradingState.REDUCING, now_ns=h.now, source="test", symbol="AMZN")
    approved(h.new(qty=200, side=Side.SELL, price=10_000))
    assert denied(h.new(qty=101, side=Side.SELL, price=10_000)).reason is R.REDUCE_ONLY
    approved(h.new(qty=100, side=Side.SELL, price=10_000))
    assert denied(h.new(qty=1, side=Side.BUY, price=9_990)).reason is R.REDUCE_ONLY


def test_reducing_lets_a_buy_cover_a_short_position(h: Harness):
    a = approved(h.new(qty=300, side=Side.SELL, price=10_000))
    h.fill(a, 300, 10_000, status=OrdStatus.FILLED)
    h.ov.set_trading_state(TradingState.REDUCING, now_ns=h.now, source="test")
    approved(h.new(qty=300, side=Side.BUY, price=9_999))
    assert denied(h.new(qty=1, side=Side.BUY, price=9_999)).reason is R.REDUCE_ONLY


# ------------------------------------------------------------- time in force


@pytest.mark.parametrize("tif", list(TimeInForce))
def test_every_time_in_force_is_accepted(h: Harness, tif: TimeInForce):
    approved(h.new(tif=tif))

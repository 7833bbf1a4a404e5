"""The overlay's own view of position, open exposure and P&L, rebuilt from venue reports."""

from __future__ import annotations

from decimal import Decimal

from risk_harness import Harness, approved

from core.types import ExecType, OrdStatus, OrdType, Side
from risk.events import KillCause, KillSwitchEngaged

# ------------------------------------------------------------------- fills


def test_partial_fill_moves_quantity_from_open_exposure_into_position(h: Harness):
    a = approved(h.new(qty=500, price=10_000))
    h.fill(a, 200, 10_000)
    assert h.ov.position("AMZN") == 200
    assert h.ov.open_exposure("AMZN") == (300, 0)


def test_full_fill_closes_the_order(h: Harness):
    a = approved(h.new(qty=500, price=10_000))
    h.fill(a, 200, 10_000)
    h.fill(a, 300, 10_000, status=OrdStatus.FILLED)
    assert h.ov.position("AMZN") == 500
    assert h.ov.open_exposure("AMZN") == (0, 0)
    assert h.ov.open_orders() == ()


def test_sell_fills_reduce_the_position(h: Harness):
    a = approved(h.new(qty=300, side=Side.SELL, price=10_000))
    h.fill(a, 300, 10_000, status=OrdStatus.FILLED)
    assert h.ov.position("AMZN") == -300


def test_a_repeated_exec_id_is_applied_once(h: Harness):
    a = approved(h.new(qty=500, price=10_000))
    o = a.request
    for _ in range(3):
        h.report(
            o.cl_ord_id,
            ExecType.TRADE,
            OrdStatus.PARTIALLY_FILLED,
            last_qty=100,
            last_px=10_000,
            exec_id="SAME",
        )
    assert h.ov.position("AMZN") == 100
    assert h.ov.open_exposure("AMZN") == (400, 0)


def test_fill_under_the_new_cl_ord_id_of_a_pending_replace_is_booked(h: Harness):
    a = approved(h.new(qty=500, price=9_999))
    r = approved(h.replace(a, 600, 9_999))
    h.report(
        r.request.cl_ord_id,
        ExecType.TRADE,
        OrdStatus.PARTIALLY_FILLED,
        last_qty=100,
        last_px=9_999,
    )
    assert h.ov.position("AMZN") == 100
    assert h.ov.open_exposure("AMZN") == (500, 0)  # max(500 - 100, 600 - 100)


def test_fills_racing_a_shrinking_replace_leave_no_negative_remainder(h: Harness):
    a = approved(h.new(qty=500, price=9_999))
    r = approved(h.replace(a, 200, 9_999))
    h.fill(a, 300, 9_999)
    h.report(r.request.cl_ord_id, ExecType.REPLACED, OrdStatus.FILLED, orig=a.request.cl_ord_id)
    assert h.ov.open_exposure("AMZN") == (0, 0)
    assert h.ov.open_orders() == ()


def test_fill_for_an_order_risk_never_approved_still_moves_the_position(
    h: Harness, logs: list[dict[str, object]]
):
    h.report("FOREIGN", ExecType.TRADE, OrdStatus.FILLED, last_qty=50, last_px=10_000)
    assert h.ov.position("AMZN") == 50
    assert any(e["event"] == "risk_fill_for_unknown_order" for e in logs)


def test_fill_in_a_symbol_outside_the_allow_list_engages_the_kill_switch(h: Harness):
    event = h.report(
        "FOREIGN", ExecType.TRADE, OrdStatus.FILLED, symbol="MSFT", last_qty=50, last_px=10_000
    )
    assert isinstance(event, KillSwitchEngaged)
    assert event.cause is KillCause.UNEXPECTED_FILL


def test_malformed_fill_is_ignored_and_logged(h: Harness, logs: list[dict[str, object]]):
    a = approved(h.new(qty=500, price=10_000))
    h.fill(a, 0, 10_000)
    h.fill(a, 10, 0)
    assert h.ov.position("AMZN") == 0
    assert sum(e["event"] == "risk_bad_fill" for e in logs) == 2


def test_overfill_is_booked_and_logged(h: Harness, logs: list[dict[str, object]]):
    a = approved(h.new(qty=100, price=10_000))
    h.fill(a, 150, 10_000, status=OrdStatus.FILLED)
    assert h.ov.position("AMZN") == 150
    assert h.ov.open_exposure("AMZN") == (0, 0)
    assert any(e["event"] == "risk_overfill" for e in logs)


# --------------------------------------------------- orders that end otherwise


def test_venue_reject_releases_the_exposure(h: Harness):
    a = approved(h.new(qty=500))
    h.rejected(a.request.cl_ord_id)
    assert h.ov.open_exposure("AMZN") == (0, 0)
    assert h.ov.open_orders() == ()


def test_expired_order_releases_the_exposure(h: Harness):
    a = approved(h.new(qty=500))
    h.report(a.request.cl_ord_id, ExecType.EXPIRED, OrdStatus.EXPIRED)
    assert h.ov.open_exposure("AMZN") == (0, 0)


def test_ioc_remainder_canceled_by_the_venue_releases_the_exposure(h: Harness):
    a = approved(h.new(qty=500))
    h.fill(a, 100, 9_999)
    h.report(a.request.cl_ord_id, ExecType.CANCELED, OrdStatus.CANCELED)
    assert h.ov.open_exposure("AMZN") == (0, 0)
    assert h.ov.position("AMZN") == 100


def test_status_report_with_a_terminal_state_closes_the_order(h: Harness):
    a = approved(h.new(qty=500))
    h.report(a.request.cl_ord_id, ExecType.ORDER_STATUS, OrdStatus.CANCELED)
    assert h.ov.open_orders() == ()


def test_status_report_showing_more_filled_than_we_booked_is_logged(
    h: Harness, logs: list[dict[str, object]]
):
    from core.events import ExecReport

    a = approved(h.new(qty=500))
    h.ov.on_exec_report(
        ExecReport(
            a.request.cl_ord_id,
            "S1",
            ExecType.ORDER_STATUS,
            OrdStatus.PARTIALLY_FILLED,
            "AMZN",
            Side.BUY,
            500,
            200,
            300,
            h.now,
        )
    )
    assert any(e["event"] == "risk_status_shows_unbooked_fills" for e in logs)


def test_ack_changes_nothing(h: Harness):
    a = approved(h.new(qty=500))
    h.report(a.request.cl_ord_id, ExecType.NEW, OrdStatus.NEW)
    assert h.ov.open_exposure("AMZN") == (500, 0)


def test_unsolicited_replace_takes_the_venue_terms(h: Harness, logs: list[dict[str, object]]):
    a = approved(h.new(qty=500, price=9_999))
    h.report(
        "VENUE-R",
        ExecType.REPLACED,
        OrdStatus.NEW,
        orig=a.request.cl_ord_id,
        order_qty=700,
        price=9_990,
    )
    [live] = h.ov.open_orders()
    assert (live.cl_ord_id, live.qty, live.price) == ("VENUE-R", 700, 9_990)
    assert h.ov.open_exposure("AMZN") == (700, 0)
    assert any(e["event"] == "risk_unsolicited_replace" for e in logs)


# ---------------------------------------------------------------- recovery


def test_adopted_open_order_counts_toward_exposure_and_can_be_canceled(h: Harness):
    h.ov.adopt_open_order("OLD1", "AMZN", Side.SELL, 400, 10_050, cum_qty=100)
    assert h.ov.open_exposure("AMZN") == (0, 300)
    [o] = h.ov.open_orders()
    assert (o.cl_ord_id, o.leaves_qty, o.ord_type) == ("OLD1", 300, OrdType.LIMIT)


def test_adopted_position_counts_toward_the_position_limit_and_pnl(h: Harness):
    h.ov.adopt_position("AMZN", 100, 10_000, h.now)
    assert h.ov.position("AMZN") == 100
    assert h.ov.daily_pnl() == 0  # the day starts from the adopted state


# --------------------------------------------------------------------- P&L


def test_pnl_marks_a_long_position_at_the_bid(h: Harness):
    a = approved(h.new(qty=100, price=10_000))
    h.fill(a, 100, 10_000, status=OrdStatus.FILLED)
    assert h.ov.daily_pnl() == Decimal("-1.00")  # 100 x (99.99 - 100.00)
    h.book("AMZN", bids=((10_100, 10),), asks=((10_102, 10),))
    assert h.ov.daily_pnl() == Decimal("100.00")


def test_pnl_marks_a_short_position_at_the_ask(h: Harness):
    a = approved(h.new(qty=100, side=Side.SELL, price=10_000))
    h.fill(a, 100, 10_000, status=OrdStatus.FILLED)
    assert h.ov.daily_pnl() == Decimal("-1.00")  # 100 x (100.00 - 100.01)


def test_realized_pnl_of_a_round_trip(h: Harness):
    a = approved(h.new(qty=100, price=10_000))
    h.fill(a, 100, 10_000, status=OrdStatus.FILLED)
    b = approved(h.new(qty=100, side=Side.SELL, price=10_001))
    h.fill(b, 100, 10_001, status=OrdStatus.FILLED)
    assert h.ov.daily_pnl() == Decimal("1.00")


def test_pnl_sums_symbols_with_their_own_tick_size(h: Harness):
    a = approved(h.new(qty=100, price=10_000, symbol="LOTS"))
    h.fill(a, 100, 10_000, status=OrdStatus.FILLED)
    # LOTS tick is 0.05: 100 x (9,999 - 10,000) ticks x 0.05 = -5.00
    assert h.ov.daily_pnl() == Decimal("-5.00")


def test_snapshot_reports_the_overlay_state_as_plain_values(h: Harness):
    import orjson

    approved(h.new(qty=100))
    snap = h.ov.snapshot()
    assert snap["symbols"]["AMZN"]["open_buy"] == 100
    assert snap["kill_switch"]["engaged"] is False
    orjson.dumps(snap)

"""Parent orders: progress, average price and implementation shortfall against arrival."""

from __future__ import annotations

import pytest

from core.errors import IllegalTransition, OverfillError
from core.fills import Fill
from core.parent import ParentOrder, ParentState
from core.types import Side


def parent(side: Side = Side.BUY, qty: int = 1000) -> ParentOrder:
    p = ParentOrder("P1", "AMZN", side, qty, start_ns=0, end_ns=1_000)
    p.start(arrival_mid=10_000.0)
    return p


def f(i: int, qty: int, price: int, side: Side = Side.BUY) -> Fill:
    return Fill(f"E{i}", f"C{i}", "AMZN", side, qty, price, i)


def test_buy_paying_above_arrival_is_a_positive_cost() -> None:
    p = parent()
    p.apply_fill(f(1, 500, 10_010))
    p.apply_fill(f(2, 500, 10_000))
    assert p.state is ParentState.COMPLETED
    assert p.avg_px == pytest.approx(10_005)
    assert p.shortfall_bps() == pytest.approx(5 / 10_000 * 1e4)


def test_sell_below_arrival_is_a_positive_cost() -> None:
    p = parent(Side.SELL)
    p.apply_fill(f(1, 1000, 9_990, Side.SELL))
    assert p.shortfall_bps() == pytest.approx(10.0)


def test_unfilled_remainder_is_charged_at_the_mark() -> None:
    p = parent()
    p.apply_fill(f(1, 500, 10_000))
    assert p.shortfall_bps() == 0.0
    # the other half is marked 20 ticks higher: half the parent cost 20 ticks = 10 bps
    assert p.shortfall_bps(mark=10_020.0) == pytest.approx(10.0)


def test_overfill_of_parent_is_refused() -> None:
    p = parent(qty=100)
    p.apply_fill(f(1, 100, 10_000))
    with pytest.raises(OverfillError):
        p.apply_fill(f(2, 1, 10_000))


def test_fills_after_cancel_still_count() -> None:
    p = parent()
    p.transition(ParentState.CANCELED, "trader")
    p.apply_fill(f(1, 10, 10_000))
    assert p.filled_qty == 10
    assert p.state is ParentState.CANCELED


def test_terminal_parent_cannot_resume() -> None:
    p = parent()
    p.transition(ParentState.CANCELED)
    with pytest.raises(IllegalTransition, match="from canceled to working"):
        p.transition(ParentState.WORKING)


def test_bad_parent_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="quantity must be > 0"):
        ParentOrder("P", "AMZN", Side.BUY, 0, 0, 10)
    with pytest.raises(ValueError, match="must be after start"):
        ParentOrder("P", "AMZN", Side.BUY, 10, 10, 10)


def test_time_fraction_is_clamped() -> None:
    p = parent()
    assert p.time_fraction_elapsed(-5) == 0.0
    assert p.time_fraction_elapsed(500) == 0.5
    assert p.time_fraction_elapsed(5_000) == 1.0

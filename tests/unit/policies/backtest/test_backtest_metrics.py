"""The cost definitions on hand-made fills: shortfall and its spread / impact / timing
split, the charged remainder, sweep share, participation and the inventory path.

Prices are ticks, arrival mid 1000, parent 100: one tick on the whole parent is 10 bps,
so 1 tick x 1 share = 0.1 bp.
"""

from __future__ import annotations

import pytest

from core.types import Side
from policies.backtest.metrics import (
    BookSample,
    CostSplit,
    Print,
    inventory_path,
    participation,
    reference_index,
    split_shortfall,
    sweep_share,
)

ARRIVAL = 1000.0
QTY = 100


def split(
    fills: list[Print],
    samples: list[BookSample],
    without_us: dict[int, float],
    is_bps: float,
    side: Side = Side.BUY,
) -> CostSplit:
    """``without_us``: the mid without our orders at each sample time (only those are
    ever asked for)."""
    return split_shortfall(
        side,
        QTY,
        ARRIVAL,
        fills,
        samples=samples,
        counterfactual_mid=lambda ts: without_us[ts],
        is_bps=is_bps,
    )


def test_buy_fills_split_into_spread_impact_and_timing_by_hand() -> None:
    # 60 @ 1002 after the book seen at t=5 (mid 1001; without us 1000.5),
    # 40 @ 999 after the book seen at t=15 (mid 999.5; without us 999.0)
    fills = [Print(10, 60, 1002), Print(20, 40, 999)]
    samples = [BookSample(0, 1000.0), BookSample(5, 1001.0), BookSample(15, 999.5)]
    m0 = {0: 1000.0, 5: 1000.5, 15: 999.0}
    # shortfall: (2 x 60 - 1 x 40) ticks x shares = 80 -> 8 bps
    cost = split(fills, samples, m0, 8.0)
    assert cost.spread_bps == pytest.approx(0.1 * (1 * 60 - 0.5 * 40))  # 4.0
    assert cost.impact_bps == pytest.approx(0.1 * (0.5 * 60 + 0.5 * 40))  # 5.0
    assert cost.timing_bps == pytest.approx(0.1 * (0.5 * 60 - 1.0 * 40))  # -1.0
    assert cost.spread_bps + cost.impact_bps + cost.timing_bps == pytest.approx(8.0)


def test_a_sell_flips_every_sign() -> None:
    fills = [Print(10, 100, 998)]  # sold 2 ticks under arrival: a cost
    samples = [BookSample(5, 999.0)]  # we had pushed the mid down a tick ...
    m0 = {5: 999.5}  # ... of a market that fell half a tick by itself
    cost = split(fills, samples, m0, 20.0, Side.SELL)
    assert cost.spread_bps == pytest.approx(10.0)  # sold 1 tick under the mid
    assert cost.impact_bps == pytest.approx(5.0)  # our half tick of impact
    assert cost.timing_bps == pytest.approx(5.0)  # the market's own half tick


def test_passive_fills_earn_the_spread_as_a_negative_cost() -> None:
    fills = [Print(10, 100, 999)]  # bought at our bid, one tick under the mid
    samples = [BookSample(5, 1000.0)]
    cost = split(fills, samples, {5: 1000.0}, -10.0)
    assert cost.spread_bps == pytest.approx(-10.0)
    assert cost.impact_bps == 0 and cost.timing_bps == 0


def test_a_fill_at_a_samples_own_time_refers_to_the_sample_before() -> None:
    # a sample is taken when the clock is moved on: a fill stamped at that instant
    # happened in the stretch before, on the book seen at its start
    assert reference_index([0, 5, 10], 10) == 1
    assert reference_index([0, 5, 10], 11) == 2
    assert reference_index([0, 5, 10], 0) == 0


def test_a_one_sided_book_carries_the_last_mid_forward() -> None:
    fills = [Print(12, 100, 1003)]
    samples = [BookSample(5, 1002.0), BookSample(10, None)]
    cost = split(fills, samples, {10: 1001.0}, 30.0)
    assert cost.spread_bps == pytest.approx(10.0)  # 1003 - 1002
    assert cost.impact_bps == pytest.approx(10.0)  # 1002 - 1001
    assert cost.timing_bps == pytest.approx(10.0)  # 1001 - 1000


def test_the_charged_remainder_is_split_at_the_last_book() -> None:
    # 60 filled at 1001; 40 never absorbed, charged by the environment at 1005 each
    fills = [Print(10, 60, 1001)]
    samples = [BookSample(5, 1000.0), BookSample(30, 1003.0)]
    is_bps = 0.1 * (1 * 60 + 5 * 40)  # 26 bps
    cost = split(fills, samples, {5: 1000.0, 30: 1002.0}, is_bps)
    assert cost.spread_bps == pytest.approx(0.1 * (1 * 60 + (1005 - 1003) * 40))
    assert cost.impact_bps == pytest.approx(0.1 * (1003 - 1002) * 40)
    assert cost.timing_bps == pytest.approx(0.1 * (1002 - 1000) * 40)
    total = cost.spread_bps + cost.impact_bps + cost.timing_bps
    assert total == pytest.approx(is_bps)


def test_split_refuses_an_order_without_a_book_or_quantity() -> None:
    with pytest.raises(ValueError, match="no book samples"):
        split_shortfall(
            Side.BUY, QTY, ARRIVAL, [], samples=[], counterfactual_mid=lambda t: 0.0, is_bps=0
        )
    with pytest.raises(ValueError, match="positive quantity"):
        split_shortfall(
            Side.BUY, 0, ARRIVAL, [], samples=[], counterfactual_mid=lambda t: 0.0, is_bps=0
        )


def test_sweep_share_counts_the_market_order_fills_and_the_charged_remainder() -> None:
    fills = [Print(1, 70, 1000), Print(2, 20, 1001, sweep=True), Print(3, 10, 1002, sweep=True)]
    assert sweep_share(QTY, fills) == pytest.approx(0.3)
    assert sweep_share(QTY, fills[:1]) == 0
    assert sweep_share(QTY, fills, unfilled=5) == pytest.approx(0.35)  # charged, not filled


def test_participation_is_our_share_of_the_tape_from_start_to_our_last_fill() -> None:
    ours = [Print(10, 30, 1000), Print(20, 20, 1000)]
    tape = [
        Print(5, 1000, 1000),  # before the start: not counted
        Print(10, 30, 1000),  # ours, on the tape like anyone's
        Print(15, 400, 1000),
        Print(20, 20, 1000),
        Print(21, 5000, 1000),  # after our last fill: not counted
    ]
    assert participation(ours, tape, start_ns=8) == pytest.approx(50 / 450)
    assert participation([], tape, start_ns=8) == 0


def test_inventory_path_is_the_share_left_at_each_twentieth_of_the_horizon() -> None:
    fills = [Print(0, 10, 1000), Print(50, 40, 1000), Print(100, 50, 1000)]
    path = inventory_path(100, fills, start_ns=0, end_ns=100, points=5)  # 0, 25, 50, 75, 100
    assert path == [0.9, 0.9, 0.5, 0.5, 0.0]
    assert inventory_path(100, [], 0, 100, points=3) == [1.0, 1.0, 1.0]

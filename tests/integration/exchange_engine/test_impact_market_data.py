"""Market data stays true when the impact model moves the replayed market.

The exchange publishes the engine's book as deltas; the daemon rebuilds it from them
and decides on it. When our trades shift the replayed crowd by some ticks, every level
the crowd left must be published as gone, or subscribers keep phantom levels (a bid
that is no longer there) and price their orders off them, which the in-process
backtest, reading the engine's book directly, never does.
"""

from __future__ import annotations

import pytest

from core.book import L2Book
from core.events import BookDelta
from core.requests import NewOrderRequest
from core.types import OrdType, Side, TimeInForce
from exchange.data import lobster_dir
from exchange.replay import LinearPermanentImpact, ReplaySimulator, load_day

S = 1_000_000_000


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_a_subscriber_rebuilding_the_feed_sees_the_engines_book_after_every_impact_shift(
    side: Side,
) -> None:
    day = load_day(next((lobster_dir() / "AMZN_2012-06-21_5").glob("*_message_*")))
    mirror = L2Book("AMZN")

    def on_md(event: object) -> None:
        if isinstance(event, BookDelta):
            mirror.apply_batch(event.changes, event.ts_ns)

    # a steep permanent impact: every few hundred shares move the market by a tick
    sim = ReplaySimulator(day, impact=LinearPermanentImpact(gamma=0.01), market_data=on_md)
    t = day.day.day_start_ns + 14 * 3600 * S
    sim.reset(t, t + 600 * S)
    bids, asks = sim.book.snapshot()
    mirror.apply_snapshot(bids, asks, t)
    for k in range(40):
        sim.send(
            NewOrderRequest(
                f"C{k}", "AMZN", side, 200, None, OrdType.MARKET, TimeInForce.IOC, "P", t
            )
        )
        t += 5 * S
        sim.advance_to(t)
        assert mirror.snapshot() == sim.book.snapshot(), f"after order {k} (offset {sim.offset})"
    assert abs(sim.offset) >= 5, "the impact model never moved the market: nothing was checked"

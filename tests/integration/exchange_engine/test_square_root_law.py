"""In a real replay window, the default impact model charges a block by the square
root of its size (the old default, linear permanent impact, charged 4x for 4x), and
the charge persists: the replay no longer refills at the recorded prices."""

from __future__ import annotations

from core.events import ExecReport
from core.requests import NewOrderRequest
from core.types import OrdType, Side
from exchange.data import lobster_message_files
from exchange.replay import ReplaySimulator, default_impact, load_day
from policies.env import EnvConfig

S = 1_000_000_000
AMZN5 = next(p for p in lobster_message_files() if "AMZN_2012-06-21_5" in str(p))


def offset_after_buying(qty: int, wait_s: int = 0) -> int:
    day = load_day(AMZN5)
    sim = ReplaySimulator(day, impact=default_impact(EnvConfig().impact, "AMZN"))
    start = day.start_ns + 5400 * S  # 11:00
    sim.reset(start, start + 3600 * S)
    sim.advance_to(start)
    sim.send(NewOrderRequest("m1", "AMZN", Side.BUY, qty, None, ord_type=OrdType.MARKET))
    got = sim.advance_to(start + S)
    filled = sum(d.report.last_qty for d in got if isinstance(d.report, ExecReport))
    assert filled == qty, f"only {filled} of {qty} filled"
    sim.advance_to(start + (1 + wait_s) * S)
    return sim.offset


def test_four_times_the_size_moves_the_market_twice_as_far() -> None:
    small, large = offset_after_buying(100), offset_after_buying(400)  # 400: the book's depth
    assert small >= 3
    assert 1.5 <= large / small <= 2.5  # whole ticks: 3 and 7


def test_the_move_outlasts_the_replays_refill() -> None:
    now, later = offset_after_buying(400), offset_after_buying(400, wait_s=600)
    assert 0.5 * now <= later < now

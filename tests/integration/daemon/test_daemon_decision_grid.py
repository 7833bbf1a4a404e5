"""A live parent decides on the environment's grid ``start + k x interval``: a runner
that wakes late decides late once and is back on the grid for the next decision. It
used to sleep a whole interval from whenever the late decision ran, so every later
decision inherited the lateness (in a paced run, where wake-ups are late by the loop's
delay times the replay speed, decisions drifted off the backtest's times).

The node runs on its lock-step clock (a simulated clock only this test moves; no
exchange follows here, so its follower just retries in the background) against the
scripted venue over real TCP: the late wake-up is a jump of the clock past a decision
time, the same every run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.clock import SimClock
from daemon.node import Node
from daemon.stack import free_port
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_node import node_config, started, twap

__all__ = ["venue"]  # the fixture
from tests.integration.daemon.test_daemon_node import venue

S = 1_000_000_000
T0 = 1_340_288_000 * S  # 2012-06-21 14:13:20, a market time (the clock reads as synced)


@pytest.fixture
async def node(tmp_path: Path, venue: ScriptedVenue) -> AsyncIterator[Node]:
    n = await started(
        node_config(
            tmp_path,
            venue,
            RLEXEC__CLOCK__MODE="lockstep",
            RLEXEC__CLOCK__LOCKSTEP_URL=f"ws://127.0.0.1:{free_port()}/clock",
            RLEXEC__EXECUTION__DECISION_INTERVAL_S="1",
        )
    )
    try:
        yield n
    finally:
        await n.stop()


async def _decided(node: Node, n: int) -> None:
    runner = next(iter(node.runners.values()))
    await eventually(lambda: runner.decisions == n, what=f"decision {n}")
    await eventually(lambda: node.clock.next_timer_ns is not None, what="the runner asleep")  # type: ignore[attr-defined]


async def test_a_late_wake_up_delays_one_decision_not_the_ones_after_it(node: Node) -> None:
    clock = node.clock
    assert isinstance(clock, SimClock)
    clock.advance_to(T0)
    node.engine.on_market_trade(SYMBOL, 100_000, T0)
    await node.submit_parent("P1", twap(seconds=30))
    await _decided(node, 1)  # at the start, T0

    clock.advance_to(T0 + 1_700_000_000)  # the wake-up due at T0 + 1 s comes 0.7 s late
    await _decided(node, 2)
    assert clock.next_timer_ns == T0 + 2 * S, "the next decision is off the grid"

    clock.advance_to(T0 + 2 * S)
    await _decided(node, 3)
    assert clock.next_timer_ns == T0 + 3 * S

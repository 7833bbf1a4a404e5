"""Busy polling keeps the loop turning without sleeping, and stops cleanly."""

from __future__ import annotations

import asyncio

from daemon.busy_poll import BusyPoll


async def test_it_spins_once_per_loop_turn_while_running() -> None:
    poll = BusyPoll()
    poll.start()
    for _ in range(50):
        await asyncio.sleep(0)  # each turn of the loop runs the spinner once
    assert poll.running
    assert poll.spins >= 40
    await poll.stop()
    assert not poll.running
    stopped_at = poll.spins
    for _ in range(10):
        await asyncio.sleep(0)
    assert poll.spins == stopped_at


async def test_start_twice_runs_one_spinner_and_stop_without_start_is_harmless() -> None:
    poll = BusyPoll()
    await poll.stop()
    poll.start()
    poll.start()
    spinners = [t for t in asyncio.all_tasks() if t.get_name() == "busy-poll"]
    assert len(spinners) == 1
    await poll.stop()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "busy-poll"]

"""Pacing: event time onto a (simulated) clock: as fast as possible, real time, x N."""

from __future__ import annotations

import asyncio

import pytest

from core.clock import NS_PER_S, SimClock
from exchange.service.pacing import Pacer

T0 = 1_340_272_800 * NS_PER_S  # some event time
C0 = 10**18  # some clock time


async def _release_times(
    pacer: Pacer, clock: SimClock, events_s: list[float], run_s: float
) -> list[float]:
    out: list[float] = []

    async def replay() -> None:
        for e in events_s:
            await pacer.wait(T0 + round(e * NS_PER_S))
            out.append((clock.now_ns() - C0) / NS_PER_S)

    task = asyncio.create_task(replay())
    await clock.run_for(run_s)
    await asyncio.wait_for(task, 1)
    return out


@pytest.mark.parametrize(
    ("speed", "expected"),
    [
        (1.0, [0.0, 1.0, 1.0, 3.5]),
        (10.0, [0.0, 0.1, 0.1, 0.35]),
        (0.5, [0.0, 2.0, 2.0, 7.0]),
    ],
)
async def test_events_are_released_on_schedule(speed: float, expected: list[float]) -> None:
    clock = SimClock(C0)
    pacer = Pacer(clock, speed)
    got = await _release_times(pacer, clock, [0.0, 1.0, 1.0, 3.5], run_s=10)
    assert got == pytest.approx(expected)
    assert pacer.lag_ns == 0


async def test_as_fast_as_possible_never_waits_on_the_clock() -> None:
    clock = SimClock(C0)
    pacer = Pacer(clock, None, yield_every=2)
    for e in (0.0, 100.0, 5000.0):
        await pacer.wait(T0 + round(e * NS_PER_S))
    assert clock.now_ns() == C0
    assert pacer.event_now_ns() == T0 + 5000 * NS_PER_S  # the last released event


async def test_long_silences_are_cut_to_max_gap() -> None:
    clock = SimClock(C0)
    pacer = Pacer(clock, 1.0, max_gap_s=2.0)
    got = await _release_times(pacer, clock, [0.0, 1.0, 3601.0, 3602.0], run_s=10)
    assert got == pytest.approx([0.0, 1.0, 3.0, 4.0])


async def test_a_late_consumer_is_not_hurried_and_its_lag_is_reported() -> None:
    clock = SimClock(C0)
    pacer = Pacer(clock, 1.0)
    await pacer.wait(T0)
    clock.advance(5.0)  # the consumer was busy for 5 s
    await pacer.wait(T0 + 2 * NS_PER_S)  # due 3 s ago: released at once
    assert clock.now_ns() == C0 + 5 * NS_PER_S
    assert pacer.lag_ns == 3 * NS_PER_S


async def test_event_now_follows_the_clock_between_events() -> None:
    clock = SimClock(C0)
    pacer = Pacer(clock, 10.0)
    assert pacer.event_now_ns() is None
    await pacer.wait(T0)
    clock.advance(0.5)
    assert pacer.event_now_ns() == T0 + 5 * NS_PER_S


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="speed"):
        Pacer(SimClock(), 0)
    with pytest.raises(ValueError, match="max_gap_s"):
        Pacer(SimClock(), 1.0, max_gap_s=-1)
    with pytest.raises(ValueError, match="yield_every"):
        Pacer(SimClock(), None, yield_every=0)


async def test_while_the_replay_waits_through_a_silence_event_now_is_the_present_not_the_next_event() -> (
    None
):
    # An order arriving then is handled (and the market moved) at event_now: it used to
    # read the next event's time, seconds ahead, so the venue jumped the market forward
    # on every such order and published it early; a daemon syncing its clock forward to
    # those timestamps ran ahead of the replay for the rest of the run (parity_bench).
    clock = SimClock(C0)
    pacer = Pacer(clock, 1.0)
    await pacer.wait(T0)
    nxt = asyncio.create_task(pacer.wait(T0 + 10 * NS_PER_S))
    await clock.run_for(2.0)
    assert not nxt.done()
    assert pacer.event_now_ns() == T0 + 2 * NS_PER_S
    await clock.run_for(8.0)
    await asyncio.wait_for(nxt, 1)
    assert pacer.event_now_ns() == T0 + 10 * NS_PER_S

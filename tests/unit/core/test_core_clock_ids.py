"""Simulated clock (tests never sleep) and ClOrdIDs that survive restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import NS_PER_S, SimClock, WallClock
from core.ids import ClOrdIdGenerator, FileSequenceStore, MemorySequenceStore, base36


def test_sim_clock_fires_timers_in_order_at_their_due_time() -> None:
    clock = SimClock(start_ns=1_000)
    seen: list[tuple[str, int]] = []
    clock.call_later(2.0, lambda: seen.append(("b", clock.now_ns())))
    clock.call_later(1.0, lambda: seen.append(("a", clock.now_ns())))
    cancelled = clock.call_later(1.5, lambda: seen.append(("x", clock.now_ns())))
    cancelled.cancel()
    assert clock.advance(1.0) == 1
    assert clock.advance(5.0) == 1
    assert seen == [("a", 1_000 + NS_PER_S), ("b", 1_000 + 2 * NS_PER_S)]
    assert clock.now_ns() == 1_000 + 6 * NS_PER_S
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(0)


async def test_sim_clock_sleep_wakes_only_when_time_is_advanced() -> None:
    clock = SimClock()
    woke: list[int] = []

    async def sleeper() -> None:
        await clock.sleep(30)
        woke.append(clock.now_ns())

    task = asyncio.create_task(sleeper())
    await clock.run_for(29.9)
    assert woke == []
    await clock.run_for(0.1)
    assert woke == [30 * NS_PER_S]
    await task


async def test_wall_clock_is_real_time() -> None:
    clock = WallClock()
    t0 = clock.now_ns()
    await clock.sleep(0)
    assert clock.now_ns() >= t0


def test_base36() -> None:
    assert [base36(n) for n in (0, 35, 36, 1295)] == ["0", "Z", "10", "ZZ"]


def test_ids_are_unique_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    seen: set[str] = set()
    for _restart in range(5):
        gen = ClOrdIdGenerator("RLX-", FileSequenceStore(path), block=7)
        for _ in range(10):  # crosses block boundaries, then "crashes"
            cid = gen.next_id()
            assert cid not in seen
            seen.add(cid)
    assert len(seen) == 50


def test_corrupt_sequence_file_is_refused_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    path.write_text("garbage")
    gen = ClOrdIdGenerator("RLX-", FileSequenceStore(path))
    with pytest.raises(ValueError, match="corrupt"):
        gen.next_id()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(1, 16))
def test_no_reuse_whatever_the_crash_points(draws: list[int], block: int) -> None:
    store = MemorySequenceStore()
    seen: set[str] = set()
    for n in draws:
        gen = ClOrdIdGenerator("X", store, block=block)
        for _ in range(n):
            cid = gen()
            assert cid not in seen
            seen.add(cid)


def test_prefix_with_fix_delimiters_is_refused() -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        ClOrdIdGenerator("a|b", MemorySequenceStore())


async def test_scaled_clock_runs_faster_and_only_syncs_forward() -> None:
    from core.clock import ScaledClock

    clock = ScaledClock(speed=100.0, start_ns=1_000 * NS_PER_S)
    t0 = clock.now_ns()
    await clock.sleep(1.0)  # one market second = 10 wall milliseconds
    elapsed = clock.now_ns() - t0
    assert NS_PER_S <= elapsed < 50 * NS_PER_S
    clock.sync(t0)  # the past never pulls the clock back
    assert clock.now_ns() >= t0 + NS_PER_S
    clock.sync(t0 + 3_600 * NS_PER_S)
    assert clock.now_ns() >= t0 + 3_600 * NS_PER_S
    with pytest.raises(ValueError, match="speed must be > 0"):
        ScaledClock(0)

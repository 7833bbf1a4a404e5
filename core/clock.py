"""Clocks: the one thing (with the order router) that differs between training,
backtest and live.

Everything that needs the time or a timer takes a :class:`Clock`. Live code gets a
:class:`WallClock`; tests and the simulator get a :class:`SimClock`, whose time
moves only when told to, so a test of a 30-second heartbeat takes microseconds and
never sleeps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

NS_PER_S = 1_000_000_000


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch (simulated or real)."""
        ...

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once after ``delay_s`` seconds of this clock's time."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """Suspend the calling task for ``delay_s`` seconds of this clock's time."""
        ...


class WallClock:
    """Real time; timers on the running asyncio loop."""

    def now_ns(self) -> int:
        return time.time_ns()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay_s), callback)

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(max(0.0, delay_s))


class _SimTimer:
    __slots__ = ("callback", "cancelled", "when_ns")

    def __init__(self, when_ns: int, callback: Callable[[], None]) -> None:
        self.when_ns = when_ns
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class SimClock:
    """Simulated time that advances only through :meth:`advance` / :meth:`advance_to`.

    Timers fire in time order (ties in scheduling order) as time passes them, and the
    clock reads exactly the timer's due time while its callback runs, so code under
    test sees the same timestamps every run. ``scheduled`` counts the timers ever set:
    whoever moves the clock (a lock-step follower, :mod:`daemon.lockstep`) watches it
    to tell when the tasks a timer woke have gone back to waiting.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._heap: list[tuple[int, int, _SimTimer]] = []
        self._seq = itertools.count()
        self.scheduled = 0

    def now_ns(self) -> int:
        return self._now

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        return self.call_at_ns(self._now + max(0, round(delay_s * NS_PER_S)), callback)

    def call_at_ns(self, when_ns: int, callback: Callable[[], None]) -> Timer:
        timer = _SimTimer(max(when_ns, self._now), callback)
        heapq.heappush(self._heap, (timer.when_ns, next(self._seq), timer))
        self.scheduled += 1
        return timer

    async def sleep(self, delay_s: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_later(delay_s, wake)
        try:
            await fut
        finally:
            timer.cancel()

    @property
    def next_timer_ns(self) -> int | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance_to(self, when_ns: int) -> int:
        """Move time forward to ``when_ns`` firing due timers; returns how many fired."""
        if when_ns < self._now:
            raise ValueError(f"simulated time cannot go back ({when_ns} < {self._now})")
        fired = 0
        while self._heap and self._heap[0][0] <= when_ns:
            due, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = due
            timer.callback()
            fired += 1
        self._now = when_ns
        return fired

    def advance(self, delay_s: float) -> int:
        return self.advance_to(self._now + round(delay_s * NS_PER_S))

    async def run_for(self, delay_s: float, *, settle: int = 5) -> None:
        """Advance ``delay_s`` timer by timer, letting woken tasks run between timers.

        ``settle`` loop iterations after each step give chains of awaits time to reach
        their next timer before time moves on.
        """
        end = self._now + round(delay_s * NS_PER_S)
        await _settle(settle)
        while True:
            nxt = self.next_timer_ns
            if nxt is None or nxt > end:
                break
            self.advance_to(nxt)
            await _settle(settle)
        self.advance_to(end)
        await _settle(settle)


async def _settle(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


class ScaledClock:
    """Market time that runs ``speed`` times faster than the wall clock.

    For replay at accelerated pace (the demo, paper tests): the daemon's decisions,
    parent horizons and timers must follow the venue's clock, not ours, or a policy
    trained on 5-second decisions would decide every 50 market seconds at 10x.
    :meth:`sync` pulls the estimate forward to timestamps the venue publishes (never
    back), so drift between the two processes cannot accumulate.
    """

    def __init__(self, speed: float, start_ns: int | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._anchor_market = time.time_ns() if start_ns is None else start_ns
        self._anchor_wall = time.perf_counter_ns()

    def now_ns(self) -> int:
        elapsed = time.perf_counter_ns() - self._anchor_wall
        return self._anchor_market + int(elapsed * self.speed)

    def sync(self, market_ns: int) -> None:
        """Re-anchor when the venue's clock is ahead of our estimate."""
        if market_ns > self.now_ns():
            self._anchor_market = market_ns
            self._anchor_wall = time.perf_counter_ns()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay_s / self.speed), callback)

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(max(0.0, delay_s / self.speed))

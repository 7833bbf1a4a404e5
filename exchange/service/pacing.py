"""Pacing: when the venue releases the next replayed or upstream event.

Replay data carries its own timestamps; the pacer maps event time onto a
:class:`~core.clock.Clock` so a replay runs as fast as possible (backtests, tests),
in real time (demos, soak tests against the live daemon) or at real time x N
(a 6.5-hour session in minutes). With a :class:`~core.clock.SimClock` a test can
check the schedule without sleeping.

The schedule is anchored at the first event: event ``t`` is due at
``clock_start + (t - t_first) / speed``. A consumer that falls behind is not made to
"catch up" faster than its data allows; the pacer just reports the lag. Long silent
stretches in the data (an overnight gap between two recorded files, a halt) can be
cut to ``max_gap_s`` by moving the anchor.
"""

from __future__ import annotations

import asyncio

from core.clock import NS_PER_S, Clock


class Pacer:
    """``speed=None``: as fast as possible; ``1.0``: real time; ``N``: N times real time."""

    __slots__ = (
        "_count",
        "_last_event_ns",
        "_origin_clock_ns",
        "_origin_event_ns",
        "clock",
        "lag_ns",
        "max_gap_ns",
        "speed",
        "yield_every",
    )

    def __init__(
        self,
        clock: Clock,
        speed: float | None = None,
        *,
        max_gap_s: float | None = None,
        yield_every: int = 64,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(
                f"pacing speed must be > 0 (or None for as fast as possible), got {speed}"
            )
        if max_gap_s is not None and max_gap_s < 0:
            raise ValueError(f"max_gap_s must be >= 0, got {max_gap_s}")
        if yield_every < 1:
            raise ValueError(f"yield_every must be >= 1, got {yield_every}")
        self.clock = clock
        self.speed = speed
        self.max_gap_ns = None if max_gap_s is None else round(max_gap_s * NS_PER_S)
        self.yield_every = yield_every
        self._origin_event_ns: int | None = None
        self._origin_clock_ns = 0
        self._last_event_ns = 0
        self._count = 0
        self.lag_ns = 0  # how far behind schedule the last event was released

    def event_now_ns(self) -> int | None:
        """The event time the venue has reached now (None before the first event).

        Orders arriving between two replayed events are stamped with it, so their
        reports carry the replay's time, not the wall clock's. As fast as possible,
        it is the last released event's time.
        """
        if self._origin_event_ns is None:
            return None
        if self.speed is None:
            return self._last_event_ns
        elapsed = self.clock.now_ns() - self._origin_clock_ns
        return max(self._last_event_ns, self._origin_event_ns + round(elapsed * self.speed))

    def mark(self, event_ns: int) -> None:
        """The venue has reached ``event_ns`` without waiting: in lock-step mode
        (:mod:`exchange.service.lockstep`) the daemon following the market, not this
        pacer, decides when time moves; orders arriving until the next step are stamped
        with it. Never yields, so no request slips in between the mark and the step."""
        if self._origin_event_ns is None:
            self._anchor(event_ns, self.clock.now_ns())
        self._last_event_ns = max(self._last_event_ns, event_ns)

    def due_ns(self, event_ns: int) -> int:
        """Clock time at which an event stamped ``event_ns`` is due (after the first)."""
        if self._origin_event_ns is None or self.speed is None:
            return self.clock.now_ns()
        return self._origin_clock_ns + round((event_ns - self._origin_event_ns) / self.speed)

    async def wait(self, event_ns: int) -> None:
        """Return when the event stamped ``event_ns`` (ns, event time) is due."""
        self._count += 1
        if self.speed is None:
            if self._origin_event_ns is None:
                self._anchor(event_ns, self.clock.now_ns())
            self._last_event_ns = max(self._last_event_ns, event_ns)
            if self._count % self.yield_every == 0:
                await asyncio.sleep(0)  # let writers and readers run between bursts
            return
        now = self.clock.now_ns()
        if self._origin_event_ns is None:
            self._anchor(event_ns, now)
            return
        if self.max_gap_ns is not None and event_ns - self._last_event_ns > self.max_gap_ns:
            # Cut the silence: re-anchor so this event is due max_gap after the last.
            self._anchor(event_ns, self.due_ns(self._last_event_ns) + self._scaled(self.max_gap_ns))
        delay_ns = self.due_ns(event_ns) - now
        if delay_ns > 0:
            self.lag_ns = 0
            # the event is released only once due: until then event_now is the present
            # (an order arriving meanwhile must not move the market to the next event)
            await self.clock.sleep(delay_ns / NS_PER_S)
        else:
            self.lag_ns = -delay_ns
            if self._count % self.yield_every == 0:
                await asyncio.sleep(0)
        self._last_event_ns = max(self._last_event_ns, event_ns)

    def _scaled(self, event_span_ns: int) -> int:
        assert self.speed is not None
        return round(event_span_ns / self.speed)

    def _anchor(self, event_ns: int, clock_ns: int) -> None:
        self._origin_event_ns = event_ns
        self._origin_clock_ns = clock_ns
        self._last_event_ns = event_ns

"""Reconnect backoff (:mod:`core.backoff`, the one every connection uses) and the
silence watchdog, shared by every feed connection.

The watchdog runs on a :class:`~core.clock.Clock`, so tests drive it with a SimClock.
"""

from __future__ import annotations

from collections.abc import Callable

from core.backoff import Backoff
from core.clock import NS_PER_S, Clock, Timer

__all__ = ["Backoff", "Watchdog"]


class Watchdog:
    """Calls ``on_silence(silent_s)`` once no :meth:`feed` came for ``limit_s``.

    Feeding is one attribute store (the hot path calls it per frame); the timer is
    only re-armed when it fires early, never per message.
    """

    def __init__(self, clock: Clock, limit_s: float, on_silence: Callable[[float], None]) -> None:
        if limit_s <= 0:
            raise ValueError(f"watchdog limit must be > 0 s, got {limit_s}")
        self.clock = clock
        self.limit_ns = round(limit_s * NS_PER_S)
        self.on_silence = on_silence
        self.last_ns = 0
        self._timer: Timer | None = None

    def feed(self) -> None:
        self.last_ns = self.clock.now_ns()

    def arm(self) -> None:
        self.disarm()
        self.feed()
        self._timer = self.clock.call_later(self.limit_ns / NS_PER_S, self._fire)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        silent = self.clock.now_ns() - self.last_ns
        if silent < self.limit_ns:
            self._timer = self.clock.call_later((self.limit_ns - silent) / NS_PER_S, self._fire)
            return
        self.on_silence(silent / NS_PER_S)

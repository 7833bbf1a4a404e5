"""Reconnect backoff and the silence watchdog, shared by every feed connection.

Both run on a :class:`~core.clock.Clock`, so tests drive them with a SimClock.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from core.clock import NS_PER_S, Clock, Timer


class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    The fixed half guarantees a minimum pause (no hammering a venue that refuses us);
    the random half spreads the reconnects of many clients after a venue restart.
    """

    def __init__(
        self, initial_s: float = 0.1, max_s: float = 5.0, rng: random.Random | None = None
    ) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s}, {max_s}")
        self.initial_s = initial_s
        self.max_s = max_s
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        cap = min(self.max_s, self.initial_s * float(2 ** min(self.attempt, 30)))
        self.attempt += 1
        return cap / 2 + self.rng.uniform(0, cap / 2)

    def reset(self) -> None:
        self.attempt = 0


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

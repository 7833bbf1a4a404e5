"""Token buckets in integer nanoseconds, for order and cancel message rates.

A bucket of ``capacity`` tokens per ``window_ns`` allows a burst of ``capacity`` and
then refills continuously at ``capacity / window_ns``. The level is kept in
token-nanoseconds (one token is ``window_ns`` of level; each nanosecond adds
``capacity``) so refill and spend are exact integer arithmetic, with no float drift
that could let one extra order through after a day of trading.
"""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("_floor", "_last_ns", "_level", "_max", "capacity", "window_ns")

    def __init__(self, capacity: int, window_ns: int, now_ns: int = 0) -> None:
        if capacity <= 0 or window_ns <= 0:
            raise ValueError(
                f"token bucket needs capacity > 0 and window > 0, got {capacity}, {window_ns}"
            )
        self.capacity = capacity
        self.window_ns = window_ns
        self._max = capacity * window_ns
        self._floor = -self._max  # debt allowed by spends that must not be refused
        self._level = self._max
        self._last_ns = now_ns

    def _refill(self, now_ns: int) -> None:
        if now_ns > self._last_ns:  # a clock that steps back refills nothing
            level = self._level
            if level < self._max:  # a full bucket has nothing to refill
                level += (now_ns - self._last_ns) * self.capacity
                self._level = level if level < self._max else self._max
            self._last_ns = now_ns

    def has_token(self, now_ns: int) -> bool:
        """Whether one token is available now (refills first, spends nothing)."""
        level = self._level  # _refill inlined: this is on every order's path, four times
        if now_ns > self._last_ns:
            if level < self._max:  # a full bucket has nothing to refill
                level += (now_ns - self._last_ns) * self.capacity
                self._level = level = level if level < self._max else self._max
            self._last_ns = now_ns
        return level >= self.window_ns

    def take(self) -> None:
        """Spend one token; call only after :meth:`has_token` said yes at this time."""
        self._level -= self.window_ns

    def take_always(self, now_ns: int) -> None:
        """Spend one token even if none is left (for cancels, which are never refused).

        The debt is bounded by one full bucket so the limiter recovers within a window.
        """
        self._refill(now_ns)
        level = self._level - self.window_ns
        self._level = level if level > self._floor else self._floor

    def tokens(self, now_ns: int) -> int:
        """Whole tokens available now (negative while in debt), for messages."""
        self._refill(now_ns)
        return self._level // self.window_ns

"""Rolling traded volume over a time window, for the participation cap.

A deque of (timestamp, quantity) with a running sum: appends and expiry are O(1)
amortised, and the check on the order path only pops what has aged out.
"""

from __future__ import annotations

from collections import deque


class RollingVolume:
    __slots__ = ("_items", "total", "window_ns")

    def __init__(self, window_ns: int) -> None:
        if window_ns <= 0:
            raise ValueError(f"participation window must be > 0 ns, got {window_ns}")
        self.window_ns = window_ns
        self._items: deque[tuple[int, int]] = deque()
        self.total = 0

    def add(self, ts_ns: int, qty: int) -> None:
        self._items.append((ts_ns, qty))
        self.total += qty

    def expire(self, now_ns: int) -> int:
        """Drop what is older than the window ending at ``now_ns``; returns the total."""
        items = self._items
        horizon = now_ns - self.window_ns
        while items and items[0][0] <= horizon:
            self.total -= items.popleft()[1]
        return self.total

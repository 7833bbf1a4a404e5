"""Rolling traded volume over a time window, for the participation cap.

A deque of (timestamp, quantity) with a running sum: appends and expiry are O(1)
amortised, and the check on the order path only pops what has aged out.

A restarted node would otherwise start with an empty window, and an empty window
means no trading (nothing shows we are not the market): the window can be handed
over (:meth:`RollingVolume.prints`) and taken back (:meth:`RollingVolume.adopt`).
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

    def prints(self, resolution_ns: int = 0) -> list[tuple[int, int]]:
        """The (timestamp, quantity) prints in the window, oldest first; with
        ``resolution_ns``, summed per interval and stamped with each interval's start
        (so they age out no later than the prints themselves)."""
        if resolution_ns <= 0:
            return list(self._items)
        out: list[tuple[int, int]] = []
        for ts, qty in self._items:
            start = ts - ts % resolution_ns
            if out and out[-1][0] == start:
                out[-1] = (start, out[-1][1] + qty)
            else:
                out.append((start, qty))
        return out

    def adopt(self, prints: list[tuple[int, int]]) -> None:
        """Recovery: prints from before a restart, placed ahead of those seen since."""
        clean = [
            (ts, qty) for ts, qty in prints if type(ts) is int and type(qty) is int and qty > 0
        ]
        if clean:
            self._items = deque(sorted([*clean, *self._items]))  # expiry pops oldest first
            self.total += sum(qty for _, qty in clean)

    def expire(self, now_ns: int) -> int:
        """Drop what is older than the window ending at ``now_ns``; returns the total."""
        items = self._items
        horizon = now_ns - self.window_ns
        while items and items[0][0] <= horizon:
            self.total -= items.popleft()[1]
        return self.total

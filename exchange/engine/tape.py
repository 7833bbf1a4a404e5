"""The time-and-sales tape of one symbol: every trade, in order, as plain integers.

Features such as traded volume over the last minute read it every step, so it is four
parallel Python lists (append is ~30 ns each) rather than a list of event objects.
It is bounded: past ``max_len`` trades the oldest half is dropped, so a venue that
runs for days holds a fixed amount of memory.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import NamedTuple


class Trade(NamedTuple):
    ts_ns: int
    price: int
    qty: int
    aggressor: int  # +1 buyer-initiated, -1 seller-initiated
    agent: bool  # an owned (client/agent) order took part


class TradeTape:
    __slots__ = ("agent", "aggressor", "max_len", "price", "qty", "ts_ns")

    def __init__(self, max_len: int = 1_000_000) -> None:
        if max_len < 2:
            raise ValueError(f"trade tape max_len must be >= 2, got {max_len}")
        self.max_len = max_len
        self.ts_ns: list[int] = []
        self.price: list[int] = []
        self.qty: list[int] = []
        self.aggressor: list[int] = []
        self.agent: list[bool] = []

    def __len__(self) -> int:
        return len(self.ts_ns)

    def append(self, ts_ns: int, price: int, qty: int, aggressor: int, agent: bool) -> None:
        self.ts_ns.append(ts_ns)
        self.price.append(price)
        self.qty.append(qty)
        self.aggressor.append(aggressor)
        self.agent.append(agent)
        if len(self.ts_ns) > self.max_len:
            self._trim()

    def _trim(self) -> None:
        cut = len(self.ts_ns) - self.max_len // 2
        for col in (self.ts_ns, self.price, self.qty, self.aggressor, self.agent):
            del col[:cut]

    def clear(self) -> None:
        for col in (self.ts_ns, self.price, self.qty, self.aggressor, self.agent):
            col.clear()

    def recent(self, n: int) -> list[Trade]:
        start = max(0, len(self.ts_ns) - n)
        return [self[i] for i in range(start, len(self.ts_ns))]

    def since(self, ts_ns: int) -> list[Trade]:
        """Trades at or after ``ts_ns``."""
        start = bisect_left(self.ts_ns, ts_ns)
        return [self[i] for i in range(start, len(self.ts_ns))]

    def volume_since(self, ts_ns: int) -> tuple[int, int]:
        """(buyer-initiated, seller-initiated) volume at or after ``ts_ns``."""
        start = bisect_left(self.ts_ns, ts_ns)
        buy = sell = 0
        for q, a in zip(self.qty[start:], self.aggressor[start:], strict=True):
            if a > 0:
                buy += q
            else:
                sell += q
        return buy, sell

    @property
    def last_price(self) -> int | None:
        return self.price[-1] if self.price else None

    def __getitem__(self, i: int) -> Trade:
        return Trade(self.ts_ns[i], self.price[i], self.qty[i], self.aggressor[i], self.agent[i])

"""The last minutes of one symbol's market as the feed showed it, to warm a parent's features.

A policy's features include statistics over the last ``lookback`` decision intervals
(mean spread and depth, realised volatility, traded volume and its sign). In the
training environment and the backtest every parent starts with that history: the
replay begins ``lookback`` intervals before the parent and the market state is
sampled on each. A live parent used to start with none, so for its first minute the
policy saw statistics of a few seconds (a volume rate from one interval, no
volatility at all) that it never saw in training.

The node keeps, per symbol, the top of the book after every change and every trade
for a few minutes of market time; when a parent starts, :meth:`MarketHistory.warm`
replays them into its feature builder's market state as if it had sampled at the
same times the environment does (``start - (lookback - k) x interval``, k = 1..lookback,
trades of each interval fed before its sample). A node that has not watched the
market that long warms with the whole intervals it has seen.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque

from core.book import L2Book
from core.events import TradePrint
from core.types import Side
from policies.market_state import MarketState

Top = tuple[int | None, int, int | None, int]  # best bid, its size, best ask, its size


class MarketHistory:
    __slots__ = ("_last", "_times", "_tops", "_trades", "keep_ns", "symbol")

    def __init__(self, symbol: str, keep_ns: int) -> None:
        if keep_ns <= 0:
            raise ValueError(f"keep_ns must be > 0, got {keep_ns}")
        self.symbol = symbol
        self.keep_ns = keep_ns
        self._times: deque[int] = deque()  # when each top below became the book's
        self._tops: deque[Top] = deque()
        self._trades: deque[tuple[int, int, int, Side]] = deque()  # ts, price, qty, aggressor
        self._last: Top | None = None

    def on_book(self, book: L2Book) -> None:
        """After every book change (only a new top of the book is kept)."""
        top = (book.best_bid, book.best_bid_size, book.best_ask, book.best_ask_size)
        if top == self._last:
            return
        self._last = top
        times = self._times
        ts = book.last_update_ns
        if times and ts < times[-1]:
            ts = times[-1]  # a resync snapshot may carry an older stamp: keep time ordered
        times.append(ts)
        self._tops.append(top)
        # keep the top in force at the start of the window (the book as of then)
        cutoff = ts - self.keep_ns
        while len(times) > 1 and times[1] <= cutoff:
            times.popleft()
            self._tops.popleft()

    def on_trade(self, trade: TradePrint) -> None:
        trades = self._trades
        trades.append((trade.ts_ns, trade.price, trade.qty, trade.aggressor))
        cutoff = trade.ts_ns - self.keep_ns
        while trades and trades[0][0] <= cutoff:
            trades.popleft()

    def top_at(self, ts_ns: int) -> Top | None:
        """The top of the book as of ``ts_ns`` (None before the history starts)."""
        i = bisect_right(self._times, ts_ns)
        return self._tops[i - 1] if i else None

    def warm(self, market: MarketState, now_ns: int, interval_ns: int, lookback: int) -> int:
        """Feed ``market`` the intervals before ``now_ns`` (module doc); returns the
        number of intervals sampled (``lookback`` when the history covers them all)."""
        start = now_ns - lookback * interval_ns
        first = self._times[0] if self._times else None
        if first is None:
            return 0
        k0 = 1
        while k0 <= lookback and start + (k0 - 1) * interval_ns < first:
            k0 += 1  # an interval that began before we watched: its volume is unknown
        if k0 > lookback:
            return 0
        lo = start + (k0 - 1) * interval_ns
        trades = [t for t in self._trades if lo <= t[0] <= now_ns]
        book = L2Book(self.symbol)
        i = 0
        for k in range(k0, lookback + 1):
            t_k = start + k * interval_ns
            while i < len(trades) and trades[i][0] <= t_k:
                _, price, qty, aggressor = trades[i]
                market.on_trade(price, qty, aggressor)
                i += 1
            top = self.top_at(t_k)
            assert top is not None  # t_k >= the first top's time
            bid, bid_size, ask, ask_size = top
            book.apply_snapshot(
                [(bid, bid_size)] if bid is not None else [],
                [(ask, ask_size)] if ask is not None else [],
                t_k,
            )
            market.sample(book)
        return lookback - k0 + 1

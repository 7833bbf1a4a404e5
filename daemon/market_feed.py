"""Market data into the node: books to risk and the parents, trades to both, feed health.

Per delta only bookkeeping; once per frame (when its deltas are applied) risk sees the
book and, with ``decide_on = "book"``, each parent of the symbol decides before the
next frame is read. A symbol whose feed is not synced halts (``md:<SYMBOL>``) until it
is again; feed health is judged on the wall clock whatever pace the market keeps.
The market models' trackers (daemon.posture) hear every frame and print too, after the
frame's decisions (off the tick-to-order path); a symbol synced again is assessed
before its halt clears, so it never trades on a posture its stale feed let lapse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from core.book import L2Book
from core.clock import Clock, ScaledClock, WallClock
from core.events import TradePrint
from core.instruments import Instrument
from daemon.config import MarketDataSection
from daemon.halts import NodeHalts
from daemon.market_history import MarketHistory
from daemon.metrics import Metrics
from daemon.posture import MarketSignals
from daemon.runner import ParentRunner
from execution.executor import ExecutionEngine
from gateways.marketdata.client import BookStatus, MarketDataClient
from risk.halts import Halt


class MarketFeed:
    def __init__(
        self,
        *,
        clock: Clock,
        engine: ExecutionEngine,
        metrics: Metrics,
        halts: NodeHalts,
        instruments: Mapping[str, Instrument],
        settings: MarketDataSection,
        decide_on_book: bool,
        history: Mapping[str, MarketHistory],
        market_signals: MarketSignals | None = None,
    ) -> None:
        self.clock = clock
        self.engine = engine
        self.metrics = metrics
        self.halts = halts
        self.decide_on_book = decide_on_book
        self.history = history  # what each symbol's market did lately (warms features)
        self.signals = market_signals  # the models' trackers and the risk posture (or None)
        # the parents deciding on each symbol's book (set once they exist: see attach)
        self._runners_of: Callable[[str], list[ParentRunner]] = lambda symbol: []
        self._good_ns: dict[str, int] = dict.fromkeys(instruments, 0)
        self._frame_books: dict[str, int] = {}  # symbols updated by this frame -> its arrival
        self.last_frame_rx: dict[str, int] = {}  # arrival of the latest frame per symbol
        self._superseded: dict[str, int] = {}  # frames behind a decision not yet run
        self._counts: dict[str, int] = {}
        self.md = MarketDataClient(
            settings.url,
            list(instruments),
            clock=WallClock(),  # feed health is judged in real time whatever the pace
            instruments=dict(instruments),
            on_book=self.on_book,
            on_trade=self.on_trade,
            on_status=self.on_status,
            stale_after_s=settings.stale_after_s,
            backoff_initial_s=settings.reconnect_min_s,
            backoff_max_s=settings.reconnect_max_s,
            backoff_jitter=settings.reconnect_jitter,
        )

    def attach(self, runners_of: Callable[[str], list[ParentRunner]]) -> None:
        """Who decides on a symbol's book and hears its trades (the node's parents)."""
        self._runners_of = runners_of

    def data_time(self, symbol: str) -> int:
        """When ``symbol``'s book was last known good (now, while it is synced)."""
        if self.md.status.get(symbol) is BookStatus.SYNCED:
            return self.clock.now_ns()
        return self._good_ns.get(symbol, 0)

    def on_book(self, symbol: str, book: L2Book) -> None:
        """Per delta: only bookkeeping. Everything else runs once per frame (below)."""
        self._counts[symbol] = self._counts.get(symbol, 0) + 1
        self.history[symbol].on_book(book)
        rx = self.md.frame_rx_ns
        if symbol not in self._frame_books:
            self._frame_books[symbol] = self.last_frame_rx[symbol] = rx
            if len(self._frame_books) == 1:
                asyncio.get_running_loop().call_soon(self.after_frame)
        elif self.last_frame_rx.get(symbol) != rx:
            # A newer frame before the decision on the last one ran (the loop is behind):
            # that decision is skipped, the one to come sees this book (runner.py).
            self.last_frame_rx[symbol] = rx
            self._superseded[symbol] = self._superseded.get(symbol, 0) + 1

    def after_frame(self) -> None:
        """Once the frame's deltas are applied: risk sees the book, and with
        decide_on = "book" each parent of the symbol decides, still before the next frame
        is read (one decision per frame, not per delta)."""
        pending, self._frame_books = self._frame_books, {}
        for symbol, rx in pending.items():
            self.metrics.md_updates.labels(symbol).inc(self._counts.pop(symbol, 0))
            book = self.md.book(symbol)
            if book is None:
                continue
            if isinstance(self.clock, ScaledClock) and book.last_update_ns:
                self.clock.sync(book.last_update_ns)
            self._good_ns[symbol] = self.clock.now_ns()
            self.engine.on_book(symbol, book)
            skipped = self._superseded.pop(symbol, 0)
            if self.decide_on_book:
                for runner in self._runners_of(symbol):
                    runner.on_book(book, rx, skipped)
            if self.signals is not None:
                self.signals.on_book(symbol, book, self.clock.now_ns())

    def on_trade(self, tp: TradePrint) -> None:
        if isinstance(self.clock, ScaledClock):
            self.clock.sync(tp.ts_ns)
        history = self.history.get(tp.symbol)
        if history is not None:
            history.on_trade(tp)
        self.engine.on_market_trade(tp.symbol, tp.qty, tp.ts_ns)
        for runner in self._runners_of(tp.symbol):
            runner.driver.observe_trade(tp.price, tp.qty, tp.aggressor)
        if self.signals is not None:
            self.signals.on_trade(tp, self.clock.now_ns())

    def on_status(self, symbol: str, status: BookStatus, why: str) -> None:
        stale = status is not BookStatus.SYNCED
        self.metrics.md_stale.labels(symbol).set(1 if stale else 0)
        if stale:
            if status is BookStatus.RESYNCING:
                self.metrics.md_gaps.labels(symbol).inc()
            self.halts.halt(Halt.market_data(symbol), f"{status.value}: {why}")
        else:
            if self.signals is not None:
                self.signals.assess(symbol)  # the posture first, on the data just synced
            self.halts.clear(Halt.market_data(symbol))

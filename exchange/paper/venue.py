"""Paper trading: the daemon's orders filled against a real venue's book, nothing sent.

The upstream book (Binance, another rlexec exchange, a recording) is loaded into the
same :class:`~exchange.engine.MatchingEngine` that runs the simulator, as background
liquidity: each upstream level becomes one or more anonymous chunks in the engine's
price-level queue. The daemon's orders go through the engine unchanged (validation,
price-time matching, ExecutionReports), so paper trading and simulation fill by the
same rules. What the upstream feed adds is the *fill model* for everything the engine
cannot see, documented in docs/exchange.md:

- Marketable orders take the displayed upstream liquidity at upstream prices, walking
  the book. What they take stays taken: the level is shown ``taken`` lower than the
  venue says until the venue removes that level entirely (the venue never saw our
  trade, so its later updates of the level would otherwise hand the liquidity back).
- A resting order joins the back of its level. Upstream size that arrives later queues
  behind it. Upstream size that disappears without a trade is cancelled from the back
  of the queue by default (``queue_model="back"``: our queue position improves only
  through trades, the conservative choice) or from every chunk in proportion
  (``"pro_rata"``).
- An upstream trade at price P (aggressor A) first fills our resting orders on the
  other side priced strictly better than P (the aggressor would have met them
  first), then walks the queue at P front to back: chunks ahead of us are consumed,
  then our order fills. Every upstream trade is printed on our feed at its full size.
- When the upstream book moves through a resting order (an ask appears at or below
  our bid), the new upstream size trades against our order at our price first, as an
  incoming order would.
- While the upstream book is unknown (before the first snapshot, after a gap until
  the resync) the symbol is halted: new orders and replaces are rejected with
  "trading halted", cancels still work, and resting orders are not filled.

Within one upstream update all level decreases are applied before any increase, so
a level that moves from the bid to the ask never meets itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from core.book import L2Book
from core.events import CancelReject, ExecReport, TradePrint
from core.log import get_logger
from core.types import ExecType, Side
from exchange.engine import MatchingEngine, OrderBook

log = get_logger("exchange.paper")

QueueModel = Literal["back", "pro_rata"]
Change = tuple[Side, int, int]


class PaperVenue:
    """Mirrors upstream books into ``engine`` and applies the paper fill model."""

    def __init__(self, engine: MatchingEngine, *, queue_model: QueueModel = "back") -> None:
        if queue_model not in ("back", "pro_rata"):
            raise ValueError(f"queue_model must be 'back' or 'pro_rata', got {queue_model!r}")
        self.engine = engine
        self.queue_model = queue_model
        # Liquidity our marketable orders took per (symbol, side, price), withheld
        # from the level until the venue removes the level.
        self.taken: dict[tuple[str, int, int], int] = {}
        self._next_chunk = 2  # background keys; 0 and 1<<62 are the engine's phantoms
        self.upstream_trades = 0
        self.agent_fills_from_upstream = 0
        for symbol in engine.books:
            engine.halt(symbol, True)  # nothing trades before the first upstream snapshot

    # ============================================================ upstream book
    def on_book(self, symbol: str, book: L2Book, changes: Sequence[Change] | None) -> None:
        """VenueBooks callback: ``changes`` is None after a snapshot (take the whole book)."""
        ob = self.engine.books.get(symbol)
        if ob is None:
            return
        ts = book.last_update_ns
        if changes is None:
            self._load_snapshot(symbol, ob, book, ts)
        else:
            self._apply_changes(symbol, ob, changes, ts)
        self.engine.publish(ob, ts)

    def on_sync(self, symbol: str, synced: bool, why: str) -> None:
        """VenueBooks callback: halt the symbol while the upstream book is unknown."""
        if symbol not in self.engine.books:
            return
        self.engine.halt(symbol, not synced)
        log.info("paper_upstream_sync", symbol=symbol, synced=synced, reason=why)

    def _load_snapshot(self, symbol: str, ob: OrderBook, book: L2Book, ts: int) -> None:
        for key in [k for k in self.taken if k[0] == symbol]:
            del self.taken[key]
        bids, asks = book.snapshot()
        changes: list[Change] = []
        for side, levels in ((Side.BUY, bids), (Side.SELL, asks)):
            wanted = dict(levels)
            for price in list(ob.queues(side)):
                if price not in wanted:
                    changes.append((side, price, 0))
            changes.extend((side, p, s) for p, s in levels)
        self._apply_changes(symbol, ob, changes, ts)

    def _apply_changes(
        self, symbol: str, ob: OrderBook, changes: Sequence[Change], ts: int
    ) -> None:
        increases: list[tuple[Side, int, int]] = []
        for side, price, size in changes:
            if size == 0:
                self.taken.pop((symbol, int(side), price), None)
            target = max(0, size - self.taken.get((symbol, int(side), price), 0))
            have = _background(ob, side, price)
            if target < have:
                self._shrink(ob, side, price, have - target)
            elif target > have:
                increases.append((side, price, target - have))
        for side, price, qty in increases:
            self._grow(symbol, ob, side, price, qty, ts=ts)

    def _grow(
        self, symbol: str, ob: OrderBook, side: Side, price: int, qty: int, *, ts: int
    ) -> None:
        best_opp = ob.best(-side)
        key = self._tail_key(ob, side, price)
        if best_opp is not None and (best_opp >= price if side is Side.SELL else best_opp <= price):
            # Upstream moved through our resting order: the new size meets it first.
            filled = self.engine.background_order(symbol, int(side), price, qty, key=key, ts_ns=ts)
            self.agent_fills_from_upstream += filled
        else:
            ob.add(side, price, key, qty)

    def _tail_key(self, ob: OrderBook, side: int, price: int) -> int:
        """The background chunk at the back of the level, or a new one behind our orders."""
        q = ob.queue(side, price)
        if q:
            last = next(reversed(q))
            if last >= 0:
                return last
        key = self._next_chunk
        self._next_chunk += 1
        return key

    def _shrink(self, ob: OrderBook, side: int, price: int, qty: int) -> None:
        q = ob.queue(side, price)
        if not q:
            return
        chunks = [(k, v) for k, v in q.items() if k >= 0]
        if self.queue_model == "pro_rata" and len(chunks) > 1:
            total = sum(v for _, v in chunks)
            left = qty
            for k, v in chunks:
                share = v * qty // total
                left -= ob.take(side, price, k, share)
            for k, _ in reversed(chunks):  # the rounding remainder from the back
                if left <= 0:
                    break
                left -= ob.take(side, price, k, left)
            return
        left = qty
        for k, _ in reversed(chunks):
            left -= ob.take(side, price, k, left)
            if left <= 0:
                break

    # ============================================================ upstream trades
    def on_trade(self, trade: TradePrint) -> None:
        """VenueBooks callback: an upstream trade moves queues and may fill us."""
        ob = self.engine.books.get(trade.symbol)
        if ob is None:
            return
        self.upstream_trades += 1
        ts, price, remaining = trade.ts_ns, trade.price, trade.qty
        aggressor = int(trade.aggressor)
        resting = -aggressor
        agent_filled = 0
        if not ob.halted:
            # 1. our orders priced better than the print: the aggressor met them first
            owned = ob.owned(resting)
            if owned:
                better = sorted(
                    (
                        o
                        for o in owned.values()
                        if o.price is not None and (o.price - price) * resting > 0
                    ),
                    key=lambda o: (-(o.price or 0) * resting, -o.key),
                )
                for o in better:
                    took = self.engine.fill_resting(ob, o.key, remaining, aggressor, ts)
                    remaining -= took
                    agent_filled += took
                    if not remaining:
                        break
            # 2. the queue at the print price, front to back
            q = ob.queue(resting, price)
            if q and remaining:
                for key in list(q):
                    if key < 0:
                        took = self.engine.fill_resting(ob, key, remaining, aggressor, ts)
                        agent_filled += took
                    else:
                        took = ob.take(resting, price, key, remaining)
                    remaining -= took
                    if not remaining:
                        break
        self.agent_fills_from_upstream += agent_filled
        # 3. print the rest of the upstream trade (the part that was not ours)
        if trade.qty - agent_filled > 0:
            self.engine.record_trade(
                ob, price, trade.qty - agent_filled, aggressor, ts, agent=False
            )
        self.engine.publish(ob, ts)

    # ============================================================ agent reports
    def on_report(self, session: str, report: ExecReport | CancelReject) -> None:
        """Report-sink hook: remember liquidity our marketable orders took."""
        if (
            isinstance(report, ExecReport)
            and report.exec_type is ExecType.TRADE
            and report.liquidity == "R"
        ):
            key = (report.symbol, -int(report.side), report.last_px)
            self.taken[key] = self.taken.get(key, 0) + report.last_qty


def _background(ob: OrderBook, side: int, price: int) -> int:
    q = ob.queue(side, price)
    if not q:
        return 0
    return sum(v for k, v in q.items() if k >= 0)

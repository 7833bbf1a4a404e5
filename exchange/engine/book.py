"""One symbol's order-by-order book: price levels of FIFO queues, plus its L2 view.

Each price level is a ``dict`` from order key to resting quantity; a dict keeps
insertion order (time priority), deletes in O(1) from anywhere in the queue (cancels
are far more common than fills), and iterates front to back for matching. The level
totals are not kept here but in the :class:`~exchange.engine.depth.EngineL2Book`,
whose dictionaries are the single copy, so the L2 view can never disagree with the
queues.

Keys: owned orders (clients, agents) have negative keys and an
:class:`~exchange.engine.orders.OwnedOrder` record; background liquidity (LOBSTER
orders under their LOBSTER id, synthetic orders, anonymous size) has keys >= 0.
:data:`PHANTOM_FRONT` and :data:`PHANTOM_BACK` hold size whose individual orders are
unknown (e.g. a level seeded from an orderbook snapshot): the front one queues ahead
of everything at its price, the back one behind.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from core.types import Side
from exchange.engine.depth import EngineL2Book
from exchange.engine.orders import OwnedOrder
from exchange.engine.tape import TradeTape

PHANTOM_FRONT = 0
PHANTOM_BACK = 1 << 62

Queue = dict[int, int]


class OrderBook:
    __slots__ = (
        "ask_q",
        "bid_q",
        "halted",
        "l2",
        "last_trade_px",
        "md_seq",
        "owned_asks",
        "owned_bids",
        "symbol",
        "tape",
        "touched",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.l2 = EngineL2Book(symbol)
        self.bid_q: dict[int, Queue] = {}
        self.ask_q: dict[int, Queue] = {}
        # Resting owned orders by key, per side: the replay checks these for emptiness
        # on every execution, so an empty dict must mean "no agent order on this side".
        self.owned_bids: dict[int, OwnedOrder] = {}
        self.owned_asks: dict[int, OwnedOrder] = {}
        self.md_seq = 0
        self.last_trade_px = 0
        self.halted = False
        self.tape = TradeTape()
        # (side, price) of levels changed since the last market-data flush, or None
        # when nobody publishes market data.
        self.touched: dict[tuple[int, int], None] | None = None

    # ------------------------------------------------------------------ access
    def queues(self, side: int) -> dict[int, Queue]:
        return self.bid_q if side > 0 else self.ask_q

    def sizes(self, side: int) -> dict[int, int]:
        return self.l2.bid_sizes if side > 0 else self.l2.ask_sizes

    def prices(self, side: int) -> list[int]:
        return self.l2.bid_prices if side > 0 else self.l2.ask_prices

    def owned(self, side: int) -> dict[int, OwnedOrder]:
        return self.owned_bids if side > 0 else self.owned_asks

    def queue(self, side: int, price: int) -> Queue | None:
        return (self.bid_q if side > 0 else self.ask_q).get(price)

    def best(self, side: int) -> int | None:
        px = self.l2.bid_prices if side > 0 else self.l2.ask_prices
        if not px:
            return None
        return px[-1] if side > 0 else px[0]

    def level_size(self, side: int, price: int) -> int:
        return self.sizes(side).get(price, 0)

    def ahead_of(self, side: int, price: int, key: int) -> int:
        """Quantity queued ahead of ``key`` at ``price``: its queue position."""
        q = self.queue(side, price)
        if q is None or key not in q:
            raise KeyError(f"{self.symbol}: no order {key} at {price}")
        ahead = 0
        for k, v in q.items():
            if k == key:
                return ahead
            ahead += v
        return ahead  # pragma: no cover - unreachable, key is in q

    # ----------------------------------------------------------------- updates
    def add(self, side: int, price: int, key: int, qty: int) -> None:
        """Queue ``qty`` under ``key`` at the back of ``price`` (adds to an existing key
        in place, which is how phantom size grows without moving)."""
        if side > 0:
            qs, sizes, prices = self.bid_q, self.l2.bid_sizes, self.l2.bid_prices
        else:
            qs, sizes, prices = self.ask_q, self.l2.ask_sizes, self.l2.ask_prices
        q = qs.get(price)
        if q is None:
            qs[price] = {key: qty}
            sizes[price] = qty
            insort(prices, price)
        else:
            q[key] = q.get(key, 0) + qty
            sizes[price] += qty
        if self.touched is not None:
            self.touched[(side, price)] = None

    def add_front(self, side: int, price: int, key: int, qty: int) -> None:
        """Queue ``qty`` under ``key`` ahead of everything at ``price``."""
        qs = self.queues(side)
        q = qs.get(price)
        if q is None or not q or next(iter(q)) == key:
            self.add(side, price, key, qty)
            return
        old = q.pop(key, 0)
        rebuilt = {key: old + qty}
        rebuilt.update(q)
        qs[price] = rebuilt
        self.sizes(side)[price] += qty
        if self.touched is not None:
            self.touched[(side, price)] = None

    def take(self, side: int, price: int, key: int, qty: int) -> int:
        """Remove up to ``qty`` from ``key`` at ``price``; returns what was removed."""
        if side > 0:
            qs, sizes, prices = self.bid_q, self.l2.bid_sizes, self.l2.bid_prices
        else:
            qs, sizes, prices = self.ask_q, self.l2.ask_sizes, self.l2.ask_prices
        q = qs.get(price)
        if q is None:
            return 0
        have = q.get(key)
        if have is None:
            return 0
        took = have if qty >= have else qty
        if took == have:
            del q[key]
        else:
            q[key] = have - took
        left = sizes[price] - took
        if left:
            sizes[price] = left
        else:
            del sizes[price]
            del prices[bisect_left(prices, price)]
            del qs[price]
        if self.touched is not None:
            self.touched[(side, price)] = None
        return took

    def set_key(self, side: int, price: int, key: int, qty: int) -> None:
        """Set ``key``'s quantity in place (keeps its queue position); ``qty`` > 0."""
        q = self.queues(side)[price]
        self.sizes(side)[price] += qty - q[key]
        q[key] = qty
        if self.touched is not None:
            self.touched[(side, price)] = None

    def drop_level(self, side: int, price: int) -> Queue:
        """Remove a whole level; returns its queue."""
        q = self.queues(side).pop(price)
        del self.sizes(side)[price]
        prices = self.prices(side)
        del prices[bisect_left(prices, price)]
        if self.touched is not None:
            self.touched[(side, price)] = None
        return q

    def replace_level(self, side: int, price: int, queue: Queue) -> None:
        """Install ``queue`` as the whole level at ``price`` (empty removes the level)."""
        qs, sizes, prices = self.queues(side), self.sizes(side), self.prices(side)
        existed = price in qs
        total = sum(queue.values())
        if total:
            qs[price] = queue
            sizes[price] = total
            if not existed:
                insort(prices, price)
        elif existed:
            del qs[price]
            del sizes[price]
            del prices[bisect_left(prices, price)]
        if self.touched is not None:
            self.touched[(side, price)] = None

    def clear(self) -> None:
        self.bid_q.clear()
        self.ask_q.clear()
        self.owned_bids.clear()
        self.owned_asks.clear()
        self.l2.reset_levels()
        self.last_trade_px = 0
        self.halted = False
        self.tape.clear()

    def seed(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """Start from an L2 snapshot: one phantom (unknown orders) per level."""
        self.clear()
        for price, size in bids:
            if size > 0:
                self.add(Side.BUY, price, PHANTOM_FRONT, size)
        for price, size in asks:
            if size > 0:
                self.add(Side.SELL, price, PHANTOM_FRONT, size)
        if self.touched is not None:
            self.touched.clear()

    def shift_background(self, delta: int) -> None:
        """Move every background order ``delta`` ticks; owned orders stay at their price.

        Used by the impact models: the replayed market moves, the agent's limit orders
        do not. An owned order keeps its relative place among owned orders but goes to
        the back of its new level (the shifted crowd got there first).
        """
        if delta == 0:
            return
        for side in (1, -1):
            old = self.queues(side)
            new: dict[int, Queue] = {}
            owned: list[tuple[int, int, int]] = []
            for price, q in old.items():
                bg = {}
                for k, v in q.items():
                    if k < 0:
                        owned.append((price, k, v))
                    else:
                        bg[k] = v
                if bg:
                    new[price + delta] = bg
            for price, k, v in owned:
                new.setdefault(price, {})[k] = v
            if self.touched is not None:
                # every level the crowd left and every level it moved to: a subscriber's
                # book must lose the old ones as well as gain the new ones
                for p in (*old, *new):
                    self.touched[(side, p)] = None
            old.clear()
            old.update(new)
            sizes, prices = self.sizes(side), self.prices(side)
            sizes.clear()
            sizes.update({p: sum(q.values()) for p, q in new.items()})
            prices[:] = sorted(new)
        self.l2.seq += 1

    # ------------------------------------------------------------- checking
    def problems(self) -> list[str]:
        """Invariant violations (tests, debugging); empty when the book is sound."""
        out: list[str] = []
        for side, name in ((1, "bid"), (-1, "ask")):
            qs, sizes, prices = self.queues(side), self.sizes(side), self.prices(side)
            if prices != sorted(qs):
                out.append(f"{name} price list {prices[:5]}... != queue prices")
            if set(sizes) != set(qs):
                out.append(f"{name} level totals and queues cover different prices")
            for price, q in qs.items():
                if not q:
                    out.append(f"{name} {price}: empty queue")
                if any(v <= 0 for v in q.values()):
                    out.append(f"{name} {price}: non-positive entry {q}")
                if sizes.get(price) != sum(q.values()):
                    out.append(f"{name} {price}: total {sizes.get(price)} != sum {sum(q.values())}")
                for k in q:
                    if k < 0 and k not in self.owned(side):
                        out.append(f"{name} {price}: owned key {k} has no record")
            for k, o in self.owned(side).items():
                level = qs.get(o.price or 0)
                if level is None or level.get(k) != o.order_qty - o.cum_qty:
                    out.append(f"{name}: owned {o!r} not resting with its leaves quantity")
        bb, ba = self.best(1), self.best(-1)
        if bb is not None and ba is not None and bb >= ba:
            out.append(f"book crossed: bid {bb} >= ask {ba}")
        return out

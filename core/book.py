"""An L2 (price-level) order book in integer ticks and integer sizes.

Built for the hot path of the daemon and the simulator: a dict per side for sizes and
a sorted price list per side (``bisect`` keeps inserts in C), so an update to an
existing level is two dict operations and the best price is an index.

Updates that would corrupt the book are refused *before* anything changes: a
negative size, a non-positive price, or a level that would cross the other side.
Batches (a venue message that moves several levels at once) may pass through a
crossed state mid-way, so they are checked at the end and rolled back as a whole.
Removing a level that is not there is a no-op, because venues' diff feeds send
exactly that for levels outside a client's view.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence

from core.errors import BookError
from core.types import Side

Level = tuple[int, int]  # (price in ticks, size in units)


class L2Book:
    __slots__ = ("_ask_px", "_asks", "_bid_px", "_bids", "last_update_ns", "seq", "symbol")

    def __init__(self, symbol: str = "") -> None:
        self.symbol = symbol
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_px: list[int] = []  # ascending; best bid is the last element
        self._ask_px: list[int] = []  # ascending; best ask is the first element
        self.seq = 0  # count of applied updates, for consumers that detect change
        self.last_update_ns = 0

    # ------------------------------------------------------------- updates
    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_px.clear()
        self._ask_px.clear()

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], ts_ns: int = 0) -> None:
        """Replace the whole book; a malformed or crossed snapshot leaves it untouched."""
        new_bids = self._validated_side(bids, "bid")
        new_asks = self._validated_side(asks, "ask")
        if new_bids and new_asks and max(new_bids) >= min(new_asks):
            raise BookError(
                f"{self.symbol}: snapshot is crossed (best bid {max(new_bids)} >= best ask "
                f"{min(new_asks)})"
            )
        self._bids = new_bids
        self._asks = new_asks
        self._bid_px = sorted(new_bids)
        self._ask_px = sorted(new_asks)
        self.seq += 1
        self.last_update_ns = ts_ns

    def _validated_side(self, levels: Iterable[Level], name: str) -> dict[int, int]:
        out: dict[int, int] = {}
        for level in levels:
            try:
                price, size = level
            except (TypeError, ValueError) as exc:
                raise BookError(
                    f"{self.symbol}: {name} level {level!r} is not (price, size)"
                ) from exc
            _check_price_size(self.symbol, name, price, size)
            if size == 0:
                continue
            if price in out:
                raise BookError(f"{self.symbol}: {name} price {price} appears twice in snapshot")
            out[price] = size
        return out

    def apply_delta(self, side: Side, price: int, size: int, ts_ns: int = 0) -> None:
        """Set the size at one level (0 removes it). Refuses updates that cross the book."""
        if type(price) is not int or type(size) is not int or price <= 0 or size < 0:
            _check_price_size(self.symbol, "bid" if side is Side.BUY else "ask", price, size)
        if side is Side.BUY:
            levels, prices = self._bids, self._bid_px
            if size and self._ask_px and price >= self._ask_px[0]:
                raise BookError(
                    f"{self.symbol}: bid {price} x {size} would cross best ask {self._ask_px[0]}"
                )
        elif side is Side.SELL:
            levels, prices = self._asks, self._ask_px
            if size and self._bid_px and price <= self._bid_px[-1]:
                raise BookError(
                    f"{self.symbol}: ask {price} x {size} would cross best bid {self._bid_px[-1]}"
                )
        else:
            raise BookError(f"{self.symbol}: side {side!r} is not BUY or SELL")
        if size:
            if price not in levels:
                insort(prices, price)
            levels[price] = size
        elif price in levels:
            del levels[price]
            del prices[bisect_left(prices, price)]
        self.seq += 1
        self.last_update_ns = ts_ns

    def apply_batch(self, deltas: Sequence[tuple[Side, int, int]], ts_ns: int = 0) -> None:
        """Apply several level updates atomically; the end state must be uncrossed."""
        for side, price, size in deltas:
            _check_price_size(self.symbol, "bid" if side is Side.BUY else "ask", price, size)
            if side is not Side.BUY and side is not Side.SELL:
                raise BookError(f"{self.symbol}: side {side!r} is not BUY or SELL")
        undo: list[tuple[Side, int, int]] = []
        for side, price, size in deltas:
            levels = self._bids if side is Side.BUY else self._asks
            undo.append((side, price, levels.get(price, 0)))
            self._set(side, price, size)
        if self._bid_px and self._ask_px and self._bid_px[-1] >= self._ask_px[0]:
            crossed = (self._bid_px[-1], self._ask_px[0])
            for side, price, size in reversed(undo):
                self._set(side, price, size)
            raise BookError(
                f"{self.symbol}: batch of {len(deltas)} updates would leave the book crossed "
                f"(bid {crossed[0]} >= ask {crossed[1]}); nothing applied"
            )
        self.seq += 1
        self.last_update_ns = ts_ns

    def _set(self, side: Side, price: int, size: int) -> None:
        levels, prices = (
            (self._bids, self._bid_px) if side is Side.BUY else (self._asks, self._ask_px)
        )
        if size:
            if price not in levels:
                insort(prices, price)
            levels[price] = size
        elif price in levels:
            del levels[price]
            del prices[bisect_left(prices, price)]

    # ------------------------------------------------------------- queries
    @property
    def best_bid(self) -> int | None:
        return self._bid_px[-1] if self._bid_px else None

    @property
    def best_ask(self) -> int | None:
        return self._ask_px[0] if self._ask_px else None

    @property
    def best_bid_size(self) -> int:
        return self._bids[self._bid_px[-1]] if self._bid_px else 0

    @property
    def best_ask_size(self) -> int:
        return self._asks[self._ask_px[0]] if self._ask_px else 0

    @property
    def is_two_sided(self) -> bool:
        return bool(self._bid_px) and bool(self._ask_px)

    @property
    def spread(self) -> int | None:
        if not (self._bid_px and self._ask_px):
            return None
        return self._ask_px[0] - self._bid_px[-1]

    @property
    def mid(self) -> float | None:
        if not (self._bid_px and self._ask_px):
            return None
        return (self._ask_px[0] + self._bid_px[-1]) / 2

    def size_at(self, side: Side, price: int) -> int:
        return (self._bids if side is Side.BUY else self._asks).get(price, 0)

    def best(self, side: Side) -> int | None:
        return self.best_bid if side is Side.BUY else self.best_ask

    def depth(self, side: Side, levels: int) -> list[Level]:
        """The best ``levels`` levels of one side, best first."""
        if side is Side.BUY:
            px = self._bid_px[-levels:][::-1] if levels > 0 else []
            return [(p, self._bids[p]) for p in px]
        px = self._ask_px[:levels] if levels > 0 else []
        return [(p, self._asks[p]) for p in px]

    def volume(self, side: Side, levels: int) -> int:
        if levels <= 0:
            return 0
        if side is Side.BUY:
            return sum(self._bids[p] for p in self._bid_px[-levels:])
        return sum(self._asks[p] for p in self._ask_px[:levels])

    def level_count(self, side: Side) -> int:
        return len(self._bid_px if side is Side.BUY else self._ask_px)

    def imbalance(self, levels: int = 1) -> float:
        """(bid volume - ask volume) / total over the top ``levels``; 0 for an empty book."""
        b = self.volume(Side.BUY, levels)
        a = self.volume(Side.SELL, levels)
        return (b - a) / (b + a) if b + a else 0.0

    def microprice(self) -> float | None:
        """Size-weighted mid: leans toward the side with less size (the likelier next move)."""
        if not (self._bid_px and self._ask_px):
            return None
        bid, ask = self._bid_px[-1], self._ask_px[0]
        bs, az = self._bids[bid], self._asks[ask]
        return (bid * az + ask * bs) / (bs + az)

    def snapshot(self, levels: int | None = None) -> tuple[list[Level], list[Level]]:
        n = max(len(self._bid_px), len(self._ask_px)) if levels is None else levels
        return self.depth(Side.BUY, n), self.depth(Side.SELL, n)

    def cost_to_fill(self, side: Side, qty: int) -> tuple[int, int]:
        """Walk the opposite side for an aggressive ``side`` order: (filled qty, notional)."""
        filled = notional = 0
        prices = self._ask_px if side is Side.BUY else reversed(self._bid_px)
        levels = self._asks if side is Side.BUY else self._bids
        for p in prices:
            take = min(levels[p], qty - filled)
            filled += take
            notional += take * p
            if filled == qty:
                break
        return filled, notional


def _check_price_size(symbol: str, side: str, price: object, size: object) -> None:
    if type(price) is not int:
        raise BookError(f"{symbol}: {side} price {price!r} must be an integer number of ticks")
    if type(size) is not int:
        raise BookError(f"{symbol}: {side} size {size!r} at {price} must be an integer")
    if price <= 0:
        raise BookError(f"{symbol}: {side} price {price} must be > 0 ticks")
    if size < 0:
        raise BookError(f"{symbol}: {side} size {size} at {price} must be >= 0")

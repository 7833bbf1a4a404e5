"""The overlay's own book-keeping per symbol: book view, position, worst-case open exposure.

Nothing here trusts the policy or the engine's order tracker: it is rebuilt from what
the overlay approved and what the venue reported. Open exposure is counted at worst
case: an order counts its whole remaining quantity from the moment it is approved
until the venue says it is done, and an order with a replace in flight counts the
larger of its old and new remainder, because either may be the one that trades.

Plain classes with ``__slots__`` and integer fields: the check chain reads them
directly, which is most of what keeps it within its microsecond budget.
"""

from __future__ import annotations

from decimal import Decimal

from core.types import OrdType, Side
from risk.events import OpenOrder
from risk.limits import SymbolLimits
from risk.participation import RollingVolume
from risk.trading_state import TradingState

BUY = Side.BUY  # a module constant: ``Side.BUY`` is a class-attribute lookup on every use


class LiveOrder:
    """One order the overlay approved (or adopted at recovery) that is not yet done."""

    __slots__ = (
        "cancel_pending",
        "cl_ord_id",
        "cum",
        "exposure",
        "ord_type",
        "pending_id",
        "pending_price",
        "pending_qty",
        "price",
        "qty",
        "side",
        "sym",
    )

    def __init__(  # noqa: PLR0917  (built once per approved order: positional is cheaper)
        self,
        cl_ord_id: str,
        sym: SymbolRisk,
        side: Side,
        qty: int,
        price: int | None,
        ord_type: OrdType,
        exposure: int,
        cum: int = 0,
    ) -> None:
        self.cl_ord_id = cl_ord_id
        self.sym = sym
        self.side = side
        self.qty = qty
        self.price = price
        self.ord_type = ord_type
        self.cum = cum
        self.exposure = exposure  # what this order adds to sym.open_buy / open_sell (the
        # caller adds it there; set_exposure keeps the two in step afterwards)
        self.pending_id: str | None = None
        self.pending_qty = 0
        self.pending_price: int | None = None
        self.cancel_pending = False

    def worst_case_leaves(self) -> int:
        leaves = self.qty - self.cum
        if self.pending_id is not None:
            alt = self.pending_qty - self.cum
            leaves = max(leaves, alt)
        return leaves if leaves > 0 else 0

    def view(self) -> OpenOrder:
        return OpenOrder(
            cl_ord_id=self.cl_ord_id,
            symbol=self.sym.limits.symbol,
            side=self.side,
            qty=self.qty,
            cum_qty=self.cum,
            price=self.price,
            ord_type=self.ord_type,
            cancel_pending=self.cancel_pending,
            pending_cl_ord_id=self.pending_id,
        )


class SymbolRisk:
    """Mutable per-symbol state next to its frozen limits."""

    __slots__ = (
        "ask_depth",
        "best_ask",
        "best_bid",
        "bid_depth",
        "book_ns",
        "buy_px",
        "cash_tu",
        "collar_high",
        "collar_low",
        "last_px",
        "limits",
        "market_volume",
        "max_buy",
        "mid2",
        "min_sell",
        "open_buy",
        "open_count",
        "open_sell",
        "our_volume",
        "pnl",
        "pnl_tu",
        "position",
        "sell_px",
        "state",
        "venue_halted",
    )

    def __init__(self, limits: SymbolLimits, participation_window_ns: int) -> None:
        self.limits = limits
        # book view (copied from each update: the engine's book object is not kept)
        self.book_ns: int | None = None  # receive time of the last book update
        self.best_bid: int | None = None
        self.best_ask: int | None = None
        self.mid2 = 0  # bid + ask (twice the mid, exact); 0 when the book is one-sided
        self.collar_low = 0  # lowest / highest limit price inside the collar, in ticks
        self.collar_high = 0
        self.bid_depth = 0  # bid size within the collar: what a market sell can hit
        self.ask_depth = 0
        # position and P&L (tick-units: quantity units x price ticks)
        self.position = 0
        self.cash_tu = 0
        self.last_px = 0
        self.pnl_tu = 0
        self.pnl = Decimal(0)
        # worst-case open exposure
        self.open_buy = 0
        self.open_sell = 0
        self.open_count = 0
        self.buy_px: dict[int, int] = {}  # our resting limit prices -> count, per side
        self.sell_px: dict[int, int] = {}
        self.max_buy: int | None = None
        self.min_sell: int | None = None
        # states
        self.state = TradingState.ACTIVE
        self.venue_halted = False
        # participation
        self.market_volume = RollingVolume(participation_window_ns)
        self.our_volume = RollingVolume(participation_window_ns)

    # ---------------------------------------------------------------- exposure
    def set_exposure(self, order: LiveOrder, exposure: int) -> None:
        delta = exposure - order.exposure
        if delta:
            if order.side is BUY:
                self.open_buy += delta
            else:
                self.open_sell += delta
            order.exposure = exposure

    # ------------------------------------------------------- resting prices
    def add_resting(self, side: Side, price: int) -> None:
        if side is BUY:
            self.buy_px[price] = self.buy_px.get(price, 0) + 1
            if self.max_buy is None or price > self.max_buy:
                self.max_buy = price
        else:
            self.sell_px[price] = self.sell_px.get(price, 0) + 1
            if self.min_sell is None or price < self.min_sell:
                self.min_sell = price

    def remove_resting(self, side: Side, price: int) -> None:
        prices = self.buy_px if side is BUY else self.sell_px
        left = prices.get(price, 0) - 1
        if left > 0:
            prices[price] = left
            return
        prices.pop(price, None)
        if side is BUY:
            if price == self.max_buy:
                self.max_buy = max(prices) if prices else None
        elif price == self.min_sell:
            self.min_sell = min(prices) if prices else None

    # ------------------------------------------------------------------- P&L
    def mark_price(self) -> int:
        """Where the position would be liquidated: bid for a long, ask for a short."""
        if self.position > 0:
            return self.best_bid or self.last_px
        if self.position < 0:
            return self.best_ask or self.last_px
        return 0

"""Orders the engine reports on: a client's (FIX session's) or an agent's order.

Background liquidity (replayed LOBSTER orders, synthetic flow) lives in the book as
bare quantities under a non-negative key and never produces reports; an *owned* order
has a negative key and this record, which carries everything an ExecutionReport needs.
Its leaves quantity is the value under its key in the level queue, nowhere else.
"""

from __future__ import annotations

from core.types import OrdStatus, OrdType, Side, TimeInForce


class OwnedOrder:
    __slots__ = (
        "account",
        "cl_ord_id",
        "created_ns",
        "cum_qty",
        "key",
        "notional",
        "ord_type",
        "order_qty",
        "parent_id",
        "price",
        "session",
        "side",
        "status",
        "symbol",
        "tif",
        "venue_order_id",
    )

    def __init__(
        self,
        key: int,
        *,
        cl_ord_id: str,
        session: str,
        account: str,
        symbol: str,
        side: Side,
        order_qty: int,
        price: int | None,
        ord_type: OrdType,
        tif: TimeInForce,
        parent_id: str,
        created_ns: int,
    ) -> None:
        self.key = key
        self.cl_ord_id = cl_ord_id
        self.session = session
        self.account = account
        self.symbol = symbol
        self.side = side
        self.order_qty = order_qty
        self.price = price
        self.ord_type = ord_type
        self.tif = tif
        self.parent_id = parent_id
        self.created_ns = created_ns
        self.cum_qty = 0
        self.notional = 0
        self.status = OrdStatus.NEW
        # OrderID(37) on every report: fixed for the order's life (key and symbol never change)
        self.venue_order_id = f"{symbol}-{-key}"

    @property
    def leaves_qty(self) -> int:
        return 0 if self.status.is_terminal else self.order_qty - self.cum_qty

    @property
    def avg_px(self) -> float:
        return self.notional / self.cum_qty if self.cum_qty else 0.0

    def __repr__(self) -> str:
        return (
            f"OwnedOrder({self.cl_ord_id} {self.side.name} {self.cum_qty}/{self.order_qty} "
            f"@ {self.price} {self.status.name})"
        )

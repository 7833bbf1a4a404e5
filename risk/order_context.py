"""The request under check, bound once: what every check reads and every denial names.

The checks in :mod:`risk.overlay` each take one of these, so a denial is one line
(``return o.deny(R.LOT_SIZE, LimitBreach(...))``) that always carries the same kind,
ClOrdID, symbol and time. The request's fields are copied as given, unchecked: the
first checks are the ones that verify their types.

The overlay keeps one context and rebinds it for every request instead of building a
new one: the check chain is the risk overlay's hot path, and an allocation per request
costs more than all the stores. That is safe because nothing runs between binding and
the last read of a request's context but the checks themselves, which call nothing
outside the overlay (listeners hear a denial only once it is built). What a check
binds on the way (the symbol's risk state, a replace's live order) is unbound again by
:meth:`OrderContext.bind`, so a check that read it too early would fail loudly (an
internal-error denial, never an approval), not read the last request's.
"""

from __future__ import annotations

from typing import cast

from core.requests import NewOrderRequest, ReplaceRequest
from core.types import Side
from risk.exposure import LiveOrder, SymbolRisk
from risk.reasons import Denied, DenyContext, DenyReason, OrderKind, safe_text


class _Unbound:
    """Stands in for what a check has not bound yet: any attribute read raises."""

    __slots__ = ()


_UNBOUND = _Unbound()
_NO_SYMBOL = cast(SymbolRisk, _UNBOUND)
_NO_ORDER = cast(LiveOrder, _UNBOUND)


class OrderContext:
    """One new order or replace on its way through the check chain."""

    __slots__ = (
        "added",
        "cl_ord_id",
        "filled",
        "kind",
        "now",
        "order",
        "orig_cl_ord_id",
        "price",
        "qty",
        "req",
        "side",
        "sym",
        "symbol",
    )

    def __init__(self) -> None:
        self.sym = _NO_SYMBOL  # the symbol's risk state: bound by the allow-list check
        # (a new order) or the live-order check (a replace, with the order below)
        self.order = _NO_ORDER  # a replace's live order
        self.orig_cl_ord_id = ""  # a replace's: which order it amends (bound once checked)

    def bind(self, kind: OrderKind, req: NewOrderRequest | ReplaceRequest, now_ns: int) -> None:
        """Start on ``req``: what it asks, as given, and nothing the checks look up."""
        self.kind = kind
        self.req = req
        self.now = now_ns
        self.cl_ord_id = req.cl_ord_id
        self.symbol = req.symbol
        self.side: Side = req.side
        self.qty = req.qty  # the order's total quantity, as the venue will see it
        self.price = req.price
        self.filled = 0  # already filled: the new quantity must be more (a replace's)
        self.added = req.qty  # what approval adds to worst-case open exposure: all of a
        # new order; a replace's growth of the remainder, bound with the live order
        self.sym = _NO_SYMBOL
        self.order = _NO_ORDER
        self.orig_cl_ord_id = ""

    def deny(self, reason: DenyReason, context: DenyContext) -> Denied:
        """The denial of this request, for ``reason``; its ids rendered printable."""
        return Denied(
            reason, context, self.kind, safe_text(self.cl_ord_id), safe_text(self.symbol), self.now
        )

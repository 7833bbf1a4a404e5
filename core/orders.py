"""Child orders and their life cycle, following FIX OrdStatus semantics.

The state machine is the single authority on what an order may do next. Every event
from the venue or from our own side goes through one method here; an event the
machine does not allow raises :class:`IllegalTransition` naming the order, its state
and the event, rather than being silently absorbed. Races FIX explicitly allows (a
fill while a cancel is pending, a cancel reject for an order that filled meanwhile)
are legal transitions, not errors.

A status answer (OrderStatusRequest) is information about the order it names, as the
venue held it when the question arrived: a cancel or replace we sent after asking is
still ahead of it on the wire, so such an answer never moves an order out of a pending
state. A venue that does not know an order at all ends it without touching its fills.

Invariant while an order is not terminal: ``cum_qty + leaves_qty == qty``.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import IllegalTransition, OverfillError
from core.fills import Fill
from core.types import OrdStatus, OrdType, Side, TimeInForce

S = OrdStatus

_CAN_FILL = frozenset(
    {S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE}
)
_WORKING = frozenset({S.NEW, S.PARTIALLY_FILLED})


@dataclass(frozen=True, slots=True)
class PendingReplace:
    """What a cancel/replace request asked for, kept until the venue answers."""

    new_cl_ord_id: str
    price: int | None
    qty: int


class ChildOrder:
    """One order sent to the venue on behalf of a parent order."""

    __slots__ = (
        "cl_ord_id",
        "created_ns",
        "cum_qty",
        "exec_ids",
        "notional",
        "ord_type",
        "orig_cl_ord_id",
        "parent_id",
        "pending_cancel_id",
        "pending_replace",
        "price",
        "qty",
        "reject_reason",
        "side",
        "status",
        "symbol",
        "tif",
        "updated_ns",
        "venue_order_id",
    )

    def __init__(
        self,
        cl_ord_id: str,
        symbol: str,
        side: Side,
        qty: int,
        price: int | None,
        *,
        ord_type: OrdType = OrdType.LIMIT,
        tif: TimeInForce = TimeInForce.DAY,
        parent_id: str = "",
        created_ns: int = 0,
        orig_cl_ord_id: str = "",
        cum_qty: int = 0,
        notional: int = 0,
        status: OrdStatus = S.PENDING_NEW,
    ) -> None:
        if not cl_ord_id:
            raise ValueError("child order needs a ClOrdID")
        if qty <= 0:
            raise ValueError(f"{cl_ord_id}: order quantity must be > 0, got {qty}")
        if ord_type is OrdType.LIMIT and (price is None or price <= 0):
            raise ValueError(f"{cl_ord_id}: a limit order needs a price > 0 ticks, got {price}")
        if ord_type is OrdType.MARKET and price is not None:
            raise ValueError(f"{cl_ord_id}: a market order carries no price, got {price}")
        if not 0 <= cum_qty <= qty:
            raise ValueError(f"{cl_ord_id}: cum_qty {cum_qty} outside [0, {qty}]")
        self.cl_ord_id = cl_ord_id
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.price = price
        self.ord_type = ord_type
        self.tif = tif
        self.parent_id = parent_id
        self.created_ns = created_ns
        self.updated_ns = created_ns
        self.orig_cl_ord_id = orig_cl_ord_id
        self.status = status
        self.cum_qty = cum_qty
        self.notional = notional
        self.exec_ids: set[str] = set()
        self.venue_order_id = ""
        self.pending_replace: PendingReplace | None = None
        self.pending_cancel_id = ""  # the cancel request's own ClOrdID, while one is in flight
        self.reject_reason = ""

    # --------------------------------------------------------------- derived
    @property
    def leaves_qty(self) -> int:
        return 0 if self.status.is_terminal else self.qty - self.cum_qty

    @property
    def is_live(self) -> bool:
        """Could still trade: not terminal (pending states included)."""
        return not self.status.is_terminal

    @property
    def worst_case_leaves(self) -> int:
        """What could still fill: the remainder, or the larger one an in-flight replace
        asks for (the venue may apply either)."""
        leaves = self.leaves_qty
        if self.pending_replace is not None:
            leaves = max(leaves, self.pending_replace.qty - self.cum_qty)
        return max(0, leaves)

    @property
    def pending_id(self) -> str:
        """The ClOrdID of the request awaiting the venue's answer ("" when none): the
        order's own for a new order, the cancel's, or the replace's new one."""
        if self.status is S.PENDING_NEW:
            return self.cl_ord_id
        if self.status is S.PENDING_CANCEL:
            return self.pending_cancel_id
        if self.status is S.PENDING_REPLACE and self.pending_replace is not None:
            return self.pending_replace.new_cl_ord_id
        return ""

    @property
    def avg_px(self) -> float:
        """Average fill price in ticks (a report figure, never used to price an order)."""
        return self.notional / self.cum_qty if self.cum_qty else 0.0

    def __repr__(self) -> str:
        return (
            f"ChildOrder({self.cl_ord_id} {self.side.name} {self.symbol} "
            f"{self.cum_qty}/{self.qty} @ {self.price} {self.status.name})"
        )

    # ------------------------------------------------------------ transitions
    def _illegal(self, event: str) -> IllegalTransition:
        return IllegalTransition(
            f"order {self.cl_ord_id}: event {event!r} is not allowed in state "
            f"{self.status.name} (cum {self.cum_qty}/{self.qty})"
        )

    def _working_status(self) -> OrdStatus:
        return S.PARTIALLY_FILLED if self.cum_qty else S.NEW

    def on_ack(self, ts_ns: int = 0, venue_order_id: str = "") -> None:
        """The venue accepted the order (ExecType=New)."""
        if self.status.is_terminal:
            raise self._illegal("ack")
        if venue_order_id:
            self.venue_order_id = venue_order_id
        if self.status is not S.PENDING_NEW:
            return  # a repeated or late New after fills / a cancel request changes nothing
        self.status = self._working_status()
        self.updated_ns = ts_ns

    def on_reject(self, reason: str = "", ts_ns: int = 0) -> None:
        """The venue refused the new order (ExecType=Rejected)."""
        if self.status is not S.PENDING_NEW:
            raise self._illegal("reject")
        self.status = S.REJECTED
        self.reject_reason = reason
        self.updated_ns = ts_ns

    def on_fill(self, fill: Fill) -> bool:
        """Apply an execution; returns False (and changes nothing) for a repeated ExecID."""
        if fill.exec_id in self.exec_ids:
            return False
        if fill.cl_ord_id not in (self.cl_ord_id, self.orig_cl_ord_id) and (
            self.pending_replace is None or fill.cl_ord_id != self.pending_replace.new_cl_ord_id
        ):
            raise ValueError(
                f"order {self.cl_ord_id}: fill {fill.exec_id} belongs to {fill.cl_ord_id}"
            )
        if self.status not in _CAN_FILL:
            raise self._illegal(f"fill {fill.exec_id}")
        if fill.side is not self.side:
            raise ValueError(
                f"order {self.cl_ord_id}: fill {fill.exec_id} side {fill.side.name} "
                f"differs from order side {self.side.name}"
            )
        if self.cum_qty + fill.qty > self.qty:
            raise OverfillError(
                f"order {self.cl_ord_id}: fill {fill.exec_id} of {fill.qty} would take cum "
                f"{self.cum_qty} past order quantity {self.qty}"
            )
        self.exec_ids.add(fill.exec_id)
        self.cum_qty += fill.qty
        self.notional += fill.notional
        self.updated_ns = fill.ts_ns
        if self.cum_qty == self.qty:
            self.status = S.FILLED
            self._end_requests()
        elif self.status in (S.PENDING_NEW, S.NEW):
            self.status = S.PARTIALLY_FILLED
        return True

    def request_cancel(self, ts_ns: int = 0, request_id: str = "") -> None:
        if self.status not in _WORKING:
            raise self._illegal("cancel request")
        self.status = S.PENDING_CANCEL
        self.pending_cancel_id = request_id
        self.updated_ns = ts_ns

    def on_canceled(self, ts_ns: int = 0) -> None:
        """Canceled by our request, or unsolicited by the venue (IOC remainder, kill)."""
        if self.status in (S.PENDING_CANCEL, S.PENDING_REPLACE, S.NEW, S.PARTIALLY_FILLED):
            self.status = S.CANCELED
            self._end_requests()
            self.updated_ns = ts_ns
            return
        if self.status is S.PENDING_NEW and self.tif is not TimeInForce.DAY:
            # An IOC/FOK that found nothing is accepted and canceled in one report.
            self.status = S.CANCELED
            self.updated_ns = ts_ns
            return
        raise self._illegal("canceled")

    def on_cancel_reject(self, ts_ns: int = 0) -> None:
        """The venue refused a cancel or replace; the order keeps working as it was.

        When the order already filled or was canceled the reject is the expected tail
        of a race and changes nothing.
        """
        if self.status in (S.PENDING_CANCEL, S.PENDING_REPLACE):
            self.status = self._working_status()
            self._end_requests()
            self.updated_ns = ts_ns
            return
        if self.status in (S.FILLED, S.CANCELED, S.EXPIRED):
            return
        raise self._illegal("cancel reject")

    def request_replace(
        self, new_cl_ord_id: str, price: int | None, qty: int, ts_ns: int = 0
    ) -> None:
        """Ask to amend price and/or total quantity; ``qty`` includes what already filled."""
        if self.status not in _WORKING:
            raise self._illegal("replace request")
        if qty <= self.cum_qty:
            raise ValueError(
                f"order {self.cl_ord_id}: replace quantity {qty} must exceed filled {self.cum_qty}"
            )
        if self.ord_type is OrdType.LIMIT and (price is None or price <= 0):
            raise ValueError(f"order {self.cl_ord_id}: replace needs a price > 0, got {price}")
        if not new_cl_ord_id or new_cl_ord_id == self.cl_ord_id:
            raise ValueError(f"order {self.cl_ord_id}: replace needs a fresh ClOrdID")
        self.pending_replace = PendingReplace(new_cl_ord_id, price, qty)
        self.status = S.PENDING_REPLACE
        self.updated_ns = ts_ns

    def on_replaced(self, ts_ns: int = 0, venue_order_id: str = "") -> ChildOrder:
        """The venue applied the replace: this order ends, its successor carries on."""
        pending = self.pending_replace
        if self.status is not S.PENDING_REPLACE or pending is None:
            raise self._illegal("replaced")
        # Fills may have raced the replace past its new size: the successor is then born
        # filled rather than with a negative remainder.
        successor = ChildOrder(
            pending.new_cl_ord_id,
            self.symbol,
            self.side,
            max(pending.qty, self.cum_qty),
            pending.price,
            ord_type=self.ord_type,
            tif=self.tif,
            parent_id=self.parent_id,
            created_ns=ts_ns,
            orig_cl_ord_id=self.cl_ord_id,
            cum_qty=self.cum_qty,
            notional=self.notional,
            status=S.NEW,
        )
        successor.status = successor._working_status()
        if successor.cum_qty == successor.qty:
            successor.status = S.FILLED
        successor.exec_ids = set(self.exec_ids)
        successor.venue_order_id = venue_order_id or self.venue_order_id
        self.status = S.REPLACED
        self.pending_replace = None
        self.updated_ns = ts_ns
        return successor

    def on_expired(self, ts_ns: int = 0) -> None:
        if self.status.is_terminal:
            raise self._illegal("expired")
        self.status = S.EXPIRED
        self._end_requests()
        self.updated_ns = ts_ns

    def on_status(self, status: OrdStatus, cum_qty: int, ts_ns: int = 0) -> None:
        """Adopt what an OrderStatusRequest answer says about this order.

        The answer shows the order as the venue held it when the question arrived. A
        cancel or replace we sent after asking is still ahead of it on the wire, so a
        working or pending answer never moves the order out of a pending state (only the
        venue's answer to that request may); it only settles a new order's ack. An end
        the venue reports (filled, cancelled, expired, rejected) is adopted. Fills come
        separately with ExecIDs, so quantities are never taken from here: a CumQty that
        differs from ours is the tracker's to flag, not this method's to copy.
        """
        if self.status.is_terminal:
            if status.is_terminal or self.status is S.REPLACED:
                return  # the venue agrees it ended (or the chain lives on in the successor)
            raise self._illegal(f"status {status.name}")
        if status is S.REPLACED:
            return  # the Replaced report (or the question under the new ClOrdID) settles it
        if status.is_terminal:
            self.status = status
            self._end_requests()
        elif self.status is S.PENDING_NEW and status is not S.PENDING_NEW:
            self.status = self._working_status()  # the ack we never saw
        else:
            return  # information only: our state already says as much, or more
        self.updated_ns = ts_ns

    def on_unknown(self, ts_ns: int = 0) -> None:
        """The venue does not know this order: nothing more can fill.

        Never acknowledged and never filled, it never reached the venue: rejected. Known
        before (acknowledged or filled), the venue has forgotten it (a restart): cancelled
        with its fills kept, so position and parent stay right and the leaves go to zero.
        """
        if self.status.is_terminal:
            return
        never_there = self.status is S.PENDING_NEW and self.cum_qty == 0
        self.status = S.REJECTED if never_there else S.CANCELED
        if never_there:
            self.reject_reason = "unknown to the venue"
        self._end_requests()
        self.updated_ns = ts_ns

    def _end_requests(self) -> None:
        """The order left its pending state: no request of ours is in flight any more."""
        self.pending_replace = None
        self.pending_cancel_id = ""

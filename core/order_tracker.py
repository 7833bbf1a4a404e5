"""The node's record of its child orders, fed by the venue's reports.

One instance per node (daemon) or per episode (simulator); both feed it the same
:class:`~core.events.ExecReport` objects, which is half of the "one execution path"
rule: fills, cancels and replaces mean the same thing in training and live.

FIX addresses a cancel or replace by its own request ClOrdID with OrigClOrdID naming
the order; the tracker resolves either to the order chain, so callers never handle
that indirection. A replace chain is followed both ways: the new ClOrdID of a replace
still in flight names the order it would replace, and a fill reported under a ClOrdID
that was replaced meanwhile lands on the order that carries the chain now.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import CoreError
from core.events import CancelReject, ExecReport
from core.fills import Fill
from core.orders import ChildOrder
from core.seen_ids import SeenIds
from core.types import ExecType, OrdStatus


class UnknownOrder(CoreError):
    """A report for a ClOrdID this node never sent (or has forgotten)."""


def venue_does_not_know(r: ExecReport) -> bool:
    """An OrderStatusRequest answer saying the venue has no such order: OrdStatus
    Rejected with nothing ordered and nothing filled (OrdRejReason 5 when given)."""
    return (
        r.exec_type is ExecType.ORDER_STATUS
        and r.ord_status is OrdStatus.REJECTED
        and r.cum_qty == 0
        and (r.order_qty == 0 or r.ord_rej_reason == 5)
    )


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    order: ChildOrder  # the order the report applied to (the successor after a replace)
    fill: Fill | None = None  # a new fill, never a duplicate
    duplicate: bool = False  # a repeated ExecID: nothing changed
    replaced: ChildOrder | None = None  # the order a replace ended
    cum_mismatch: bool = False  # venue's CumQty differs from ours: a fill went missing


# Finished orders a node remembers (the newest): enough for any late or duplicate report
# about one (they come within seconds, not ten thousand orders later), bounded so a day
# of trading does not grow the daemon's memory (~700 bytes an order, measured by the
# one-hour soak). ExecIDs are kept for the whole day: a duplicate fill is never re-applied.
KEEP_TERMINAL = 10_000


class OrderTracker:
    def __init__(self, keep_terminal: int = KEEP_TERMINAL) -> None:
        self.keep_terminal = keep_terminal
        self._prune_at = 2 * keep_terminal  # amortised: prune() walks every order
        self.orders: dict[str, ChildOrder] = {}
        # the non-terminal subset, per parent, so live() does not walk every order ever
        # sent; kept in step by _settle() after every event that can end an order
        self._live: dict[str, dict[str, ChildOrder]] = {}
        self._alias: dict[str, str] = {}  # cancel/replace request ClOrdID -> order ClOrdID
        self._successor: dict[str, str] = {}  # replaced ClOrdID -> the one that replaced it
        self._exec_ids = SeenIds()  # every fill's ExecID today: compact, exact

    def __len__(self) -> int:
        return len(self.orders)

    def __contains__(self, cl_ord_id: object) -> bool:
        return cl_ord_id in self.orders or cl_ord_id in self._alias

    def get(self, cl_ord_id: str) -> ChildOrder:
        order = self.orders.get(cl_ord_id)
        if order is None:
            alias = self._alias.get(cl_ord_id)
            order = self.orders.get(alias) if alias else None
        if order is None:
            raise UnknownOrder(f"no child order with ClOrdID {cl_ord_id!r}")
        return order

    def current(self, cl_ord_id: str) -> ChildOrder:
        """The order that carries ``cl_ord_id``'s chain now: replaces followed forward."""
        order = self.get(cl_ord_id)
        while order.status is OrdStatus.REPLACED:
            nxt = self.orders.get(self._successor.get(order.cl_ord_id, ""))
            if nxt is None:
                break
            order = nxt
        return order

    def live(self, parent_id: str | None = None) -> Iterator[ChildOrder]:
        """Working orders (of one parent); a snapshot, so callers may act while iterating."""
        if parent_id is not None:
            bucket = self._live.get(parent_id)
            return iter([o for o in bucket.values() if o.is_live] if bucket else ())
        return iter([o for b in self._live.values() for o in b.values() if o.is_live])

    def _settle(self, order: ChildOrder) -> None:
        """Index ``order`` as working, or drop it from the index once it has ended."""
        bucket = self._live.get(order.parent_id)
        if order.is_live:
            if bucket is None:
                bucket = self._live[order.parent_id] = {}
            bucket[order.cl_ord_id] = order
        elif bucket is not None:
            bucket.pop(order.cl_ord_id, None)
            if not bucket:
                del self._live[order.parent_id]

    def seen_exec_id(self, exec_id: str) -> bool:
        return exec_id in self._exec_ids

    def remember_exec_ids(self, exec_ids: set[str]) -> None:
        """Recovery: fills already journalled must not be applied again."""
        self._exec_ids.update(exec_ids)

    # ------------------------------------------------------------- our side
    def add(self, order: ChildOrder) -> None:
        if order.cl_ord_id in self:
            raise ValueError(f"ClOrdID {order.cl_ord_id} already used")
        self.orders[order.cl_ord_id] = order
        self._settle(order)
        if len(self.orders) >= self._prune_at:
            self.prune(self.keep_terminal)
            self._prune_at = len(self.orders) + self.keep_terminal

    def request_cancel(self, cl_ord_id: str, request_id: str, ts_ns: int = 0) -> ChildOrder:
        order = self.get(cl_ord_id)
        if request_id in self:
            raise ValueError(f"ClOrdID {request_id} already used")
        order.request_cancel(ts_ns, request_id)
        self._alias[request_id] = order.cl_ord_id
        return order

    def request_replace(
        self, cl_ord_id: str, new_id: str, price: int | None, qty: int, ts_ns: int = 0
    ) -> ChildOrder:
        order = self.get(cl_ord_id)
        if new_id in self:
            raise ValueError(f"ClOrdID {new_id} already used")
        order.request_replace(new_id, price, qty, ts_ns)
        self._alias[new_id] = order.cl_ord_id
        return order

    # ------------------------------------------------------------ venue side
    def on_exec_report(self, r: ExecReport) -> OrderUpdate:
        et = r.exec_type
        if et is ExecType.TRADE:
            return self._on_trade(r)
        if r.exec_id and r.exec_id in self._exec_ids:
            return OrderUpdate(self.get(r.cl_ord_id), duplicate=True)
        if et is ExecType.REPLACED:
            old = self.get(r.orig_cl_ord_id or r.cl_ord_id)
            successor = old.on_replaced(r.ts_ns, r.venue_order_id)
            self._alias.pop(successor.cl_ord_id, None)
            self.orders[successor.cl_ord_id] = successor
            self._successor[old.cl_ord_id] = successor.cl_ord_id
            self._settle(old)
            self._settle(successor)
            self._remember(r.exec_id)
            return OrderUpdate(successor, replaced=old)
        order = self._target(r)
        if et in (ExecType.NEW, ExecType.PENDING_NEW):
            if et is ExecType.NEW:
                order.on_ack(r.ts_ns, r.venue_order_id)
        elif et is ExecType.REJECTED:
            order.on_reject(r.text, r.ts_ns)
        elif et is ExecType.CANCELED:
            order.on_canceled(r.ts_ns)
        elif et is ExecType.EXPIRED:
            order.on_expired(r.ts_ns)
        elif et is ExecType.ORDER_STATUS:
            if venue_does_not_know(r):
                order.on_unknown(r.ts_ns)
                self._settle(order)
                self._remember(r.exec_id)
                return OrderUpdate(order)  # nothing to compare: the venue has no CumQty
            order.on_status(r.ord_status, r.cum_qty, r.ts_ns)
        # PENDING_CANCEL / PENDING_REPLACE acknowledge what we already recorded.
        self._settle(order)
        self._remember(r.exec_id)
        return OrderUpdate(order, cum_mismatch=r.cum_qty != order.cum_qty)

    def _on_trade(self, r: ExecReport) -> OrderUpdate:
        order = self._target(r)
        named = r.cl_ord_id
        if order.status is OrdStatus.REPLACED:
            # reported under a ClOrdID replaced meanwhile: the fill is the chain's, and
            # only the order that carries the chain now can still take it
            order = self.current(order.cl_ord_id)
            named = order.cl_ord_id
        if r.exec_id in self._exec_ids or r.exec_id in order.exec_ids:
            return OrderUpdate(order, duplicate=True)
        fill = Fill(
            exec_id=r.exec_id,
            cl_ord_id=named,
            symbol=r.symbol,
            side=r.side,
            qty=r.last_qty,
            price=r.last_px,
            ts_ns=r.ts_ns,
            liquidity=r.liquidity,
        )
        order.on_fill(fill)
        self._settle(order)
        self._remember(r.exec_id)
        return OrderUpdate(order, fill=fill, cum_mismatch=r.cum_qty != order.cum_qty)

    def on_cancel_reject(self, rej: CancelReject) -> ChildOrder:
        order = self.get(rej.orig_cl_ord_id or rej.cl_ord_id)
        order.on_cancel_reject(rej.ts_ns)
        self._alias.pop(rej.cl_ord_id, None)
        return order

    def _target(self, r: ExecReport) -> ChildOrder:
        """The order a report is about: OrigClOrdID for cancel answers, else ClOrdID."""
        if r.orig_cl_ord_id and r.orig_cl_ord_id in self:
            order = self.get(r.orig_cl_ord_id)
            if order.is_live or r.cl_ord_id not in self:
                return order
        return self.get(r.cl_ord_id)

    def _remember(self, exec_id: str) -> None:
        if exec_id:
            self._exec_ids.add(exec_id)

    def prune(self, keep_terminal: int = KEEP_TERMINAL) -> int:
        """Forget the oldest terminal orders beyond ``keep_terminal``; returns how many."""
        terminal = [k for k, o in self.orders.items() if not o.is_live]
        drop = terminal[: max(0, len(terminal) - keep_terminal)]
        for k in drop:
            del self.orders[k]
        if drop:
            dropped = set(drop)
            self._alias = {a: o for a, o in self._alias.items() if o not in dropped}
            self._successor = {a: o for a, o in self._successor.items() if a not in dropped}
        return len(drop)

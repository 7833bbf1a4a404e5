"""The child-order reconciler: from "what should rest on the book" to order commands.

A policy says what it wants resting (per side and price, a total quantity) plus any
immediate orders (IOC/FOK/market). The reconciler compares that with the live child
orders and emits the fewest new / cancel / replace commands that get there, without
giving up queue priority it does not have to:

* more wanted at a price  -> a new order for the difference (resting ones keep their place);
* less wanted at a price  -> shrink or cancel the youngest orders first (oldest keep priority;
  a size decrease by replace keeps priority at most venues);
* an order no longer wanted on a side that wants a new price -> one replace rather than
  cancel + new, which is a single atomic message and never has both exposures live.

Orders with a request in flight (pending new / replace / cancel) are counted at what
they will become and are not touched; what cannot be reached this round because of
them is listed in ``deferred`` and reconciled on a later call.

Pure functions over plain data: no I/O, no clock, identical in simulator and live.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.orders import ChildOrder
from core.types import OrdStatus, OrdType, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class DesiredOrder:
    side: Side
    price: int | None  # ticks; None for market
    qty: int
    ord_type: OrdType = OrdType.LIMIT
    tif: TimeInForce = TimeInForce.DAY

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"desired order quantity must be > 0, got {self.qty}")
        if self.ord_type is OrdType.LIMIT and (self.price is None or self.price <= 0):
            raise ValueError(f"desired limit order needs a price > 0 ticks, got {self.price}")
        if self.ord_type is OrdType.MARKET and self.price is not None:
            raise ValueError(f"desired market order carries no price, got {self.price}")

    @property
    def rests(self) -> bool:
        return self.ord_type is OrdType.LIMIT and self.tif.rests


@dataclass(frozen=True, slots=True)
class NewOrder:
    side: Side
    price: int | None
    qty: int
    ord_type: OrdType = OrdType.LIMIT
    tif: TimeInForce = TimeInForce.DAY


@dataclass(frozen=True, slots=True)
class CancelOrder:
    cl_ord_id: str


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    cl_ord_id: str
    price: int | None
    qty: int  # new total order quantity (FIX OrderQty), filled part included
    leaves: int  # what rests after the replace


@dataclass(slots=True)
class ReconcilePlan:
    cancels: list[CancelOrder] = field(default_factory=list)
    replaces: list[ReplaceOrder] = field(default_factory=list)
    news: list[NewOrder] = field(default_factory=list)
    deferred: list[tuple[Side, int]] = field(default_factory=list)  # levels blocked by in-flight

    @property
    def empty(self) -> bool:
        return not (self.cancels or self.replaces or self.news)

    def __len__(self) -> int:
        return len(self.cancels) + len(self.replaces) + len(self.news)


Key = tuple[Side, int]


def target_levels(desired: Iterable[DesiredOrder]) -> dict[Key, int]:
    """Aggregate the resting part of a desired set into quantity per (side, price)."""
    out: dict[Key, int] = {}
    for d in desired:
        if d.rests and d.price is not None:  # a resting limit always has a price (checked above)
            key = (d.side, d.price)
            out[key] = out.get(key, 0) + d.qty
    return out


def resting_view(order: ChildOrder) -> tuple[Key, int] | None:
    """Where an order will rest once its in-flight request (if any) is answered."""
    if order.status.is_terminal or order.status is OrdStatus.PENDING_CANCEL:
        return None
    if order.ord_type is not OrdType.LIMIT or not order.tif.rests or order.price is None:
        return None
    if order.status is OrdStatus.PENDING_REPLACE and order.pending_replace is not None:
        pr = order.pending_replace
        if pr.price is None:
            return None
        return (order.side, pr.price), max(0, pr.qty - order.cum_qty)
    return (order.side, order.price), order.qty - order.cum_qty


def reconcile(desired: Sequence[DesiredOrder], live: Iterable[ChildOrder]) -> ReconcilePlan:
    plan = ReconcilePlan()
    target = target_levels(desired)
    locked: dict[Key, int] = {}
    movable: dict[Key, list[ChildOrder]] = {}
    for order in live:
        view = resting_view(order)
        if view is None:
            continue
        key, leaves = view
        if order.status.is_pending:
            locked[key] = locked.get(key, 0) + leaves
        else:
            movable.setdefault(key, []).append(order)

    freed: dict[Side, list[ChildOrder]] = {Side.BUY: [], Side.SELL: []}
    wanted_new: list[NewOrder] = []
    for key in sorted(set(target) | set(locked) | set(movable), key=_key_order):
        side, price = key
        orders = movable.get(key, [])
        current = locked.get(key, 0) + sum(o.leaves_qty for o in orders)
        want = target.get(key, 0)
        if current < want:
            wanted_new.append(NewOrder(side, price, want - current))
            continue
        excess = current - want
        # youngest first: they hold the least queue priority
        for order in sorted(orders, key=lambda o: (o.created_ns, o.cl_ord_id), reverse=True):
            if excess == 0:
                break
            if order.leaves_qty <= excess:
                excess -= order.leaves_qty
                freed[side].append(order)
            else:
                new_leaves = order.leaves_qty - excess
                plan.replaces.append(
                    ReplaceOrder(
                        order.cl_ord_id, order.price, order.cum_qty + new_leaves, new_leaves
                    )
                )
                excess = 0
        if excess:
            plan.deferred.append(key)

    # Move freed orders to new prices on the same side instead of cancel + new.
    for new in wanted_new:
        pool = freed[new.side]
        if pool:
            order = pool.pop()
            plan.replaces.append(
                ReplaceOrder(order.cl_ord_id, new.price, order.cum_qty + new.qty, new.qty)
            )
        else:
            plan.news.append(new)
    for side in (Side.BUY, Side.SELL):
        plan.cancels.extend(CancelOrder(o.cl_ord_id) for o in freed[side])

    for d in desired:
        if not d.rests:
            plan.news.append(NewOrder(d.side, d.price, d.qty, d.ord_type, d.tif))
    return plan


def _key_order(key: Key) -> tuple[int, int]:
    side, price = key
    return (int(side), price)

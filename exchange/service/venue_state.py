"""What the venue owed its clients when it stopped, read back from its audit log.

A real venue does not forget a resting order, a fill or a ClOrdID because its process
restarted. The audit log (:mod:`exchange.service.audit`) already holds every request
and every report the exchange sent, in order, written before the report left, so it
is the one source of truth for the order state: no second file that could disagree
with it. :func:`recover_orders` folds it into

- the orders still live (resting, possibly partially filled) with their current
  ClOrdID, quantities, price, fills (cum qty and notional, from the trade reports) and
  OrderID;
- every ClOrdID that was used and how its order ended (filled, cancelled, replaced,
  rejected), so a reuse is refused as a duplicate and a late cancel is "too late";
- the newest event time each symbol's reports carry (where the market had got to, at
  least).

A request audited without its report (the process died in between) was never
answered: it is treated as never received, so the client's resend is acted on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from exchange.engine.orders import OwnedOrder
from exchange.service.audit import read_audit


@dataclass(slots=True)
class RecoveredOrder:
    """One order as the audit log last described it."""

    session: str
    cl_ord_id: str
    venue_order_id: str
    symbol: str
    side: Side
    price: int | None
    order_qty: int
    cum_qty: int
    notional: int
    status: OrdStatus
    ord_type: OrdType
    tif: TimeInForce
    account: str
    parent_id: str
    created_ns: int

    @property
    def leaves_qty(self) -> int:
        return 0 if self.status.is_terminal else self.order_qty - self.cum_qty

    @property
    def key(self) -> int | None:
        """The engine key behind the OrderID (``<symbol>-<n>`` is key ``-n``)."""
        head, _, n = self.venue_order_id.rpartition("-")
        return -int(n) if head == self.symbol and n.isdigit() else None

    def owned(self, key: int) -> OwnedOrder:
        """The engine's record of this order under ``key``, same OrderID as before."""
        o = OwnedOrder(
            key,
            cl_ord_id=self.cl_ord_id,
            session=self.session,
            account=self.account or self.session,
            symbol=self.symbol,
            side=self.side,
            order_qty=self.order_qty,
            price=self.price,
            ord_type=self.ord_type,
            tif=self.tif,
            parent_id=self.parent_id,
            created_ns=self.created_ns,
        )
        o.cum_qty = self.cum_qty
        o.notional = self.notional
        o.status = self.status
        o.venue_order_id = self.venue_order_id
        return o


@dataclass(slots=True)
class RecoveredVenue:
    live: list[RecoveredOrder] = field(default_factory=list)
    # (session, ClOrdID) -> how it ended, and the order it named (None for a reject)
    done: dict[tuple[str, str], tuple[OrdStatus, RecoveredOrder | None]] = field(
        default_factory=dict
    )
    last_event_ns: dict[str, int] = field(default_factory=dict)
    lowest_key: dict[str, int] = field(default_factory=dict)  # per symbol
    records: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.records == 0


def recover_orders(path: str | Path) -> RecoveredVenue:
    """Fold the audit log at ``path`` (missing: a venue that never ran) into its state."""
    out = RecoveredVenue()
    if not Path(path).exists():
        return out
    rows, out.notes = read_audit(path)
    out.records = len(rows)
    requests: dict[tuple[str, str], dict[str, Any]] = {}
    orders: dict[tuple[str, str], RecoveredOrder] = {}  # (session, OrderID)
    for row in rows:
        kind = row["kind"]
        if kind == "new_order":
            requests[(row["session"], row["cl_ord_id"])] = row
        elif kind == "exec_report":
            _apply_report(out, requests, orders, row)
    out.live = [o for o in orders.values() if not o.status.is_terminal]
    for o in orders.values():
        key = o.key
        if key is not None:
            out.lowest_key[o.symbol] = min(out.lowest_key.get(o.symbol, 0), key)
    return out


def _apply_report(
    out: RecoveredVenue,
    requests: dict[tuple[str, str], dict[str, Any]],
    orders: dict[tuple[str, str], RecoveredOrder],
    row: dict[str, Any],
) -> None:
    session, cl = row["session"], row["cl_ord_id"]
    exec_type = ExecType(row["exec_type"])
    if exec_type is ExecType.ORDER_STATUS:
        return
    symbol = row["symbol"]
    out.last_event_ns[symbol] = max(out.last_event_ns.get(symbol, 0), int(row["ts_ns"]))
    oid = row.get("venue_order_id") or ""
    if not oid:  # a new order refused before it became an order
        out.done[(session, cl)] = (OrdStatus.REJECTED, None)
        return
    order = orders.get((session, oid))
    if order is None:
        req = requests.get((session, cl), {})
        order = RecoveredOrder(
            session=session,
            cl_ord_id=cl,
            venue_order_id=oid,
            symbol=symbol,
            side=Side(row["side"]),
            price=row.get("price"),
            order_qty=int(row["order_qty"]),
            cum_qty=0,
            notional=0,
            status=OrdStatus.NEW,
            ord_type=OrdType(req.get("ord_type", OrdType.LIMIT.value)),
            tif=TimeInForce(req.get("tif", TimeInForce.DAY.value)),
            account=str(req.get("account", "")),
            parent_id=str(req.get("parent_id", "")),
            created_ns=int(row["ts_ns"]),
        )
        orders[(session, oid)] = order
    orig = row.get("orig_cl_ord_id") or ""
    if exec_type is ExecType.REPLACED and orig:
        out.done[(session, orig)] = (OrdStatus.REPLACED, order)  # it lives on as ``cl``
        order.cl_ord_id = cl
    elif exec_type is ExecType.CANCELED and orig:
        out.done[(session, cl)] = (OrdStatus.CANCELED, order)  # the cancel request's id
    if exec_type is ExecType.TRADE:
        order.notional += int(row["last_qty"]) * int(row["last_px"])
    order.status = OrdStatus(row["ord_status"])
    order.order_qty = int(row["order_qty"])
    order.cum_qty = int(row["cum_qty"])
    order.price = row.get("price")
    if order.status.is_terminal:
        out.done[(session, order.cl_ord_id)] = (order.status, order)

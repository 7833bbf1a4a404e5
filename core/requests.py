"""What a node asks of a venue: the order-entry requests, venue-neutral.

These are the only things that travel to the wire. The risk overlay wraps each one in
its approval before a router will accept it; the FIX gateway maps them to
NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest and OrderStatusRequest;
the in-process simulator router hands them straight to the matching engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.types import OrdType, Side, TimeInForce


@dataclass(frozen=True, slots=True)
class NewOrderRequest:
    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    price: int | None  # ticks; None for market orders
    ord_type: OrdType = OrdType.LIMIT
    tif: TimeInForce = TimeInForce.DAY
    parent_id: str = ""
    ts_ns: int = 0
    account: str = ""


@dataclass(frozen=True, slots=True)
class CancelRequest:
    cl_ord_id: str  # this request's own ClOrdID
    orig_cl_ord_id: str  # the order to cancel
    symbol: str
    side: Side
    qty: int  # the order's current OrderQty, as FIX requires
    ts_ns: int = 0
    parent_id: str = ""


@dataclass(frozen=True, slots=True)
class ReplaceRequest:
    cl_ord_id: str  # the ClOrdID the order carries after the replace
    orig_cl_ord_id: str
    symbol: str
    side: Side
    qty: int  # new total OrderQty, already-filled part included
    price: int | None
    ord_type: OrdType = OrdType.LIMIT
    tif: TimeInForce = TimeInForce.DAY
    ts_ns: int = 0
    parent_id: str = ""


@dataclass(frozen=True, slots=True)
class StatusRequest:
    cl_ord_id: str
    symbol: str
    side: Side


@dataclass(frozen=True, slots=True)
class MassStatusRequest:
    request_id: str


OrderRequest = NewOrderRequest | CancelRequest | ReplaceRequest

"""Events that cross the boundary between gateways and the engine.

Gateways translate wire formats (FIX, websocket JSON, LOBSTER CSV) into these and
nothing else, so the engine, the simulator and the journal share one vocabulary.
Prices are integer ticks, quantities integer units.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.types import ExecType, OrdStatus, Side

Level = tuple[int, int]


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    symbol: str
    seq: int
    ts_ns: int
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class BookDelta:
    symbol: str
    seq: int
    ts_ns: int
    changes: tuple[tuple[Side, int, int], ...]  # (side, price, new size; 0 removes)


@dataclass(frozen=True, slots=True)
class TradePrint:
    symbol: str
    seq: int
    ts_ns: int
    price: int
    qty: int
    aggressor: Side  # the side that crossed the spread


@dataclass(frozen=True, slots=True)
class ExecReport:
    """An ExecutionReport, venue-neutral. ``last_qty``/``last_px`` only for trades."""

    cl_ord_id: str
    exec_id: str
    exec_type: ExecType
    ord_status: OrdStatus
    symbol: str
    side: Side
    order_qty: int
    cum_qty: int
    leaves_qty: int
    ts_ns: int
    price: int | None = None
    last_qty: int = 0
    last_px: int = 0
    avg_px: float = 0.0
    orig_cl_ord_id: str = ""
    venue_order_id: str = ""
    text: str = ""
    liquidity: str = ""
    poss_dup: bool = False
    ord_rej_reason: int | None = None  # FIX OrdRejReason(103) on rejects, when the venue gives one


@dataclass(frozen=True, slots=True)
class CancelReject:
    """OrderCancelReject: a cancel (``is_replace`` False) or replace request refused."""

    cl_ord_id: str  # the ClOrdID of the cancel/replace request
    orig_cl_ord_id: str  # the order it was aimed at
    is_replace: bool
    reason: str
    ts_ns: int
    ord_status: OrdStatus | None = None

"""Why an order was denied: a closed set of reason codes, each with a typed context.

One :class:`Denied` value is rendered the same way everywhere it goes: the log line,
the metric label (the reason's string value), the journal row and the reply to whoever
asked. The context type is fixed per reason, so "what limit, what value" always has
the same shape for the same code and a dashboard or a test can rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

from risk.halts import Halt

Number = int | Decimal


class OrderKind(StrEnum):
    """What was asked for: a new order or a cancel/replace of a live one (cancels are
    never denied, so they are not a kind of denial)."""

    NEW = "new"
    REPLACE = "replace"


class DenyReason(StrEnum):
    """Reason codes; values are Prometheus-safe label values and never change meaning."""

    MALFORMED_REQUEST = "malformed_request"
    SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
    KILL_SWITCH_ENGAGED = "kill_switch_engaged"
    TRADING_HALTED = "trading_halted"
    REDUCE_ONLY = "reduce_only"
    MARKET_CLOSED = "market_closed"
    SYMBOL_HALTED = "symbol_halted"
    DUPLICATE_CL_ORD_ID = "duplicate_cl_ord_id"
    UNKNOWN_ORDER = "unknown_order"
    ORDER_NOT_REPLACEABLE = "order_not_replaceable"
    REPLACE_MISMATCH = "replace_mismatch"
    INVALID_QUANTITY = "invalid_quantity"
    QTY_BELOW_MIN = "qty_below_min"
    LOT_SIZE = "lot_size"
    MAX_ORDER_QTY = "max_order_qty"
    INVALID_PRICE = "invalid_price"
    STALE_MARKET_DATA = "stale_market_data"
    NO_REFERENCE_PRICE = "no_reference_price"
    PRICE_COLLAR = "price_collar"
    INSUFFICIENT_LIQUIDITY = "insufficient_liquidity"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    SELF_CROSS = "self_cross"
    MAX_DAILY_LOSS = "max_daily_loss"
    MAX_POSITION = "max_position"
    MAX_OPEN_ORDERS = "max_open_orders"
    PARTICIPATION_CAP = "participation_cap"
    ORDER_RATE = "order_rate"
    CANCEL_RATE = "cancel_rate"
    INTERNAL_ERROR = "internal_error"  # a bug inside the overlay, not the request's fault


# ------------------------------------------------------------------ contexts
# Each is small, frozen and made of plain values (str/int/Decimal/None, and a Halt, which
# renders as its label) so it goes to JSON, a log line and a reply without custom encoders.


@dataclass(frozen=True, slots=True)
class BadField:
    """A request field that is not what the wire needs (type, range, characters)."""

    field: str
    value: str  # repr of what was given, truncated
    expected: str

    @classmethod
    def of(cls, field: str, value: object, expected: str) -> BadField:
        """``value`` as given, rendered printable and short (it may be anything)."""
        return cls(field, safe_text(value), expected)

    def describe(self) -> str:
        return f"{self.field}={self.value} (expected {self.expected})"


@dataclass(frozen=True, slots=True)
class LimitBreach:
    """A number compared with a limit: ``value`` is what the order would make it."""

    limit_name: str
    limit: Number
    value: Number
    unit: str

    def describe(self) -> str:
        return f"{self.limit_name}: {self.value} {self.unit} vs limit {self.limit} {self.unit}"


@dataclass(frozen=True, slots=True)
class StateBlock:
    """A trading state, kill switch or venue status that lets no such order through."""

    scope: str  # "node", "symbol", "market" or "venue"
    state: str
    cause: str
    halt: Halt | None = None  # the halt behind it, if a halt is the cause (rendered as its label)

    def describe(self) -> str:
        return f"{self.scope} is {self.state} ({self.cause})"


@dataclass(frozen=True, slots=True)
class CollarBreach:
    """A limit price outside the band around the reference mid (both ends inclusive)."""

    price: int
    reference_mid: Decimal
    band_bps: int
    low: int
    high: int

    def describe(self) -> str:
        return (
            f"price {self.price} outside [{self.low}, {self.high}] ticks "
            f"({self.band_bps} bps of mid {self.reference_mid})"
        )


@dataclass(frozen=True, slots=True)
class BookState:
    """The overlay's view of the book when it could not price the order."""

    best_bid: int | None
    best_ask: int | None

    def describe(self) -> str:
        return f"book not two-sided (bid {self.best_bid}, ask {self.best_ask})"


@dataclass(frozen=True, slots=True)
class SelfCross:
    """The order would trade against one of our own resting orders."""

    price: int | None  # None for a market order
    resting_price: int

    def describe(self) -> str:
        return f"price {self.price} would cross our resting order at {self.resting_price}"


@dataclass(frozen=True, slots=True)
class OrderRef:
    """Something wrong with the ClOrdID chain (duplicate, unknown, busy, mismatched)."""

    order_id: str  # the ClOrdID the problem is about (ours, or the order we aimed at)
    detail: str

    def describe(self) -> str:
        return f"{self.order_id}: {self.detail}"


@dataclass(frozen=True, slots=True)
class InternalFault:
    """A bug inside the overlay: the request may be fine, the overlay's view is suspect."""

    error: str  # repr of the exception, truncated
    action: str  # what the overlay did about it

    def describe(self) -> str:
        return f"bug in the risk overlay: {self.error}; {self.action}"


DenyContext = (
    BadField
    | LimitBreach
    | StateBlock
    | CollarBreach
    | BookState
    | SelfCross
    | OrderRef
    | InternalFault
)

CONTEXT_TYPE: dict[DenyReason, type[DenyContext]] = {
    DenyReason.MALFORMED_REQUEST: BadField,
    DenyReason.SYMBOL_NOT_ALLOWED: BadField,
    DenyReason.KILL_SWITCH_ENGAGED: StateBlock,
    DenyReason.TRADING_HALTED: StateBlock,
    DenyReason.REDUCE_ONLY: StateBlock,
    DenyReason.MARKET_CLOSED: StateBlock,
    DenyReason.SYMBOL_HALTED: StateBlock,
    DenyReason.DUPLICATE_CL_ORD_ID: OrderRef,
    DenyReason.UNKNOWN_ORDER: OrderRef,
    DenyReason.ORDER_NOT_REPLACEABLE: OrderRef,
    DenyReason.REPLACE_MISMATCH: OrderRef,
    DenyReason.INVALID_QUANTITY: BadField,
    DenyReason.QTY_BELOW_MIN: LimitBreach,
    DenyReason.LOT_SIZE: LimitBreach,
    DenyReason.MAX_ORDER_QTY: LimitBreach,
    DenyReason.INVALID_PRICE: BadField,
    DenyReason.STALE_MARKET_DATA: LimitBreach,
    DenyReason.NO_REFERENCE_PRICE: BookState,
    DenyReason.PRICE_COLLAR: CollarBreach,
    DenyReason.INSUFFICIENT_LIQUIDITY: LimitBreach,
    DenyReason.MAX_ORDER_NOTIONAL: LimitBreach,
    DenyReason.SELF_CROSS: SelfCross,
    DenyReason.MAX_DAILY_LOSS: LimitBreach,
    DenyReason.MAX_POSITION: LimitBreach,
    DenyReason.MAX_OPEN_ORDERS: LimitBreach,
    DenyReason.PARTICIPATION_CAP: LimitBreach,
    DenyReason.ORDER_RATE: LimitBreach,
    DenyReason.CANCEL_RATE: LimitBreach,
    DenyReason.INTERNAL_ERROR: InternalFault,
}


def safe_text(value: object, limit: int = 64) -> str:
    """A printable rendering of anything a policy put in a field, for logs and replies."""
    if type(value) is str and value.isprintable() and len(value) <= limit:
        return value
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    """JSON-ready: Decimals as strings so no float ever creeps into the journal; a halt
    as its label."""
    return str(value) if isinstance(value, Decimal | Halt) else value


@dataclass(frozen=True, slots=True)
class Denied:
    """The overlay's answer when an order may not go out; never raised, always returned."""

    reason: DenyReason
    context: DenyContext
    kind: OrderKind
    cl_ord_id: str
    symbol: str
    ts_ns: int

    def __post_init__(self) -> None:
        if type(self.kind) is not OrderKind:
            raise TypeError(f"a denial's kind is an OrderKind, got {self.kind!r}")
        expected = CONTEXT_TYPE[self.reason]
        if type(self.context) is not expected:
            raise TypeError(
                f"{self.reason} needs a {expected.__name__} context, "
                f"got {type(self.context).__name__}"
            )

    @property
    def approved(self) -> bool:
        return False

    def message(self) -> str:
        return f"{self.kind} {self.cl_ord_id} {self.symbol} denied: {self.reason} - " + (
            self.context.describe()
        )

    def as_dict(self) -> dict[str, Any]:
        """One flat dict for the log line, the journal row and the reply."""
        out: dict[str, Any] = {
            "reason": self.reason.value,
            "kind": self.kind.value,
            "cl_ord_id": self.cl_ord_id,
            "symbol": self.symbol,
            "ts_ns": self.ts_ns,
            "context": type(self.context).__name__,
        }
        for f in fields(self.context):
            out[f.name] = _plain(getattr(self.context, f.name))
        out["message"] = self.message()
        return out

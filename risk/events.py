"""What the overlay tells its listeners (metrics, journal, the engine, alerts).

Listeners are plain callables registered with ``RiskOverlay.add_listener``; the daemon
attaches Prometheus counters there so ``risk`` needs no metrics library. Every event is
a frozen value safe to keep, journal or send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from core.types import OrdType, Side
from risk.halts import Halt
from risk.reasons import Denied
from risk.trading_state import TradingState


class KillCause(StrEnum):
    COMMAND = "command"
    MAX_DAILY_LOSS = "max_daily_loss"
    VENUE_REJECTS = "venue_rejects"
    UNEXPECTED_FILL = "unexpected_fill"
    STATE_FILE = "state_file"  # the persisted state said so, or could not be read


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """The overlay's view of one live order (what the engine must cancel on a kill)."""

    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    cum_qty: int
    price: int | None
    ord_type: OrdType
    cancel_pending: bool
    pending_cl_ord_id: str | None  # a replace in flight

    @property
    def leaves_qty(self) -> int:
        return max(self.qty - self.cum_qty, 0)


@dataclass(frozen=True, slots=True)
class KillSwitchEngaged:
    cause: KillCause
    detail: str
    ts_ns: int
    open_orders: tuple[OpenOrder, ...]  # cancel each through RiskOverlay.check_cancel


@dataclass(frozen=True, slots=True)
class KillSwitchReset:
    ts_ns: int
    nonce: str


@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    symbol: str | None  # None for the node
    old: TradingState
    new: TradingState
    source: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class HaltRaised:
    """New orders stop where ``halt`` applies (cancel what rests there, alert)."""

    halt: Halt
    detail: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class HaltCleared:
    halt: Halt
    ts_ns: int


RiskEvent = (
    Denied | KillSwitchEngaged | KillSwitchReset | TradingStateChanged | HaltRaised | HaltCleared
)
Listener = Callable[[RiskEvent], None]

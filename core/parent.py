"""Parent orders: what a trader asked for, and how far its execution has got.

Implementation shortfall is measured against the arrival mid (the mid quote when the
parent started) and signed so that a positive number is a cost: paying up on a buy or
selling below arrival. It is a report figure, so it may be a float; the order path
itself only ever sees integer ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import IllegalTransition, OverfillError
from core.fills import Fill
from core.types import Side


class ParentState(StrEnum):
    PENDING = "pending"  # accepted, waiting for its start time / an arrival price
    WORKING = "working"
    PAUSED = "paused"  # no new child orders; resting ones cancelled by the engine
    COMPLETED = "completed"  # fully filled
    CANCELED = "canceled"
    EXPIRED = "expired"  # end time reached with a remainder left unfilled

    @property
    def is_terminal(self) -> bool:
        return self in (ParentState.COMPLETED, ParentState.CANCELED, ParentState.EXPIRED)


_ALLOWED: dict[ParentState, frozenset[ParentState]] = {
    ParentState.PENDING: frozenset(
        {ParentState.WORKING, ParentState.CANCELED, ParentState.PAUSED, ParentState.COMPLETED}
    ),
    ParentState.WORKING: frozenset(
        {ParentState.PAUSED, ParentState.COMPLETED, ParentState.CANCELED, ParentState.EXPIRED}
    ),
    ParentState.PAUSED: frozenset(
        {ParentState.WORKING, ParentState.COMPLETED, ParentState.CANCELED, ParentState.EXPIRED}
    ),
    ParentState.COMPLETED: frozenset(),
    ParentState.CANCELED: frozenset(),
    ParentState.EXPIRED: frozenset(),
}


@dataclass(slots=True)
class ParentOrder:
    parent_id: str
    symbol: str
    side: Side
    qty: int
    start_ns: int
    end_ns: int
    arrival_mid: float = 0.0  # ticks; set when execution starts
    state: ParentState = ParentState.PENDING
    filled_qty: int = 0
    notional: int = 0  # sum(qty * price) in ticks, exact
    last_reason: str = ""

    def __post_init__(self) -> None:
        if not self.parent_id:
            raise ValueError("parent order needs an id")
        if self.qty <= 0:
            raise ValueError(f"parent {self.parent_id}: quantity must be > 0, got {self.qty}")
        if self.end_ns <= self.start_ns:
            raise ValueError(
                f"parent {self.parent_id}: end time {self.end_ns} must be after start {self.start_ns}"
            )

    # --------------------------------------------------------------- derived
    @property
    def remaining_qty(self) -> int:
        return self.qty - self.filled_qty

    @property
    def avg_px(self) -> float:
        return self.notional / self.filled_qty if self.filled_qty else 0.0

    @property
    def progress(self) -> float:
        return self.filled_qty / self.qty

    def time_fraction_elapsed(self, now_ns: int) -> float:
        span = self.end_ns - self.start_ns
        return min(1.0, max(0.0, (now_ns - self.start_ns) / span))

    def shortfall_bps(self, mark: float | None = None) -> float:
        """Implementation shortfall in basis points of arrival notional, positive = cost.

        With ``mark`` (ticks), the unfilled remainder is charged at that price
        (Perold's opportunity cost); without it only the executed part counts.
        """
        if self.arrival_mid <= 0:
            return 0.0
        sign = self.side.sign
        cost = sign * (self.notional - self.filled_qty * self.arrival_mid)
        qty = self.filled_qty
        if mark is not None and self.remaining_qty:
            cost += sign * self.remaining_qty * (mark - self.arrival_mid)
            qty = self.qty
        if qty == 0:
            return 0.0
        return cost / (qty * self.arrival_mid) * 1e4

    # ------------------------------------------------------------ transitions
    def transition(self, new: ParentState, reason: str = "") -> None:
        if new is self.state:
            return
        if new not in _ALLOWED[self.state]:
            raise IllegalTransition(
                f"parent {self.parent_id}: cannot go from {self.state.value} to {new.value}"
            )
        self.state = new
        self.last_reason = reason

    def start(self, arrival_mid: float) -> None:
        if arrival_mid <= 0:
            raise ValueError(f"parent {self.parent_id}: arrival mid must be > 0, got {arrival_mid}")
        self.arrival_mid = arrival_mid
        self.transition(ParentState.WORKING, "started")

    def apply_fill(self, fill: Fill) -> None:
        """Account one child fill (the caller dedupes ExecIDs at the child order).

        Fills after a cancel or expiry still count: they happened at the venue.
        """
        if fill.side is not self.side:
            raise ValueError(
                f"parent {self.parent_id}: fill {fill.exec_id} is {fill.side.name}, parent is "
                f"{self.side.name}"
            )
        if self.filled_qty + fill.qty > self.qty:
            raise OverfillError(
                f"parent {self.parent_id}: fill {fill.exec_id} of {fill.qty} would exceed "
                f"parent quantity {self.qty} (filled {self.filled_qty})"
            )
        self.filled_qty += fill.qty
        self.notional += fill.notional
        if self.filled_qty == self.qty and not self.state.is_terminal:
            self.transition(ParentState.COMPLETED, "filled")

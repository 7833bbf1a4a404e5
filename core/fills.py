"""Fills: one execution of part of a child order, identified by the venue's ExecID.

Venues resend execution reports (PossDup after a reconnect, status replies during
recovery); the ExecID is what lets every consumer apply each fill exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.types import Side


@dataclass(frozen=True, slots=True)
class Fill:
    exec_id: str
    cl_ord_id: str
    symbol: str
    side: Side
    qty: int
    price: int  # ticks
    ts_ns: int
    liquidity: str = ""  # "A" added (passive), "R" removed (aggressive), "" unknown

    def __post_init__(self) -> None:
        if not self.exec_id:
            raise ValueError("fill needs a non-empty ExecID")
        if self.qty <= 0:
            raise ValueError(f"fill {self.exec_id}: quantity must be > 0, got {self.qty}")
        if self.price <= 0:
            raise ValueError(f"fill {self.exec_id}: price must be > 0 ticks, got {self.price}")

    @property
    def notional(self) -> int:
        """Quantity x price in tick units, exact."""
        return self.qty * self.price


class FillDeduper:
    """Remembers ExecIDs seen so a replayed or duplicated report is not applied twice."""

    __slots__ = ("_seen",)

    def __init__(self, seen: set[str] | None = None) -> None:
        self._seen: set[str] = set(seen or ())

    def first_time(self, exec_id: str) -> bool:
        """True the first time an ExecID is offered, False on every repeat."""
        if exec_id in self._seen:
            return False
        self._seen.add(exec_id)
        return True

    def __contains__(self, exec_id: object) -> bool:
        return exec_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

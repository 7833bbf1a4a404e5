"""Typed halts: every reason the node stops sending new orders, as one closed set.

A halt is raised when the node can no longer vouch for its state (the FIX session is
down, a symbol's feed is stale, the journal failed, a bug hit): nothing new goes out
until it lifts, cancels still do. Halts are values, not strings to parse: a kind from
the closed :class:`HaltKind` set, plus the symbol for the kinds that are per symbol.
They feed the risk overlay's trading state (:meth:`risk.RiskOverlay.halt`), so a
denial names the halt that caused it, and each kind says how it lifts, which is what
an operator at 3 a.m. needs to know first.

``Halt.label`` is the string the node used before these types existed (``"fix_down"``,
``"md:AMZN"``): log lines, ``/readyz`` and journal rows keep reading the same, and
:meth:`Halt.parse` reads one back. ``HaltKind`` values are metric label values
(``rlexec_trading_halted{reason="md"}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HaltLift(StrEnum):
    """How a halt of a kind ends."""

    WHEN_CLEARED = "when_cleared"  # whoever raised it clears it once the cause is gone
    RESTART = "restart"  # the process state is suspect: only a restart (and recovery) lifts it
    SIGNED_RESET = "signed_reset"  # an authenticated operator command (the kill switch)


class HaltKind(StrEnum):
    """Why trading stopped. Closed: a new cause is a new member, documented in docs/risk.md."""

    STARTING = "starting"
    """Node: recovery and venue reconciliation are not done yet (raised at start)."""
    RECOVERY = "recovery"
    """Node: journal records could not be re-applied at start; the books may be wrong."""
    RECONCILING = "reconciling"
    """Node: live orders are being settled with the venue (after a logon, an unreadable
    report or a venue reject); lifts when every live order has an answer."""
    FIX_DOWN = "fix_down"
    """Node: the FIX session is down; lifts at logon (which then starts reconciling)."""
    MARKET_DATA = "md"
    """One symbol: its feed is stale, resyncing or disconnected; lifts when synced."""
    ACK_OVERDUE = "ack_overdue"
    """One symbol: a request's acknowledgement is overdue, so the symbol's order state is
    unknown; lifts when every overdue request has its answer."""
    JOURNAL = "journal"
    """Node: a journal write failed, so nothing new may be acted on unrecorded."""
    RUNNER_ERROR = "runner_error"
    """Node: a parent order's runner crashed; its orders were cancelled."""
    INTERNAL_ERROR = "internal_error"
    """Node: a bug while applying a venue answer or inside a risk check; our view of
    orders or exposure may be wrong."""
    KILL_SWITCH = "kill_switch"
    """Node: the risk kill switch is engaged (persisted; see docs/risk.md)."""

    @property
    def per_symbol(self) -> bool:
        """Whether a halt of this kind names one symbol (and stops only that one)."""
        return self in _PER_SYMBOL

    @property
    def lift(self) -> HaltLift:
        return _LIFT[self]


_PER_SYMBOL = frozenset({HaltKind.MARKET_DATA, HaltKind.ACK_OVERDUE})
_LIFT = {
    HaltKind.STARTING: HaltLift.WHEN_CLEARED,
    HaltKind.RECOVERY: HaltLift.RESTART,
    HaltKind.RECONCILING: HaltLift.WHEN_CLEARED,
    HaltKind.FIX_DOWN: HaltLift.WHEN_CLEARED,
    HaltKind.MARKET_DATA: HaltLift.WHEN_CLEARED,
    HaltKind.ACK_OVERDUE: HaltLift.WHEN_CLEARED,
    HaltKind.JOURNAL: HaltLift.RESTART,
    HaltKind.RUNNER_ERROR: HaltLift.RESTART,
    HaltKind.INTERNAL_ERROR: HaltLift.RESTART,
    HaltKind.KILL_SWITCH: HaltLift.SIGNED_RESET,
}


@dataclass(frozen=True, slots=True)
class Halt:
    """One active reason not to trade: a kind, and the symbol if the kind is per symbol."""

    kind: HaltKind
    symbol: str | None = None

    def __post_init__(self) -> None:
        if type(self.kind) is not HaltKind:
            raise TypeError(f"a halt kind is a HaltKind, got {self.kind!r}")
        if self.kind.per_symbol:
            if type(self.symbol) is not str or not self.symbol:
                raise ValueError(f"a {self.kind.value} halt names its symbol")
        elif self.symbol is not None:
            raise ValueError(f"a {self.kind.value} halt is node-wide and names no symbol")

    @classmethod
    def market_data(cls, symbol: str) -> Halt:
        return cls(HaltKind.MARKET_DATA, symbol)

    @classmethod
    def ack_overdue(cls, symbol: str) -> Halt:
        return cls(HaltKind.ACK_OVERDUE, symbol)

    @classmethod
    def parse(cls, label: str) -> Halt:
        """The halt a label names (``"fix_down"``, ``"md:AMZN"``); ValueError otherwise."""
        kind, sep, symbol = label.partition(":")
        try:
            return cls(HaltKind(kind), symbol if sep else None)
        except ValueError:
            raise ValueError(f"not a halt: {label!r}") from None

    def applies_to(self, symbol: object) -> bool:
        """Whether this halt stops new orders in ``symbol`` (node-wide halts stop all)."""
        return self.symbol is None or self.symbol == symbol

    @property
    def label(self) -> str:
        """``kind`` or ``kind:SYMBOL``: for log lines, replies and ``/readyz``."""
        return self.kind.value if self.symbol is None else f"{self.kind.value}:{self.symbol}"

    def __str__(self) -> str:
        return self.label

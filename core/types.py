"""Enumerations shared by the order path, with their FIX wire values.

Values are the FIX tag values so gateways map them without tables, and so a journal
row or a log line reads the same as the wire.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Side(IntEnum):
    """Order side; the integer is the sign of the position change (+1 buy, -1 sell)."""

    BUY = 1
    SELL = -1

    @property
    def sign(self) -> int:
        return int(self)

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def fix(self) -> str:
        """FIX Side(54): 1 buy, 2 sell."""
        return "1" if self is Side.BUY else "2"

    @classmethod
    def from_fix(cls, value: str) -> Side:
        if value == "1":
            return cls.BUY
        if value == "2":
            return cls.SELL
        raise ValueError(f"unsupported FIX Side(54) value {value!r}; expected '1' or '2'")


class OrdType(StrEnum):
    """FIX OrdType(40)."""

    MARKET = "1"
    LIMIT = "2"


class TimeInForce(StrEnum):
    """FIX TimeInForce(59)."""

    DAY = "0"
    IOC = "3"
    FOK = "4"

    @property
    def rests(self) -> bool:
        """Whether an unfilled remainder stays on the book (IOC/FOK never rest)."""
        return self is TimeInForce.DAY


class OrdStatus(StrEnum):
    """FIX OrdStatus(39), the states of a child order."""

    PENDING_NEW = "A"
    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    PENDING_CANCEL = "6"
    CANCELED = "4"
    PENDING_REPLACE = "E"
    REPLACED = "5"
    REJECTED = "8"
    EXPIRED = "C"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_pending(self) -> bool:
        """An in-flight request awaits the venue's answer; the order must not be touched."""
        return self in _PENDING


_TERMINAL = frozenset(
    {
        OrdStatus.FILLED,
        OrdStatus.CANCELED,
        OrdStatus.REPLACED,
        OrdStatus.REJECTED,
        OrdStatus.EXPIRED,
    }
)
_PENDING = frozenset({OrdStatus.PENDING_NEW, OrdStatus.PENDING_CANCEL, OrdStatus.PENDING_REPLACE})


class ExecType(StrEnum):
    """FIX 4.4 ExecType(150)."""

    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"
    TRADE = "F"
    ORDER_STATUS = "I"

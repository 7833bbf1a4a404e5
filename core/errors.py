"""Exceptions of the domain core.

Each one names what was wrong in its message, so a caller can log it as-is and an
operator at 3 a.m. can act on it without reading the code.
"""


class CoreError(Exception):
    """Base of every error the core raises on bad input."""


class IllegalTransition(CoreError):
    """An order event that the FIX OrdStatus state machine does not allow."""


class OverfillError(CoreError):
    """A fill that would take an order's cumulative quantity past its order quantity."""


class BookError(CoreError):
    """A book update that is malformed or would leave the book crossed."""


class PrecisionError(CoreError):
    """A price or quantity that is not a whole number of ticks or lots."""

"""The door to a venue: what every order router (FIX, in-process simulator) implements.

Its methods take only :class:`~risk.approval.Approved` requests, so under mypy no code
path can hand a router an order the overlay has not checked; implementations also call
:func:`~risk.approval.require_approved` so the rule holds for untyped callers. The
daemon's FIX router (``daemon/fix_router.py``) is the one module allowed to reach the
FIX gateway's order-sending API; a test walks the import graph to keep it that way.
"""

from __future__ import annotations

from typing import Protocol

from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from risk.approval import Approved


class OrderRouter(Protocol):
    def submit_new(self, approved: Approved[NewOrderRequest]) -> None:
        """Send a new order (FIX NewOrderSingle)."""
        ...

    def submit_replace(self, approved: Approved[ReplaceRequest]) -> None:
        """Send a cancel/replace (FIX OrderCancelReplaceRequest)."""
        ...

    def submit_cancel(self, approved: Approved[CancelRequest]) -> None:
        """Send a cancel (FIX OrderCancelRequest)."""
        ...

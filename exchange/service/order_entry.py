"""The exchange's order-entry port: requests in per session, reports out per session.

:class:`OrderEntry` is the seam between a wire (the FIX acceptor, see
:mod:`exchange.service.fix_order_entry`, or an in-process caller) and the venue.
:class:`EngineOrderEntry` is the venue side: it writes every request and every report
to the audit log (drop copy) *as the exchange saw it*, hands requests to the
matching engine stamped with venue time, and routes each report to its session.

A report for a session that is not connected (a resting order filled while the
client was away, an unsolicited cancel) is kept and delivered, in order, when the
session connects again: a venue never drops an execution. The queue per session is
bounded; past the bound the oldest undelivered reports are dropped with an error
in the log, and the client must recover with an order mass status request (the
audit log still has every one of them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from core.events import CancelReject, ExecReport
from core.log import get_logger
from core.requests import (
    CancelRequest,
    MassStatusRequest,
    NewOrderRequest,
    ReplaceRequest,
    StatusRequest,
)
from core.types import ExecType, OrdStatus
from exchange.service.audit import AuditLog
from exchange.service.venues import OrderVenue

log = get_logger("exchange.order_entry")

Request = NewOrderRequest | CancelRequest | ReplaceRequest | StatusRequest
Report = ExecReport | CancelReject
ReportHandler = Callable[[str, Report], None]


class OrderEntry(Protocol):
    def connect(self, session: str, handler: ReportHandler) -> None:
        """``session`` is up: deliver its reports (queued ones first) to ``handler``."""
        ...

    def disconnect(self, session: str) -> None:
        """``session`` is down: queue its reports until it connects again."""
        ...

    def submit(self, session: str, request: Request) -> None:
        """Act on a request; its reports arrive through the session's handler."""
        ...

    def mass_status(self, session: str, request: MassStatusRequest) -> list[ExecReport]:
        """Status of every live order of ``session`` (recovery after a restart)."""
        ...

    def bad_request(self, session: str, reason: str, fields: dict[str, str]) -> None:
        """Record a message that never became a request (the wire answers it)."""
        ...


class EngineOrderEntry:
    """:class:`OrderEntry` over an :class:`~exchange.service.venues.OrderVenue` (see
    module doc). Make :meth:`on_report` the venue's report sink, then :meth:`attach`."""

    def __init__(
        self,
        audit: AuditLog,
        *,
        venue: OrderVenue | None = None,
        max_queued: int = 100_000,
        cancel_on_disconnect: bool = False,
    ) -> None:
        self.audit = audit
        self.venue: OrderVenue | None = venue
        self.max_queued = max_queued
        self.cancel_on_disconnect = cancel_on_disconnect
        self._handlers: dict[str, ReportHandler] = {}
        self._queued: dict[str, deque[Report]] = {}
        self._capturing: dict[str, list[Report]] = {}
        self.dropped_reports = 0
        self.requests = 0
        self.reports = 0

    def attach(self, venue: OrderVenue) -> None:
        self.venue = venue

    def _venue(self) -> OrderVenue:
        if self.venue is None:
            raise RuntimeError("order entry has no venue attached")
        return self.venue

    # --------------------------------------------------------------- sessions
    def connect(self, session: str, handler: ReportHandler) -> None:
        self._handlers[session] = handler
        queued = self._queued.pop(session, None)
        if queued:
            log.info("order_entry_replaying_queued", session=session, reports=len(queued))
            for report in queued:
                handler(session, report)

    def disconnect(self, session: str) -> None:
        self._handlers.pop(session, None)
        if self.cancel_on_disconnect and self.venue is not None:
            n = self.venue.cancel_all(session)
            if n:
                log.warning("order_entry_cancel_on_disconnect", session=session, cancelled=n)

    # --------------------------------------------------------------- requests
    def submit(self, session: str, request: Request) -> None:
        self.requests += 1
        if not isinstance(request, StatusRequest):
            self.audit.record(session, request)
        self._venue().submit(session, request)

    def mass_status(self, session: str, request: MassStatusRequest) -> list[ExecReport]:
        out: list[ExecReport] = []
        for o in self._venue().open_orders(session):
            report = self.status_of(session, StatusRequest(o.cl_ord_id, o.symbol, o.side))
            if report is not None:
                out.append(report)
        log.info("order_mass_status", session=session, request=request.request_id, orders=len(out))
        return out

    def status_of(self, session: str, request: StatusRequest) -> ExecReport | None:
        """The order's status report, or None when the venue does not know the ClOrdID.

        Status reports are answers, not events: they are captured here instead of
        being routed to the session or audited.
        """
        captured: list[Report] = []
        self._capturing[session] = captured
        try:
            self._venue().submit(session, request)
        finally:
            del self._capturing[session]
        for r in captured:
            if isinstance(r, ExecReport) and r.exec_type is ExecType.ORDER_STATUS:
                if r.ord_status is OrdStatus.REJECTED and r.order_qty == 0:
                    return None  # "unknown order"
                return r
        return None

    def bad_request(self, session: str, reason: str, fields: dict[str, str]) -> None:
        self.audit.bad_message(session, reason, fields)

    # ---------------------------------------------------------------- reports
    def on_report(self, session: str, report: Report) -> None:
        """The engine's report sink: audit, then deliver or queue."""
        capture = self._capturing.get(session)
        if (
            capture is not None
            and isinstance(report, ExecReport)
            and report.exec_type is ExecType.ORDER_STATUS
        ):
            capture.append(report)
            return
        self.reports += 1
        if not (isinstance(report, ExecReport) and report.exec_type is ExecType.ORDER_STATUS):
            # Status answers change nothing; the drop copy is orders, cancels and fills.
            self.audit.record(session, report)
        handler = self._handlers.get(session)
        if handler is not None:
            handler(session, report)
            return
        queue = self._queued.setdefault(session, deque())
        if len(queue) >= self.max_queued:
            queue.popleft()
            self.dropped_reports += 1
            log.error(
                "order_entry_report_dropped",
                session=session,
                reason=f"more than {self.max_queued} reports queued for a disconnected session",
            )
        queue.append(report)

    def undeliverable(self, session: str, report: Report) -> None:
        """The wire could not take ``report`` (the session went down before order entry
        heard of it): queue it and everything after it for the next logon."""
        self._handlers.pop(session, None)
        self._queued.setdefault(session, deque()).append(report)

"""FIX order entry: the FIX acceptor's sessions <-> the exchange's :class:`OrderEntry`.

Inbound application messages are decoded into :mod:`core.requests` by the FIX
engine's mapping (:class:`gateways.fix.FixMessages`) and handed to the order-entry
port; reports come back per session and are encoded as ExecutionReport /
OrderCancelReject on the session they belong to.

Bad input never escapes a session and never goes unanswered:

- a NewOrderSingle that cannot become an order (unknown symbol, off-grid price,
  missing or invalid field) is answered with an ExecutionReport reject
  (ExecType=8, OrdStatus=8) whose Text(58) names the problem and the tag, and with
  OrdRejReason(103);
- a cancel or cancel/replace that cannot be read gets an OrderCancelReject;
- a message too broken for either (no ClOrdID, no Side) gets a BusinessMessageReject;
- every one of them is written to the audit log as ``bad_message`` plus the reject
  sent, like any other report.

Engine rejects carry the reason as ``"<reason>: <detail>"`` in Text(58); the FIX code
of the reason (:class:`exchange.engine.RejectReason`) goes into OrdRejReason(103) or
CxlRejReason(102) when the session's FIX version defines that code (99, Other, only
exists from FIX.4.4 on; before, Text alone carries the reason).

An application-level resend (PossResend=Y) of a request whose ClOrdID the venue
already knows is answered with the order's current status instead of being acted on
twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal

from core.clock import Clock
from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.log import get_logger
from core.requests import MassStatusRequest, StatusRequest
from core.types import ExecType, OrdStatus
from exchange.engine import RejectReason
from exchange.service.order_entry import EngineOrderEntry, Report
from gateways.fix import (
    AcceptorSettings,
    AppMessage,
    BusinessRejectReason,
    FixAcceptor,
    FixMappingError,
    FixMessage,
    FixMessages,
    LoggedOn,
    LoggedOut,
    MsgType,
    Outbound,
    SessionEvent,
    SessionNotReady,
)

log = get_logger("exchange.fix")

_UNIT = Instrument("UNKNOWN", tick_size=Decimal("0.0001"), qty_unit=Decimal("0.00000001"))
# FIX.4.0/4.1 quantities are whole numbers.
_WHOLE_UNIT = Instrument("UNKNOWN", tick_size=Decimal("0.0001"), qty_unit=Decimal("1"))


class _AnySymbol(Mapping[str, Instrument]):
    """Instruments for encoding rejects: an unknown symbol still gets a (neutral) grid,
    so a reject for "unknown symbol" can be sent as an ExecutionReport."""

    def __init__(self, known: Mapping[str, Instrument], neutral: Instrument = _UNIT) -> None:
        self._known = known
        self._neutral = neutral

    def __getitem__(self, symbol: str) -> Instrument:
        return self._known.get(symbol, self._neutral)

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


class FixOrderEntry:
    """Hosts the FIX acceptor and bridges it to ``entry`` (see module doc)."""

    def __init__(
        self,
        settings: AcceptorSettings,
        entry: EngineOrderEntry,
        instruments: Mapping[str, Instrument],
        *,
        clock: Clock,
        venue_time: Callable[[], int] | None = None,
    ) -> None:
        self.entry = entry
        self.clock = clock
        # Rejects made here carry the venue's time (event time in a replay), like the
        # engine's own reports.
        self.venue_time = venue_time or clock.now_ns
        self.instruments = dict(instruments)
        self.acceptor = FixAcceptor(settings, on_event=self._on_event, clock=clock)
        self._messages = {
            s.session_id: FixMessages(s.begin_string, self.instruments, dictionary=s.dictionary())
            for s in settings.sessions
        }
        self._reject_messages = {
            s.session_id: FixMessages(
                s.begin_string,
                _AnySymbol(
                    self.instruments,
                    _WHOLE_UNIT if s.begin_string in ("FIX.4.0", "FIX.4.1") else _UNIT,
                ),
                dictionary=s.dictionary(),
            )
            for s in settings.sessions
        }
        self._reject_ids = itertools.count(1)
        self.rejected_inbound = 0

    @property
    def port(self) -> int:
        return self.acceptor.port

    async def start(self) -> None:
        await self.acceptor.start()

    async def stop(self) -> None:
        await self.acceptor.stop("exchange shutting down")

    # ================================================================= events
    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, AppMessage):
            self._on_app(event)
        elif isinstance(event, LoggedOn):
            log.info("fix_session_logged_on", session=event.session_id)
            self.entry.connect(event.session_id, self._deliver)
        elif isinstance(event, LoggedOut):
            log.info("fix_session_logged_out", session=event.session_id, reason=event.reason)
            self.entry.disconnect(event.session_id)

    def _on_app(self, event: AppMessage) -> None:
        session, msg = event.session_id, event.message
        mapping = self._messages[session]
        try:
            request = mapping.decode_request(msg)
        except FixMappingError as exc:
            self._refuse(session, msg, exc)
            return
        if isinstance(request, MassStatusRequest):
            self._mass_status(session, request)
            return
        if event.poss_resend and not isinstance(request, StatusRequest):
            known = self.entry.status_of(
                session, StatusRequest(request.cl_ord_id, request.symbol, request.side)
            )
            if known is not None:
                log.info("fix_poss_resend_answered_with_status", cl_ord_id=request.cl_ord_id)
                self._deliver(session, known)
                return
        self.entry.submit(session, request)

    def _mass_status(self, session: str, request: MassStatusRequest) -> None:
        reports = self.entry.mass_status(session, request)
        mapping = self._messages[session]
        for i, rep in enumerate(reports):
            out = mapping.execution_report(
                rep, mass_status_req_id=request.request_id, last_report=i == len(reports) - 1
            )
            self._send(session, out, rep)

    # ================================================================ reports
    def _deliver(self, session: str, report: Report) -> None:
        mapping = self._messages[session]
        try:
            if isinstance(report, ExecReport):
                out = mapping.execution_report(report)
                if report.exec_type is ExecType.REJECTED:
                    out = _with_code(mapping, out, 103, _ord_rej_code(report.text))
            else:
                out = mapping.order_cancel_reject(report)
                out = _with_code(mapping, out, 102, _cxl_rej_code(report.reason))
        except FixMappingError:
            # Only a reject for a symbol we do not list gets here (every order the
            # engine accepted is on a known grid): encode it on the neutral grid.
            rejects = self._reject_messages[session]
            if isinstance(report, ExecReport):
                out = _with_code(rejects, rejects.execution_report(report), 103, 1)
            else:
                out = rejects.order_cancel_reject(report)
        self._send(session, out, report)

    def _send(self, session: str, out: Outbound, report: Report) -> None:
        try:
            self.acceptor.send_app(session, out.msg_type, out.body)
        except SessionNotReady:
            # The session went down between the report and now: keep it for the
            # session's next logon.
            self.entry.undeliverable(session, report)

    # ============================================================ bad input
    def _refuse(self, session: str, msg: FixMessage, exc: FixMappingError) -> None:
        self.rejected_inbound += 1
        mt = msg.msg_type
        text = exc.text
        if exc.tag is not None and f"tag {exc.tag}" not in text and f"({exc.tag})" not in text:
            text = f"{text} (tag {exc.tag})"
        fields = {
            "msg_type": mt.decode("latin-1"),
            "seq_num": str(msg.seq_num),
            "cl_ord_id": exc.cl_ord_id,
            "symbol": exc.symbol,
        }
        self.entry.bad_request(session, text, fields)
        log.warning(
            "fix_request_refused", session=session, msg_type=fields["msg_type"], reason=text
        )
        now = self.venue_time()
        orig = (msg.fields.get(41) or b"").decode("latin-1")
        if mt == MsgType.NEW_ORDER_SINGLE and exc.cl_ord_id and exc.side is not None:
            self.entry.on_report(
                session,
                ExecReport(
                    cl_ord_id=exc.cl_ord_id,
                    exec_id=f"X{next(self._reject_ids)}",
                    exec_type=ExecType.REJECTED,
                    ord_status=OrdStatus.REJECTED,
                    symbol=exc.symbol,
                    side=exc.side,
                    order_qty=0,
                    cum_qty=0,
                    leaves_qty=0,
                    ts_ns=now,
                    text=text,
                ),
            )
            return
        if (
            mt in (MsgType.ORDER_CANCEL_REQUEST, MsgType.ORDER_CANCEL_REPLACE_REQUEST)
            and exc.cl_ord_id
            and orig
        ):
            self.entry.on_report(
                session,
                CancelReject(
                    cl_ord_id=exc.cl_ord_id,
                    orig_cl_ord_id=orig,
                    is_replace=mt == MsgType.ORDER_CANCEL_REPLACE_REQUEST,
                    reason=text,
                    ts_ns=now,
                    ord_status=None,
                ),
            )
            return
        reason = (
            BusinessRejectReason.UNKNOWN_SECURITY
            if exc.tag == 55
            else BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING
            if "missing" in exc.text
            else BusinessRejectReason.OTHER
        )
        self.acceptor.session(session).business_reject(msg, reason, text)


def _with_code(mapping: FixMessages, out: Outbound, tag: int, code: int) -> Outbound:
    if not mapping.dictionary.defines_value(tag, b"%d" % code):
        return out  # the version has no such code: Text(58) carries the reason
    return Outbound(out.msg_type, out.body + b"%d=%d\x01" % (tag, code))


def _ord_rej_code(text: str) -> int:
    reason = RejectReason.from_text(text)
    if reason is not None:
        return reason.ord_rej_reason
    return 1 if text.startswith("unknown symbol") else 99


def _cxl_rej_code(text: str) -> int:
    reason = RejectReason.from_text(text)
    return reason.cxl_rej_reason if reason is not None else 99

"""The FIX order router: the one module allowed to put orders on the wire.

It accepts only risk-approved requests (``risk.approval.require_approved`` checks at
run time what mypy checks statically) and writes them to the FIX initiator. An
import-linter contract keeps every other module of ``daemon`` and ``policies`` away
from the FIX gateway, so there is no path to the venue around the overlay.

When the session is not logged on the message is *not* queued (it would go out later
on stale prices): the router answers at once with a local reject, which the execution
engine applies like any venue reject, so the order never counts as live.

The same holds after a reconnect: the session resends what the venue missed only where
:meth:`FixRouter.may_resend` allows it (an order-adding message whose order the node
still wants, sent recently), and gap-fills the rest. :meth:`FixRouter.not_resent` tells
the node of each request gap-filled, which asks the venue where that order stands: the
status path settles a request the venue never processed as not sent, losing nothing
(and keeps what a venue that asked again for a message it had processed already has).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.events import CancelReject, ExecReport
from core.instruments import Instrument
from core.requests import (
    CancelRequest,
    MassStatusRequest,
    NewOrderRequest,
    ReplaceRequest,
    StatusRequest,
)
from core.types import ExecType, OrdStatus
from gateways.fix import (
    AppMessage,
    FixInitiator,
    FixMessages,
    LoggedOn,
    LoggedOut,
    NotResent,
    ResendCandidate,
)
from gateways.fix.codec import FixMessage
from gateways.fix.messages import BusinessReject, FixMappingError
from gateways.fix.session import SessionNotReady
from gateways.fix.settings import InitiatorSettings
from risk.approval import Approved, require_approved

LOCAL_REJECT_TEXT = "not sent: FIX session not logged on"


@dataclass(frozen=True, slots=True)
class VenueReject:
    """The venue refused one of our messages outright (BusinessMessageReject)."""

    text: str
    ref_seq_num: int


VenueMessage = ExecReport | CancelReject | VenueReject
OrderEntry = NewOrderRequest | CancelRequest | ReplaceRequest
_KINDS: dict[type[object], str] = {
    NewOrderRequest: "new",
    CancelRequest: "cancel",
    ReplaceRequest: "replace",
    StatusRequest: "status",
}


class FixRouter:
    """Owns the FIX initiator: orders out (approved only), venue answers in as core types.

    The rest of the daemon never sees a FIX object: it gets ``on_message`` with an
    ExecReport / CancelReject / VenueReject, ``on_session(up, why)`` and
    ``on_unreadable(why)`` for a report that cannot be mapped (which may hide a fill).
    """

    def __init__(
        self,
        settings: InitiatorSettings,
        instruments: Mapping[str, Instrument],
        *,
        on_message: Callable[[VenueMessage], None],
        on_session: Callable[[bool, str], None],
        on_unreadable: Callable[[str], None],
        on_sent: Callable[[str, str, str], None] | None = None,
        resend_allowed: Callable[[str, str, float], bool] | None = None,
        on_not_resent: Callable[[OrderEntry], None] | None = None,
        hold_new: Callable[[str], str | None] | None = None,
    ) -> None:
        self.initiator = FixInitiator(
            settings, on_event=self._on_event, resend_policy=self._resend_policy
        )
        self.messages = FixMessages(
            settings.session.begin_string,
            instruments,
            dictionary=settings.session.dictionary(),
        )
        self._on_message = on_message
        self._on_local_reject = on_message
        self._on_session = on_session
        self._on_unreadable = on_unreadable
        self._on_sent = on_sent  # (symbol, kind, ClOrdID of the request)
        self._resend_allowed = resend_allowed  # (kind, ClOrdID, age s) -> may it go again
        self._on_not_resent = on_not_resent
        # (symbol) -> why a new order or replace must not reach the wire now, or None:
        # asked as it is sent, since the decision that made it may predate the reason
        self._hold_new = hold_new
        self._local_ids = itertools.count(1)
        self.sent = 0
        self.refused = 0
        self.held = 0  # new orders and replaces hold_new kept off the wire

    # ------------------------------------------------------------ session
    async def start(self) -> None:
        await self.initiator.start()

    async def stop(self, text: str) -> None:
        await self.initiator.stop(text)

    @property
    def ready(self) -> bool:
        return self.initiator.is_logged_on

    @property
    def next_sender_seq(self) -> int:
        return self.initiator.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        return self.initiator.next_target_seq

    @property
    def session_id(self) -> str:
        return self.initiator.session_id

    def _on_event(self, event: object) -> None:
        if isinstance(event, AppMessage):
            try:
                decoded = self.messages.decode_report(event.message)
            except FixMappingError as exc:
                self._on_unreadable(f"{exc} (ClOrdID {exc.cl_ord_id or '?'})")
                return
            if isinstance(decoded, BusinessReject):
                self._on_message(VenueReject(decoded.text, decoded.ref_seq_num))
            else:
                self._on_message(decoded)
        elif isinstance(event, NotResent):
            self.not_resent(event.message)
        elif isinstance(event, LoggedOn):
            self._on_session(True, f"logged on ({event.session_id})")
        elif isinstance(event, LoggedOut):
            self._on_session(False, event.reason)

    def _local_exec_id(self) -> str:
        return f"LOCAL-{time.time_ns()}-{next(self._local_ids)}"

    def submit_new(self, approved: Approved[NewOrderRequest]) -> None:
        req = require_approved(approved, NewOrderRequest)
        self._submit(req, self.messages.new_order_single(req), "new")

    def submit_replace(self, approved: Approved[ReplaceRequest]) -> None:
        req = require_approved(approved, ReplaceRequest)
        self._submit(req, self.messages.order_cancel_replace_request(req), "replace")

    def submit_cancel(self, approved: Approved[CancelRequest]) -> None:
        req = require_approved(approved, CancelRequest)
        self._submit(req, self.messages.order_cancel_request(req), "cancel")

    def _submit(self, req: OrderEntry, msg: tuple[bytes, bytes], kind: str) -> None:
        if kind != "cancel" and self._hold_new is not None:
            why = self._hold_new(req.symbol)
            if why is not None:
                self.held += 1
                self._on_local_reject(self.not_sent(req, f"not sent: {why}"))
                return
        try:
            self.initiator.send_app(*msg)
        except SessionNotReady:
            self.refused += 1
            self._on_local_reject(self.not_sent(req, LOCAL_REJECT_TEXT))
            return
        self.sent += 1
        if self._on_sent is not None:
            self._on_sent(req.symbol, kind, req.cl_ord_id)

    def not_sent(self, req: OrderEntry, text: str) -> ExecReport | CancelReject:
        """The answer to a request that never left: a reject of the new order, or a
        cancel reject of the cancel or replace (the order stands as it was)."""
        if isinstance(req, NewOrderRequest):
            return ExecReport(
                cl_ord_id=req.cl_ord_id,
                exec_id=self._local_exec_id(),
                exec_type=ExecType.REJECTED,
                ord_status=OrdStatus.REJECTED,
                symbol=req.symbol,
                side=req.side,
                order_qty=req.qty,
                cum_qty=0,
                leaves_qty=0,
                ts_ns=req.ts_ns,
                price=req.price,
                text=text,
            )
        return CancelReject(
            req.cl_ord_id, req.orig_cl_ord_id, isinstance(req, ReplaceRequest), text, req.ts_ns
        )

    # ------------------------------------------------------------ resend after a gap
    def _decode_own(self, msg: FixMessage) -> tuple[str, OrderEntry | StatusRequest] | None:
        try:
            req = self.messages.decode_request(msg)
        except FixMappingError:
            return None
        kind = _KINDS.get(type(req))
        return None if kind is None or isinstance(req, MassStatusRequest) else (kind, req)

    def _resend_policy(self, candidate: ResendCandidate) -> bool:
        """The session's age rule first (a stale order never goes again), then ours."""
        return candidate.default and self.may_resend(candidate.message, candidate.age_s)

    def may_resend(self, msg: FixMessage, age_s: float) -> bool:
        """The session's question on a ResendRequest: may ``msg`` (sent ``age_s`` ago)
        go out again with PossDupFlag=Y, or must it be gap-filled?

        Status requests and cancels only reduce what we risk: always. A new order or a
        replace only if the node still wants exactly that request (its order awaits
        it, the parent works, nothing halts the symbol but the reconnect itself); the
        session's own age limit applies before this is asked. Anything we cannot read
        is gap-filled: never resend what we cannot vouch for.
        """
        decoded = self._decode_own(msg)
        if decoded is None:
            return False
        kind, req = decoded
        if kind in ("status", "cancel"):
            return True
        allowed = self._resend_allowed
        return allowed is not None and allowed(kind, req.cl_ord_id, age_s)

    def not_resent(self, msg: FixMessage) -> None:
        """The session gap-filled ``msg`` instead of resending it. The venue asked for
        it, so it has most likely not processed it; the node asks where the order
        stands rather than assume (a status request itself is simply asked again by the
        reconciliation that follows every logon)."""
        decoded = self._decode_own(msg)
        if decoded is None or self._on_not_resent is None:
            return
        _, req = decoded
        if not isinstance(req, StatusRequest):
            self._on_not_resent(req)

    def request_status(self, req: StatusRequest) -> bool:
        """Ask the venue where an order stands (recovery, uncertain orders); no risk check:
        a status request changes no exposure."""
        try:
            self.initiator.send_app(*self.messages.order_status_request(req))
        except SessionNotReady:
            return False
        return True

    def request_mass_status(self, req: MassStatusRequest) -> bool:
        try:
            self.initiator.send_app(*self.messages.order_mass_status_request(req))
        except SessionNotReady:
            return False
        return True

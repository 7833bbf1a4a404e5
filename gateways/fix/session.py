"""The FIX session layer as a state machine, with no I/O of its own.

A :class:`FixSession` is fed bytes (``data_received``) and time (timers on the
:class:`core.clock.Clock` it is given) and answers by writing bytes to its
:class:`SessionIO` and handing events to the application. The asyncio transports
(initiator and acceptor) only move bytes; every rule of the FIX session protocol -
logon, sequence numbers, gap detection and resend, heartbeats and test requests,
rejects, logout - lives here, once, for both roles. Unit tests drive it with a
:class:`core.clock.SimClock` and an in-memory IO, so a 30-second heartbeat test
takes microseconds.

Nothing a counterparty sends can make this class raise: garbled bytes are dropped
and counted, malformed messages are rejected, and an unexpected internal error
logs out and disconnects (safety over availability) instead of escaping into the
transport's task.
"""

from __future__ import annotations

import hmac
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.clock import Clock, Timer
from gateways.fix import dictionary as dd
from gateways.fix import tags
from gateways.fix.codec import (
    FixMessage,
    FrameDecoder,
    Garbled,
    GarbledMessage,
    HeaderEncoder,
    encode_fields,
    parse,
    pipe,
    split_header,
)
from gateways.fix.events import (
    AppMessage,
    LoggedOn,
    LoggedOut,
    NotResent,
    RejectReceived,
    SessionEvent,
)
from gateways.fix.message_log import MessageLog, NullLog, redact
from gateways.fix.rejects import business_reject_body, clean_text, reject_body, reverse_route
from gateways.fix.resend import ResendPolicy, ResendRules
from gateways.fix.settings import SessionSettings
from gateways.fix.store import MemoryStore, MessageStore
from gateways.fix.tags import MsgType as M
from gateways.fix.tags import SessionRejectReason as R
from gateways.fix.timefmt import TimestampFormatter, parse_utc
from gateways.fix.validation import Violation, validate, violation

HeaderFields = bytes | Iterable[tuple[int, bytes | str | int]]

NS = 1_000_000_000

# Messages held while waiting for a resend; past this the peer is not filling the gap.
MAX_QUEUED = 10_000

ACCEPTOR_APP_TYPES = ("D", "F", "G", "H", "AF", "j")
INITIATOR_APP_TYPES = ("8", "9", "j")


class State(StrEnum):
    DISCONNECTED = "disconnected"
    LOGON_SENT = "logon_sent"  # initiator, waiting for the Logon response
    AWAITING_LOGON = "awaiting_logon"  # acceptor, connected, waiting for the Logon
    LOGGED_ON = "logged_on"
    LOGOUT_SENT = "logout_sent"  # waiting for the peer's Logout response


class SessionIO(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """Disconnect after what was written has gone out."""
        ...


class SessionNotReady(RuntimeError):
    """An application message was refused because the session is not logged on."""


@dataclass(slots=True)
class SessionStats:
    """Counters for metrics and health checks."""

    messages_in: int = 0
    messages_out: int = 0
    garbled_dropped: int = 0
    garbled_bytes: int = 0
    rejects_sent: int = 0
    rejects_received: int = 0
    business_rejects_sent: int = 0
    resend_requests_sent: int = 0
    resend_requests_received: int = 0
    messages_resent: int = 0
    messages_not_resent: int = 0  # application messages gap-filled (see resend.py)
    gap_fills_sent: int = 0
    sequence_resets: int = 0  # both sequence numbers back to 1 (ResetSeqNumFlag, options)
    duplicates_ignored: int = 0
    logons: int = 0
    disconnects: int = 0
    internal_errors: int = 0


EventHandler = Callable[[SessionEvent], None]


class FixSession:
    def __init__(
        self,
        settings: SessionSettings,
        *,
        initiator: bool,
        clock: Clock,
        store: MessageStore | None = None,
        log: MessageLog | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        self.settings = settings
        self.session_id = settings.session_id
        self.initiator = initiator
        self.clock = clock
        self.store: MessageStore = store if store is not None else MemoryStore()
        self.log: MessageLog = log if log is not None else NullLog()
        self.on_event: EventHandler = on_event or (lambda _e: None)
        self.dd = settings.dictionary()
        if initiator and settings.reset_on_logon and not self.dd.message_has(M.LOGON, 141):
            raise ValueError(
                f"reset_on_logon: the {settings.begin_string} Logon has no ResetSeqNumFlag(141)"
            )
        self._fixt = settings.begin_string == dd.FIXT11
        # The application version we default to and the one the peer announced
        # (FIXT.1.1); a message's own ApplVerID(1128) overrides both.
        self._our_appl_ver = (
            dd.APPL_VER_ID[settings.default_appl_ver_id].encode()
            if settings.default_appl_ver_id
            else b""
        )
        self._peer_appl_ver = self._our_appl_ver
        self._dds: dict[bytes, dd.DataDictionary] = {self._our_appl_ver: self.dd}
        self._user_ok = not settings.validate_user_defined_fields
        # FIX.4.0/4.1: whole-second timestamps and 999999 for "no end" in a ResendRequest.
        modern = settings.begin_string not in (dd.FIX40, dd.FIX41)
        self._infinity = b"0" if modern else b"999999"
        self.resend_rules = ResendRules(settings)
        app_types = settings.app_msg_types or (
            INITIATOR_APP_TYPES if initiator else ACCEPTOR_APP_TYPES
        )
        self._app_types = frozenset(t.encode() for t in app_types)
        self._begin = settings.begin_string.encode()
        self._sender = settings.sender_comp_id.encode()
        self._target = settings.target_comp_id.encode()
        self._enc = HeaderEncoder(
            settings.begin_string, settings.sender_comp_id, settings.target_comp_id
        )
        self._fmt = TimestampFormatter(millis=modern)
        self._decoder = FrameDecoder(settings.max_message_size)
        self._max_latency_ns = int(settings.max_latency_s * NS)
        self.stats = SessionStats()
        self.state = State.DISCONNECTED
        self._io: SessionIO | None = None
        self._next_out = self.store.next_sender_seq
        self._next_in = self.store.next_target_seq
        self._queue: dict[int, FixMessage] = {}
        self._done_early: set[int] = set()
        self._resend_until = 0
        self._hb_ns = settings.heartbeat_interval_s * NS
        self._last_sent_ns = 0
        self._last_recv_ns = 0
        self._test_req_sent_ns = 0
        self._test_req_counter = 0
        self._deadline_ns = 0  # logon or logout deadline, 0 when none
        self._timer: Timer | None = None
        self._sent_reset = False
        self._clean_logout = False  # the Logout handshake completed (reset_on_logout)
        self.last_disconnect_reason = ""

    # ------------------------------------------------------------------ status
    @property
    def is_logged_on(self) -> bool:
        return self.state is State.LOGGED_ON

    @property
    def next_sender_seq(self) -> int:
        return self._next_out

    @property
    def next_target_seq(self) -> int:
        return self._next_in

    @property
    def heartbeat_interval_s(self) -> float:
        return self._hb_ns / NS

    @property
    def awaiting_resend(self) -> bool:
        return self._resend_until >= self._next_in and self._resend_until > 0

    # -------------------------------------------------------------- transport
    def connection_made(self, io: SessionIO) -> None:
        """A TCP connection is up: the initiator sends Logon, the acceptor waits for one."""
        self._io = io
        self._decoder = FrameDecoder(self.settings.max_message_size)
        self._queue.clear()
        self._done_early.clear()
        self._resend_until = 0
        self._test_req_sent_ns = 0
        self._hb_ns = self.settings.heartbeat_interval_s * NS
        self._peer_appl_ver = self._our_appl_ver
        if self.settings.refresh_on_logon:
            # Another process may have written the store since we read it (a standby
            # taking over the session): its sequence numbers are the truth.
            self.store.refresh()
            self._next_out = self.store.next_sender_seq
            self._next_in = self.store.next_target_seq
            self.log.event(
                f"refreshed from the store: next out {self._next_out}, next in {self._next_in}"
            )
        now = self.clock.now_ns()
        self._last_recv_ns = self._last_sent_ns = now
        self._deadline_ns = now + int(self.settings.logon_timeout_s * NS)
        if self.initiator:
            self._send_logon()
            self.state = State.LOGON_SENT
        else:
            self.state = State.AWAITING_LOGON
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        try:
            for frame in self._decoder.feed(data):
                if self._io is None:
                    break
                if isinstance(frame, Garbled):
                    self._drop(frame.reason, frame.data)
                    continue
                try:
                    msg = parse(frame)
                except GarbledMessage as exc:
                    self._drop(str(exc), frame)
                    continue
                self.stats.messages_in += 1
                self.log.incoming(frame)
                self._on_message(msg)
            self.store.flush()
        except Exception as exc:  # never let the peer's input crash the process
            self.stats.internal_errors += 1
            self.log.event(f"internal error handling input: {exc!r}\n{traceback.format_exc()}")
            self._logout_and_disconnect("internal error in session; disconnecting")

    def connection_lost(self, reason: str = "connection closed") -> None:
        if self._io is None and self.state is State.DISCONNECTED:
            return
        was_logged_on = self.state in (State.LOGGED_ON, State.LOGOUT_SENT)
        self._io = None
        self.state = State.DISCONNECTED
        self._cancel_timer()
        self.stats.disconnects += 1
        self.last_disconnect_reason = reason
        self.log.event(f"disconnected: {reason}")
        clean_logout, self._clean_logout = self._clean_logout, False
        if self.settings.reset_on_disconnect or (clean_logout and self.settings.reset_on_logout):
            why = "reset_on_disconnect" if self.settings.reset_on_disconnect else "reset_on_logout"
            self._reset_sequences(why)
        if was_logged_on:
            self._emit(LoggedOut(self.session_id, reason))

    # ---------------------------------------------------------- application
    def send_app(self, msg_type: bytes, body: bytes, header: HeaderFields = b"") -> int:
        """Send an application message; returns its MsgSeqNum.

        ``header`` adds standard header fields the application sets: routing
        (OnBehalfOf*/DeliverTo*, e.g. :meth:`reverse_route` of the message answered),
        PossResend(97)=Y, ApplVerID(1128). Raises :class:`SessionNotReady` unless logged
        on: an order must never be queued behind a session that may not come back (the
        caller decides what to do with it, with current market knowledge).
        """
        if self.state is not State.LOGGED_ON or self._io is None:
            raise SessionNotReady(f"{self.session_id}: not logged on (state {self.state.value})")
        if not isinstance(header, bytes):
            header = encode_fields(header)
        seq = self._next_out
        now = self.clock.now_ns()
        raw = self._enc.encode(msg_type, seq, self._fmt.format(now), body, header=header)
        self.store.record_sent(seq, raw)
        self._next_out = seq + 1
        self._io.write(raw)
        self._last_sent_ns = now
        self.stats.messages_out += 1
        self.log.outgoing(raw)
        return seq

    def logout(self, text: str = "") -> None:
        """Start the Logout handshake; disconnects on the peer's answer or after the timeout."""
        if self.state is State.LOGGED_ON:
            self._send_logout(text)
            self.state = State.LOGOUT_SENT
            self._deadline_ns = self.clock.now_ns() + int(self.settings.logout_timeout_s * NS)
            self._arm_timer()
        elif self.state in (State.LOGON_SENT, State.AWAITING_LOGON):
            self.disconnect("logout before logon completed")

    def business_reject(
        self, ref: FixMessage, reason: tags.BusinessRejectReason, text: str
    ) -> None:
        """Answer an application message the application cannot act on: a
        BusinessMessageReject (35=j), or a session Reject on FIX.4.0/4.1, which have none."""
        self._business_reject(ref, reason, text)

    def reverse_route(self, msg: FixMessage) -> bytes:
        """Header fields for an answer to ``msg`` (pass as ``send_app(..., header=)``)."""
        return reverse_route(msg, self.dd)

    def set_resend_policy(self, policy: ResendPolicy | None) -> None:
        """Decide per stored application message whether a ResendRequest resends it
        (see :mod:`gateways.fix.resend`); None restores the age rule."""
        self.resend_rules.policy = policy

    def dictionary_for(self, msg: FixMessage) -> dd.DataDictionary:
        """The dictionary ``msg`` is validated with (FIXT.1.1: by its ApplVerID)."""
        if not self._fixt:
            return self.dd
        appl = msg.fields.get(tags.APPL_VER_ID) or self._peer_appl_ver
        found = self._dds.get(appl)
        if found is None:
            name = dd.APPL_VER_NAME.get(appl.decode("latin-1"))
            if name is None:
                return self.dd  # unknown ApplVerID: validation rejects the value
            found = self._dds[appl] = dd.session_dictionary(
                dd.FIXT11, data_dictionary=self.settings.data_dictionary, app_version=name
            )
        return found

    def disconnect(self, reason: str) -> None:
        io = self._io
        self.log.event(f"disconnecting: {reason}")
        self.last_disconnect_reason = reason
        if io is not None:
            io.close()
        self.connection_lost(reason)

    # ------------------------------------------------------------- receiving
    def _drop(self, reason: str, data: bytes) -> None:
        self.stats.garbled_dropped += 1
        self.stats.garbled_bytes += len(data)
        self.log.event(f"dropped garbled input ({reason}): {pipe(redact(data)[:200])!r}")

    def _on_message(self, msg: FixMessage) -> None:
        self._last_recv_ns = now = self.clock.now_ns()
        self._test_req_sent_ns = 0
        state = self.state
        if state is State.LOGON_SENT or state is State.AWAITING_LOGON:
            if msg.msg_type == M.LOGOUT:
                # The peer refused our Logon; its Text(58) is what the operator must read.
                self.disconnect(
                    f"peer refused logon: {msg.get_str(tags.TEXT) or 'no reason given'}"
                )
                return
            if msg.msg_type != M.LOGON:
                self.disconnect(f"first message was MsgType {msg.msg_type!r}, not a Logon")
                return
            self._on_logon(msg, now)
            return
        if state is State.DISCONNECTED:
            return
        if not self._header_ok(msg, now):
            return
        seq = msg.seq_num
        expected = self._next_in
        mt = msg.msg_type
        if mt == M.LOGON and msg.fields.get(tags.RESET_SEQ_NUM_FLAG) == b"Y":
            self._on_reset_logon(msg)
            return
        if mt == M.SEQUENCE_RESET and msg.fields.get(tags.GAP_FILL_FLAG) != b"Y":
            self._on_sequence_reset(msg)
            return
        if seq > expected:
            self._on_too_high(msg, seq, expected)
            return
        if seq < expected:
            self._on_too_low(msg, seq, expected)
            return
        if msg.poss_dup and not self._poss_dup_ok(msg):
            if self._io is not None:
                self._advance_in(seq + 1)  # rejected, but its sequence number is used (2g)
            return
        self._process(msg)
        if self._queue:
            self._drain_queue()

    def _header_ok(self, msg: FixMessage, now: int) -> bool:
        f = msg.fields
        if msg.begin_string != self._begin:
            self._logout_and_disconnect(
                f"Incorrect BeginString {msg.begin_string.decode('latin-1')!r}"
            )
            return False
        seq_text = f.get(tags.MSG_SEQ_NUM)
        if seq_text is None or not seq_text.isdigit():
            self._logout_and_disconnect("MsgSeqNum(34) missing or not a number")
            return False
        sender = f.get(tags.SENDER_COMP_ID)
        target = f.get(tags.TARGET_COMP_ID)
        sending = f.get(tags.SENDING_TIME)
        if not sender or not target or not sending:
            for tag in (tags.SENDER_COMP_ID, tags.TARGET_COMP_ID, tags.SENDING_TIME):
                value = f.get(tag)
                if not value:
                    # Missing or empty: a malformed message, not somebody else's (14b, 14d).
                    reason = R.REQUIRED_TAG_MISSING if value is None else R.TAG_WITHOUT_VALUE
                    self._reject_in_sequence(msg, violation(reason, tag))
                    return False
        if sender != self._target or target != self._sender:
            self._reject(msg, R.COMP_ID_PROBLEM, None, "CompID problem")
            self._logout_and_disconnect("CompID problem")
            return False
        ts = parse_utc(sending) if sending else None
        if ts is None or (self._max_latency_ns and abs(now - ts) > self._max_latency_ns):
            self._reject(
                msg, R.SENDING_TIME_ACCURACY, tags.SENDING_TIME, "SendingTime accuracy problem"
            )
            self._logout_and_disconnect("SendingTime accuracy problem")
            return False
        return True

    def _poss_dup_ok(self, msg: FixMessage) -> bool:
        """PossDupFlag=Y needs OrigSendingTime, not later than SendingTime (tests 2f, 2g)."""
        orig = msg.fields.get(tags.ORIG_SENDING_TIME)
        if orig is None:
            if msg.msg_type == M.SEQUENCE_RESET:
                return True  # a gap fill's own timestamps carry no information
            self._reject(
                msg, R.REQUIRED_TAG_MISSING, tags.ORIG_SENDING_TIME, "Required tag missing"
            )
            return False
        orig_ns = parse_utc(orig)
        sent_ns = parse_utc(msg.fields.get(tags.SENDING_TIME, b""))
        if orig_ns is None:
            self._reject(
                msg,
                R.INCORRECT_DATA_FORMAT,
                tags.ORIG_SENDING_TIME,
                "Incorrect data format for value",
            )
            return False
        if sent_ns is not None and orig_ns > sent_ns:
            self._reject(
                msg, R.SENDING_TIME_ACCURACY, tags.ORIG_SENDING_TIME, "SendingTime accuracy problem"
            )
            self._logout_and_disconnect("OrigSendingTime later than SendingTime")
            return False
        return True

    def _on_too_high(self, msg: FixMessage, seq: int, expected: int) -> None:
        mt = msg.msg_type
        if mt == M.RESEND_REQUEST:
            # Answer at once (test 20): the peer may be waiting on us before it resends.
            if self._validate(msg) is None:
                self._on_resend_request(msg)
            self._done_early.add(seq)
        elif mt == M.LOGOUT:
            self._on_logout(msg)
            return
        if len(self._queue) >= MAX_QUEUED:
            self._logout_and_disconnect(
                f"more than {MAX_QUEUED} messages queued behind a gap at {expected}"
            )
            return
        self._queue[seq] = msg
        if not self.awaiting_resend:
            self._send_resend_request(expected)
        self._resend_until = max(self._resend_until, seq)

    def _on_too_low(self, msg: FixMessage, seq: int, expected: int) -> None:
        if msg.poss_dup:
            if self._poss_dup_ok(msg):
                self.stats.duplicates_ignored += 1
                self.log.event(f"ignored PossDup message {seq} (already received)")
            return
        self._logout_and_disconnect(f"MsgSeqNum too low, expecting {expected} but received {seq}")

    def _drain_queue(self) -> None:
        while self._io is not None:
            nxt = self._queue.pop(self._next_in, None)
            if nxt is None:
                break
            if self._next_in in self._done_early:
                self._done_early.discard(self._next_in)
                self._advance_in(self._next_in + 1)
                continue
            self._process(nxt)
        # Anything queued below the next expected number was superseded (gap fill/reset).
        for s in [s for s in self._queue if s < self._next_in]:
            del self._queue[s]
        self._done_early = {s for s in self._done_early if s >= self._next_in}
        if not self.awaiting_resend:
            self._resend_until = 0

    def _advance_in(self, nxt: int) -> None:
        self._next_in = nxt
        self.store.set_next_target(nxt)
        if self._resend_until and nxt > self._resend_until:
            self._resend_until = 0

    def _reject_in_sequence(self, msg: FixMessage, v: Violation) -> None:
        """Reject ``msg``; its sequence number is used up if it was the one expected."""
        if msg.seq_num == self._next_in:
            self._advance_in(self._next_in + 1)
        self._reject(msg, v.reason, v.ref_tag, v.text)

    def _validate(self, msg: FixMessage) -> Violation | None:
        d = self.dictionary_for(msg) if self._fixt else self.dd
        if msg.msg_type not in d.messages:
            return Violation(R.INVALID_MSG_TYPE, None, "Invalid MsgType")
        return validate(msg, d, user_defined_ok=self._user_ok)

    def _process(self, msg: FixMessage) -> None:
        """Handle a message whose MsgSeqNum is the one expected."""
        mt = msg.msg_type
        seq = msg.seq_num
        problem = self._validate(msg)
        if problem is not None:
            self._advance_in(seq + 1)
            self._reject(msg, problem.reason, problem.ref_tag, problem.text)
            return
        is_admin = mt in tags.ADMIN_MSG_TYPES
        if not is_admin and mt not in self._app_types:
            self._advance_in(seq + 1)
            self._business_reject(
                msg, tags.BusinessRejectReason.UNSUPPORTED_MESSAGE_TYPE, "Unsupported Message Type"
            )
            return
        if not is_admin:
            # handed over first, stored as received after: a crash in between (the
            # application journals it meanwhile) brings a resend, never a lost message
            self._emit(
                AppMessage(
                    self.session_id,
                    msg,
                    poss_dup=msg.poss_dup,
                    poss_resend=msg.fields.get(tags.POSS_RESEND) == b"Y",
                )
            )
            self._advance_in(seq + 1)
            return
        if mt == M.SEQUENCE_RESET:  # gap fill; resets are handled before sequencing
            self._on_gap_fill(msg, seq)
            return
        self._advance_in(seq + 1)
        if mt == M.HEARTBEAT:
            return
        if mt == M.TEST_REQUEST:
            self._send_admin(M.HEARTBEAT, b"112=%b\x01" % msg.fields[tags.TEST_REQ_ID])
        elif mt == M.RESEND_REQUEST:
            self._on_resend_request(msg)
        elif mt == M.REJECT:
            self._on_reject(msg)
        elif mt == M.LOGOUT:
            self._on_logout(msg)
        elif mt == M.LOGON:
            self._logout_and_disconnect("Logon received while already logged on")

    # ---------------------------------------------------------------- logon
    def _on_logon(self, msg: FixMessage, now: int) -> None:
        f = msg.fields
        if msg.begin_string != self._begin:
            self.disconnect(
                f"Logon with BeginString {msg.begin_string!r}, expected {self._begin!r}"
            )
            return
        if f.get(tags.SENDER_COMP_ID) != self._target or f.get(tags.TARGET_COMP_ID) != self._sender:
            self.disconnect("Logon with unexpected CompIDs")
            return
        problem = self._logon_problem(msg, now)
        if problem:
            self._logout_and_disconnect(f"Invalid Logon: {problem}")
            return
        hb = int(f[tags.HEART_BT_INT])
        self._peer_appl_ver = f.get(tags.DEFAULT_APPL_VER_ID, self._our_appl_ver)
        reset = f.get(tags.RESET_SEQ_NUM_FLAG) == b"Y"
        if reset and not (self.initiator and self._sent_reset):
            # The peer starts over at 1: so do we, in both directions.
            self._reset_sequences("the peer's Logon has ResetSeqNumFlag=Y")
        elif not self.initiator and self.settings.reset_on_logon:
            self._reset_sequences("reset_on_logon")
        seq = msg.seq_num
        expected = self._next_in
        if seq < expected:
            self._logout_and_disconnect(
                f"MsgSeqNum too low, expecting {expected} but received {seq}"
            )
            return
        if not self.initiator:
            self._hb_ns = hb * NS
            self._send_logon(reset_flag=reset)
        self.state = State.LOGGED_ON
        self._deadline_ns = 0
        self.stats.logons += 1
        self.log.event(f"logged on (next out {self._next_out}, next in {expected})")
        if seq > expected:
            self._queue[seq] = msg
            self._done_early.add(seq)
            self._send_resend_request(expected)
            self._resend_until = seq
        else:
            self._advance_in(seq + 1)
        self._arm_timer()
        self._emit(LoggedOn(self.session_id, self._next_out, self._next_in))

    def _logon_problem(self, msg: FixMessage, now: int) -> str:
        """Why a Logon cannot be accepted ("" when it can)."""
        f = msg.fields
        v = self._validate(msg)
        if v is not None or tags.MSG_SEQ_NUM not in f:
            text = v.text if v else "MsgSeqNum(34) missing"
            ref = v.ref_tag if v else tags.MSG_SEQ_NUM
            return f"{text} (tag {ref})"
        if self._max_latency_ns:
            ts = parse_utc(f.get(tags.SENDING_TIME, b""))
            if ts is None or abs(now - ts) > self._max_latency_ns:
                return "SendingTime accuracy problem"
        if f.get(tags.ENCRYPT_METHOD) != b"0":
            return "encryption is not supported"
        if int(f[tags.HEART_BT_INT]) <= 0:
            return "HeartBtInt must be > 0"
        if not self.initiator and not self._credentials_ok(msg):
            return "bad username or password"
        return ""

    def _on_reset_logon(self, msg: FixMessage) -> None:
        """A Logon with ResetSeqNumFlag=Y on a logged-on session: the peer restarts both
        sequences at 1 without disconnecting. Answer with our own Logon 141=Y (at 1)."""
        problem = self._logon_problem(msg, self.clock.now_ns())
        if problem:
            self._logout_and_disconnect(f"Invalid Logon: {problem}")
            return
        if msg.seq_num != 1:
            self._logout_and_disconnect(
                f"Logon with ResetSeqNumFlag=Y must have MsgSeqNum 1, not {msg.seq_num}"
            )
            return
        self._reset_sequences("ResetSeqNumFlag=Y during the session")
        self._queue.clear()
        self._done_early.clear()
        self._resend_until = 0
        self._send_logon(reset_flag=True)
        self._advance_in(2)
        self._emit(LoggedOn(self.session_id, self._next_out, self._next_in))

    def _reset_sequences(self, why: str) -> None:
        self.store.reset()
        self._next_out = 1
        self._next_in = 1
        self.stats.sequence_resets += 1
        self.log.event(f"sequence numbers reset to 1: {why}")

    def _credentials_ok(self, msg: FixMessage) -> bool:
        s = self.settings
        if s.username is not None and msg.get_str(tags.USERNAME) != s.username:
            return False
        if s.password is None:
            return True
        # constant time: how long a refusal takes must not tell how much was right
        given = msg.fields.get(tags.PASSWORD, b"")
        return hmac.compare_digest(given, s.password.get_secret_value().encode())

    def _send_logon(self, reset_flag: bool = False) -> None:
        s = self.settings
        body = b"98=0\x01108=%d\x01" % (self._hb_ns // NS)
        if self.initiator and self.state is State.DISCONNECTED:
            self._sent_reset = s.reset_on_logon
            if s.reset_on_logon:
                self._reset_sequences("reset_on_logon")
                body += b"141=Y\x01"
            if s.username is not None:
                body += b"553=%b\x01" % s.username.encode()
            if s.password is not None:
                body += b"554=%b\x01" % s.password.get_secret_value().encode()
        elif reset_flag:
            body += b"141=Y\x01"
        if self._fixt:
            body += b"1137=%b\x01" % self._our_appl_ver
        self._send_admin(M.LOGON, body)

    # ------------------------------------------------------------- handlers
    def _on_resend_request(self, msg: FixMessage) -> None:
        self.stats.resend_requests_received += 1
        begin = int(msg.fields[tags.BEGIN_SEQ_NO])
        end = int(msg.fields[tags.END_SEQ_NO])
        last = self._next_out - 1
        if end == 0 or end > last:
            end = last
        self.log.event(f"resend request {begin}..{end}")
        if begin > end or begin < 1:
            return
        gap_start = begin
        not_resent: list[NotResent] = []
        now = self.clock.now_ns()
        for seq, raw in self.store.sent_messages(begin, end):
            try:
                old = parse(raw)
            except GarbledMessage:
                self.log.event(f"stored message {seq} unreadable: gap-filled")
                continue
            decision = self.resend_rules.decide(old, now)
            if not decision.resend:
                mt = old.msg_type.decode("latin-1")
                self.stats.messages_not_resent += 1
                self.log.event(f"not resending {mt} {seq}: {decision.reason}")
                not_resent.append(
                    NotResent(self.session_id, seq, mt, decision.age_s, decision.reason, old)
                )
                continue  # it joins the gap
            if seq > gap_start:
                self._send_gap_fill(gap_start, seq)
            self._resend(old)
            gap_start = seq + 1
        if gap_start <= end:
            self._send_gap_fill(gap_start, end + 1)
        for event in not_resent:  # after the gap fill: the decision is final on the wire
            self._emit(event)

    def _resend(self, old: FixMessage) -> None:
        orig = old.fields.get(tags.SENDING_TIME, b"")
        header, body = split_header(old, self.dd.header.tags)
        now = self.clock.now_ns()
        out = self._enc.encode(
            old.msg_type,
            old.seq_num,
            self._fmt.format(now),
            body,
            orig_sending_time=orig,
            header=header,
        )
        self._write(out, now)
        self.stats.messages_resent += 1

    def _send_gap_fill(self, seq: int, new_seq: int) -> None:
        now = self.clock.now_ns()
        stamp = self._fmt.format(now)
        body = b"123=Y\x0136=%d\x01" % new_seq
        self._write(
            self._enc.encode(M.SEQUENCE_RESET, seq, stamp, body, orig_sending_time=stamp), now
        )
        self.stats.gap_fills_sent += 1

    def _on_gap_fill(self, msg: FixMessage, seq: int) -> None:
        new = int(msg.fields[tags.NEW_SEQ_NO])
        if new <= seq:
            self._advance_in(seq + 1)
            self._reject(
                msg,
                R.VALUE_INCORRECT,
                tags.NEW_SEQ_NO,
                "Value is incorrect (out of range) for this tag",
            )
            return
        self._advance_in(new)

    def _on_sequence_reset(self, msg: FixMessage) -> None:
        """SequenceReset-Reset: MsgSeqNum is ignored; NewSeqNo may only move forward."""
        violation = validate(msg, self.dd)
        if violation is not None:
            self._reject(msg, violation.reason, violation.ref_tag, violation.text)
            return
        new = int(msg.fields[tags.NEW_SEQ_NO])
        if new < self._next_in:
            self._reject(
                msg,
                R.VALUE_INCORRECT,
                tags.NEW_SEQ_NO,
                "Value is incorrect (out of range) for this tag",
            )
            return
        if new == self._next_in:
            self.log.event(f"SequenceReset-Reset to {new}, which was already expected")
            return
        self.log.event(f"SequenceReset-Reset: next expected {self._next_in} -> {new}")
        self._advance_in(new)
        self._drain_queue()

    def _on_reject(self, msg: FixMessage) -> None:
        self.stats.rejects_received += 1
        f = msg.fields
        reason = f.get(tags.SESSION_REJECT_REASON)
        ref_tag = f.get(tags.REF_TAG_ID)
        text = msg.get_str(tags.TEXT) or ""
        ref_seq = int(f[tags.REF_SEQ_NUM])
        self.log.event(
            f"peer rejected our message {ref_seq}: reason {reason!r} tag {ref_tag!r} {text}"
        )
        self._emit(
            RejectReceived(
                self.session_id,
                ref_seq,
                int(reason) if reason is not None and reason.isdigit() else None,
                int(ref_tag) if ref_tag is not None and ref_tag.isdigit() else None,
                text,
                msg,
            )
        )

    def _on_logout(self, msg: FixMessage) -> None:
        text = msg.get_str(tags.TEXT) or ""
        self._clean_logout = True
        if self.state is State.LOGOUT_SENT:
            self.disconnect(f"logout confirmed by peer {text}".strip())
            return
        self._send_logout("")
        self.disconnect(f"logout requested by peer {text}".strip())

    # ---------------------------------------------------------------- sending
    def _write(self, raw: bytes, now: int) -> None:
        if self._io is None:
            return
        self._io.write(raw)
        self._last_sent_ns = now
        self.stats.messages_out += 1
        self.log.outgoing(raw)

    def _send_admin(self, msg_type: bytes, body: bytes, header: bytes = b"") -> None:
        if self._io is None:
            return
        seq = self._next_out
        now = self.clock.now_ns()
        raw = self._enc.encode(msg_type, seq, self._fmt.format(now), body, header=header)
        self.store.record_sent(seq, None)
        self._next_out = seq + 1
        self._write(raw, now)

    def _send_logout(self, text: str) -> None:
        body = b"58=%b\x01" % clean_text(text) if text else b""
        self._send_admin(M.LOGOUT, body)

    def _send_resend_request(self, begin: int) -> None:
        self.stats.resend_requests_sent += 1
        self.log.event(f"gap: sending ResendRequest from {begin}")
        self._send_admin(M.RESEND_REQUEST, b"7=%d\x0116=%b\x01" % (begin, self._infinity))

    def _reject(self, ref: FixMessage, reason: R | None, ref_tag: int | None, text: str) -> None:
        self.stats.rejects_sent += 1
        code = "none" if reason is None else int(reason)
        self.log.event(f"rejecting message {ref.seq_num}: {text} (reason {code}, tag {ref_tag})")
        body = reject_body(ref, reason, ref_tag, text, self.dd)
        self._send_admin(M.REJECT, body, reverse_route(ref, self.dd))

    def _business_reject(
        self, ref: FixMessage, reason: tags.BusinessRejectReason, text: str
    ) -> None:
        if M.BUSINESS_MESSAGE_REJECT not in self.dd.messages:
            # FIX.4.0/4.1 have no BusinessMessageReject: a session Reject carries the text.
            self._reject(ref, None, None, text)
            return
        self.stats.business_rejects_sent += 1
        self.log.event(f"business reject of message {ref.seq_num}: {text}")
        if self.state is State.LOGGED_ON:
            self.send_app(
                M.BUSINESS_MESSAGE_REJECT,
                business_reject_body(ref, reason, text),
                reverse_route(ref, self.dd),
            )

    def _logout_and_disconnect(self, text: str) -> None:
        self.log.event(f"protocol failure: {text}")
        if self._io is not None and self.state in (
            State.LOGGED_ON,
            State.LOGOUT_SENT,
            State.AWAITING_LOGON,
            State.LOGON_SENT,
        ):
            self._send_logout(text)
        self.disconnect(text)

    def _emit(self, event: SessionEvent) -> None:
        try:
            self.on_event(event)
        except Exception as exc:
            # The application's bug must not corrupt the session; it is logged loudly.
            self.stats.internal_errors += 1
            self.log.event(f"application handler raised on {type(event).__name__}: {exc!r}")

    # ------------------------------------------------------------------ timers
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self) -> None:
        self._cancel_timer()
        if self.state is State.DISCONNECTED:
            return
        wake = self._next_wake_ns()
        delay = max(0, wake - self.clock.now_ns()) / NS
        self._timer = self.clock.call_later(delay, self._on_timer)

    def _grace_ns(self) -> int:
        return self._hb_ns + self._hb_ns // 5

    def _next_wake_ns(self) -> int:
        if self.state in (State.LOGON_SENT, State.AWAITING_LOGON):
            return self._deadline_ns
        wakes = [self._last_sent_ns + self._hb_ns]
        if self._test_req_sent_ns:
            wakes.append(self._test_req_sent_ns + self._grace_ns())
        else:
            wakes.append(self._last_recv_ns + self._grace_ns())
        if self._deadline_ns:
            wakes.append(self._deadline_ns)
        return min(wakes)

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._tick(self.clock.now_ns())
        except Exception as exc:
            self.stats.internal_errors += 1
            self.log.event(f"internal error in timer: {exc!r}\n{traceback.format_exc()}")
            self.disconnect("internal error in session timer")
            return
        self._arm_timer()

    def _tick(self, now: int) -> None:
        state = self.state
        if state in (State.LOGON_SENT, State.AWAITING_LOGON):
            if now >= self._deadline_ns:
                self.disconnect("logon timeout")
            return
        if state is State.LOGOUT_SENT and self._deadline_ns and now >= self._deadline_ns:
            self.disconnect("no Logout response before the logout timeout")
            return
        if state not in (State.LOGGED_ON, State.LOGOUT_SENT):
            return
        grace = self._grace_ns()
        if self._test_req_sent_ns:
            if now - self._test_req_sent_ns >= grace:
                self._logout_and_disconnect("no answer to TestRequest: peer is silent")
                return
        elif now - self._last_recv_ns >= grace:
            self._test_req_counter += 1
            self._send_admin(M.TEST_REQUEST, b"112=TEST%d\x01" % self._test_req_counter)
            self._test_req_sent_ns = now
        if now - self._last_sent_ns >= self._hb_ns:
            self._send_admin(M.HEARTBEAT, b"")

"""What a session tells the application: logon, logout, application messages, rejects.

Every event names its session, so one acceptor callback can serve many sessions and
reply on the right one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateways.fix.codec import FixMessage


@dataclass(frozen=True, slots=True)
class LoggedOn:
    session_id: str
    next_sender_seq: int
    next_target_seq: int


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """The session ended (Logout handshake, disconnect, or a protocol failure) and why."""

    session_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AppMessage:
    """An application message, delivered in MsgSeqNum order exactly once per sequence number.

    ``poss_dup`` marks a resend of a sequence number (our side already processed it
    only if it was received before: the session drops those); ``poss_resend`` marks
    an application-level resend the app must de-duplicate by its own ids (test 19).
    """

    session_id: str
    message: FixMessage
    poss_dup: bool = False
    poss_resend: bool = False


@dataclass(frozen=True, slots=True)
class RejectReceived:
    """The peer refused one of our messages with a session Reject (35=3)."""

    session_id: str
    ref_seq_num: int
    reason: int | None
    ref_tag: int | None
    text: str
    message: FixMessage = field(repr=False)


@dataclass(frozen=True, slots=True)
class NotResent:
    """One of our application messages was gap-filled instead of resent.

    The peer asked for it in a ResendRequest, which says it has not processed that
    MsgSeqNum; after the gap fill it never will. For a NewOrderSingle this means the
    order did not reach the venue, and the application can settle it as not sent
    (a venue that asks again for messages it already processed, as some do after
    their own restart, keeps what it had: confirm with an OrderStatusRequest before
    reusing the quantity). ``reason`` says which rule decided.
    """

    session_id: str
    seq_num: int
    msg_type: str
    age_s: float
    reason: str
    message: FixMessage = field(repr=False)


@dataclass(frozen=True, slots=True)
class ResendCandidate:
    """What an application's resend policy is asked about, one stored message at a time.

    ``default`` is what the session decides without a policy (False for an
    order-entry message older than ``max_order_resend_age_s``, True otherwise).
    """

    session_id: str
    seq_num: int
    msg_type: str
    age_s: float
    default: bool
    message: FixMessage = field(repr=False)


SessionEvent = LoggedOn | LoggedOut | AppMessage | RejectReceived | NotResent

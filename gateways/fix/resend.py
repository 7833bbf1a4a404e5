"""Which stored application messages go out again when the peer asks for a resend.

A FIX engine must answer a ResendRequest with every message in the range, but an
order is a decision taken on the prices of its moment: after a silent partition a
NewOrderSingle that waited minutes in the store and then reached the venue with
PossDupFlag=Y would trade on prices nobody is looking at any more. So, as production
engines do, order-entry messages older than ``max_order_resend_age_s`` are gap-filled
instead of resent, and the application is told about each one (a
:class:`~gateways.fix.events.NotResent` event) so it can settle the order as never
sent.

The application may decide for itself by installing a resend policy, a function of a
:class:`~gateways.fix.events.ResendCandidate` (message type, the message, its age and
what the session would decide) returning whether to resend. It is asked about every
application message in the range. A policy that raises counts as "do not resend":
gap-filling loses nothing the venue had, resending a stale order can.

Ages are measured on the session's clock against the message's own SendingTime(52),
the time the order was first sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateways.fix import tags
from gateways.fix.codec import FixMessage
from gateways.fix.events import ResendCandidate
from gateways.fix.settings import SessionSettings
from gateways.fix.timefmt import parse_utc

NS = 1_000_000_000

ResendPolicy = Callable[[ResendCandidate], bool]


@dataclass(frozen=True, slots=True)
class Decision:
    resend: bool
    age_s: float
    reason: str


class ResendRules:
    """The session's resend decision: the age rule, or the application's policy."""

    def __init__(self, settings: SessionSettings) -> None:
        self.session_id = settings.session_id
        self.max_age_s = settings.max_order_resend_age_s
        self._max_age_ns = int(settings.max_order_resend_age_s * NS)
        self.order_types = frozenset(t.encode() for t in settings.order_entry_msg_types)
        self.policy: ResendPolicy | None = None
        self.policy_errors = 0
        self.last_policy_error = ""

    def decide(self, msg: FixMessage, now_ns: int) -> Decision:
        sent = parse_utc(msg.fields.get(tags.SENDING_TIME, b""))
        # A stored message without a readable SendingTime has an unknown age: treat it
        # as too old (it cannot happen with messages we wrote, but the store is a file).
        age_ns = now_ns - sent if sent is not None else None
        age_s = age_ns / NS if age_ns is not None else float("inf")
        stale = msg.msg_type in self.order_types and (
            age_ns is None or age_ns > self._max_age_ns or self._max_age_ns == 0
        )
        if self.policy is None:
            if stale:
                return Decision(
                    False,
                    age_s,
                    f"order-entry message {age_s:.1f} s old, over max_order_resend_age_s"
                    f" ({self.max_age_s:g} s)",
                )
            return Decision(True, age_s, "")
        candidate = ResendCandidate(
            self.session_id,
            msg.seq_num,
            msg.msg_type.decode("latin-1"),
            age_s,
            not stale,
            msg,
        )
        try:
            resend = bool(self.policy(candidate))
        except Exception as exc:
            self.policy_errors += 1
            self.last_policy_error = repr(exc)
            return Decision(False, age_s, f"the resend policy raised {exc!r}; not resent")
        return Decision(resend, age_s, "" if resend else "refused by the resend policy")

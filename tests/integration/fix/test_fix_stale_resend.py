"""Stale orders are not resent after a partition (issue 13, item 4, the session part).

Over real TCP: our initiator sends orders into a silent link, time passes (a SimClock
shared with the raw venue), then the venue sees a later message, notices the gap and
asks for a resend. Order-entry messages older than max_order_resend_age_s must be
gap-filled, not resent, and the application told about each; young ones and
non-order messages go out again with PossDupFlag=Y; an application policy, when
installed, decides instead, and one that raises resends nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
import simplefix
from fix_peer import T0_NS, RawPeer, RawVenue, tag

from core.clock import SimClock
from core.instruments import Instrument
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import Side
from gateways.fix import (
    FixInitiator,
    FixMessages,
    InitiatorSettings,
    NotResent,
    ResendCandidate,
    SessionEvent,
    SessionSettings,
)

FM = FixMessages("FIX.4.4", {"AMZN": Instrument("AMZN", tick_size=Decimal("0.01"))})


@pytest.fixture
async def raw_venue() -> AsyncIterator[RawVenue]:
    v = await RawVenue.start(SimClock(T0_NS))
    yield v
    v.server.close()


async def connected(
    venue: RawVenue, events: list[SessionEvent], **session_kw: object
) -> tuple[FixInitiator, RawPeer]:
    ini = FixInitiator(
        InitiatorSettings(
            port=venue.port,
            reconnect_jitter=0.0,
            session=SessionSettings(sender_comp_id="CLIENT", target_comp_id="EXCH", **session_kw),
        ),
        clock=venue.clock,
        on_event=events.append,
    )
    await ini.start()
    peer = await venue.next_peer()
    await peer.expect("A")
    await peer.send("A", [(98, 0), (108, 30)])
    await ini.wait_logged_on(2)
    return ini, peer


def order(cl: str) -> NewOrderRequest:
    return NewOrderRequest(cl, "AMZN", Side.BUY, 100, 18725)


async def partition_then_resend_request(
    venue: RawVenue, ini: FixInitiator, peer: RawPeer
) -> list[simplefix.FixMessage]:
    """Orders at t0 that the venue never processes, a fresh order 10 s later, then the
    venue's ResendRequest for everything from 2; returns what the initiator answered."""
    ini.send_app(*FM.new_order_single(order("OLD1")))  # 2
    ini.send_app(
        *FM.order_cancel_replace_request(
            ReplaceRequest("OLD2", "OLD1", "AMZN", Side.BUY, 100, 18720)
        )
    )  # 3
    ini.send_app(*FM.order_cancel_request(CancelRequest("CXL1", "OLD1", "AMZN", Side.BUY, 100)))
    for _ in range(3):
        await peer.recv()  # lost in the partition: the venue never processed them
    await venue.clock.run_for(10)
    ini.send_app(*FM.new_order_single(order("NEW1")))
    fresh = await peer.expect("D")
    await venue.clock.run_for(0.5)
    peer.seq = 2
    await peer.send("2", [(7, 2), (16, 0)])
    answer = []
    last = int(tag(fresh, 34) or 0)
    while True:
        msg = await peer.recv()
        answer.append(msg)
        end = int(tag(msg, 36) or 0) - 1 if msg.get(35) == b"4" else int(tag(msg, 34) or 0)
        if end >= last:
            return answer


def summary(answer: list[simplefix.FixMessage]) -> list[tuple[str, ...]]:
    out = []
    for m in answer:
        if m.get(35) == b"4":
            out.append(("gapfill", tag(m, 34) or "", tag(m, 36) or ""))
        else:
            out.append(((tag(m, 35) or ""), tag(m, 34) or "", tag(m, 11) or "", tag(m, 43) or ""))
    return out


def not_resent(events: list[SessionEvent]) -> list[NotResent]:
    return [e for e in events if isinstance(e, NotResent)]


async def test_orders_older_than_the_resend_age_are_gap_filled_and_reported(
    raw_venue: RawVenue,
) -> None:
    events: list[SessionEvent] = []
    ini, peer = await connected(raw_venue, events)
    answer = await partition_then_resend_request(raw_venue, ini, peer)
    # NewOrderSingle and Replace from t0 (10.5 s old) become one gap fill; the cancel is
    # not an order-entry message and goes out again; the fresh order too.
    assert summary(answer) == [
        ("gapfill", "2", "4"),
        ("F", "4", "CXL1", "Y"),
        ("D", "5", "NEW1", "Y"),
    ]
    skipped = not_resent(events)
    assert [(e.seq_num, e.msg_type, e.message.get(11)) for e in skipped] == [
        (2, "D", b"OLD1"),
        (3, "G", b"OLD2"),
    ]
    assert all(abs(e.age_s - 10.5) < 0.01 and "max_order_resend_age_s" in e.reason for e in skipped)
    assert ini.stats.messages_not_resent == 2 and ini.stats.messages_resent == 2
    await ini.stop(timeout=0.1)


async def test_a_zero_resend_age_never_resends_an_order(raw_venue: RawVenue) -> None:
    events: list[SessionEvent] = []
    ini, peer = await connected(raw_venue, events, max_order_resend_age_s=0)
    answer = await partition_then_resend_request(raw_venue, ini, peer)
    assert [s for s in summary(answer) if s[0] == "D"] == []
    assert [e.message.get(11) for e in not_resent(events)] == [b"OLD1", b"OLD2", b"NEW1"]
    await ini.stop(timeout=0.1)


async def test_the_application_policy_decides_what_is_resent(raw_venue: RawVenue) -> None:
    events: list[SessionEvent] = []
    asked: list[ResendCandidate] = []

    def policy(c: ResendCandidate) -> bool:
        asked.append(c)
        return c.message.get(11) != b"CXL1"  # everything but the cancel, stale or not

    ini, peer = await connected(raw_venue, events)
    ini.set_resend_policy(policy)
    answer = await partition_then_resend_request(raw_venue, ini, peer)
    assert summary(answer) == [
        ("D", "2", "OLD1", "Y"),
        ("G", "3", "OLD2", "Y"),
        ("gapfill", "4", "5"),
        ("D", "5", "NEW1", "Y"),
    ]
    # Asked about every application message, told what the age rule would do.
    assert [(c.seq_num, c.msg_type, c.default) for c in asked] == [
        (2, "D", False),
        (3, "G", False),
        (4, "F", True),
        (5, "D", True),
    ]
    (skipped,) = not_resent(events)
    assert (skipped.msg_type, skipped.reason) == ("F", "refused by the resend policy")
    await ini.stop(timeout=0.1)


@pytest.mark.parametrize("policy", [lambda c: 1 / 0, lambda c: (_ for _ in ()).throw(KeyError)])
async def test_a_policy_that_raises_resends_nothing(
    raw_venue: RawVenue, policy: Callable[[ResendCandidate], bool]
) -> None:
    events: list[SessionEvent] = []
    ini, peer = await connected(raw_venue, events)
    ini.set_resend_policy(policy)
    answer = await partition_then_resend_request(raw_venue, ini, peer)
    assert [s[0] for s in summary(answer)] == ["gapfill"]
    assert len(not_resent(events)) == 4
    assert all("raised" in e.reason for e in not_resent(events))
    assert ini.session.resend_rules.policy_errors == 4
    await ini.stop(timeout=0.1)

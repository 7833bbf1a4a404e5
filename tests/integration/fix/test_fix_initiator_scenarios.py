"""Buy-side ("B") scenarios of the session-level test cases, and the initiator's own
duties (no application message before logon, reconnect with backoff, graceful
logout), over real TCP against a hand-driven raw venue. Time is a SimClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from fix_peer import T0_NS, RawPeer, RawVenue, tag
from fix_versions import ALL, Ver

from core.clock import SimClock
from core.instruments import Instrument
from core.requests import NewOrderRequest
from core.types import Side
from gateways.fix import (
    FixInitiator,
    FixMessages,
    InitiatorSettings,
    LoggedOn,
    SessionEvent,
    SessionNotReady,
    SessionSettings,
    State,
)

INSTRUMENTS = {"AMZN": Instrument("AMZN", tick_size=Decimal("0.01"))}


@pytest.fixture
async def raw_venue() -> AsyncIterator[RawVenue]:
    v = await RawVenue.start(SimClock(T0_NS))
    yield v
    v.server.close()


def make_initiator(
    venue: RawVenue, events: list[SessionEvent], **session_kw: object
) -> FixInitiator:
    settings = InitiatorSettings(
        port=venue.port,
        reconnect_min_s=0.5,
        reconnect_max_s=4.0,
        reconnect_jitter=0.0,
        session=SessionSettings(
            sender_comp_id="CLIENT",
            target_comp_id="EXCH",
            username="trader",
            password="s3cret",
            **session_kw,
        ),
    )
    return FixInitiator(settings, clock=venue.clock, on_event=events.append)


async def logon_response(peer: RawPeer) -> None:
    logon = await peer.expect("A")
    await peer.send("A", [(98, 0), (108, int(tag(logon, 108) or 30))])


async def test_1B_a_valid_logon_response_completes_logon(raw_venue: RawVenue) -> None:
    events: list[SessionEvent] = []
    ini = make_initiator(raw_venue, events)
    await ini.start()
    peer = await raw_venue.next_peer()
    logon = await peer.expect("A")
    assert (tag(logon, 98), tag(logon, 108), tag(logon, 553), tag(logon, 554)) == (
        "0",
        "30",
        "trader",
        "s3cret",
    )
    await peer.send("A", [(98, 0), (108, 30)])
    await ini.wait_logged_on(2)
    assert any(isinstance(e, LoggedOn) for e in events)
    ini.send_app(
        b"D", b"11=X\x0121=1\x0138=1\x0140=1\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01"
    )
    nos = await peer.expect("D")
    assert tag(nos, 34) == "2"
    await ini.stop(timeout=0.1)


async def test_1B_b_logon_response_seq_too_high_sends_resend_request(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await peer.expect("A")
    peer.seq = 4
    await peer.send("A", [(98, 0), (108, 30)])
    rr = await peer.expect("2")
    assert (tag(rr, 7), tag(rr, 16)) == ("1", "0")
    await ini.wait_logged_on(2)
    assert ini.session.awaiting_resend
    await ini.stop(timeout=0.1)


async def test_1B_c_invalid_logon_response_disconnects(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await peer.expect("A")
    await peer.send("A", [(98, 0), (108, 30)], sender="IMPOSTOR")
    await peer.expect_disconnect()
    assert not ini.is_logged_on
    await ini.stop(timeout=0.1)


async def test_1B_d_first_message_not_a_logon_disconnects(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await peer.expect("A")
    await peer.send("0")
    await peer.expect_disconnect()
    assert "not a Logon" in ini.session.last_disconnect_reason
    await ini.stop(timeout=0.1)


async def test_1B_e_no_logon_response_times_out_then_reconnects(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await peer.expect("A")
    await raw_venue.clock.run_for(10.5)
    await peer.expect_disconnect()
    assert ini.session.last_disconnect_reason == "logon timeout"
    await raw_venue.clock.run_for(0.6)  # first backoff step
    second = await raw_venue.next_peer()
    await second.expect("A")
    await ini.stop(timeout=0.1)


async def test_initiator_refuses_app_messages_until_logon_completes(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    with pytest.raises(SessionNotReady):
        ini.send_app(b"D", b"11=X\x01")
    await ini.start()
    peer = await raw_venue.next_peer()
    await peer.expect("A")
    assert ini.state is State.LOGON_SENT
    with pytest.raises(SessionNotReady, match="logon_sent"):
        ini.send_app(b"D", b"11=X\x01")
    await peer.send("A", [(98, 0), (108, 30)])
    await ini.wait_logged_on(2)
    await peer.expect_silence()  # nothing was queued behind the logon
    await ini.stop(timeout=0.1)


async def wait_disconnected(ini: FixInitiator) -> None:
    for _ in range(200):
        if ini.state is State.DISCONNECTED:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("initiator did not notice the disconnect")


async def test_initiator_reconnects_with_exponential_backoff(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await peer.close()  # the venue hangs up at once, again and again
    for delay in (0.5, 1.0, 2.0, 4.0, 4.0):  # doubling from 0.5 s, capped at 4 s
        await wait_disconnected(ini)
        before = raw_venue.accepted
        await raw_venue.clock.run_for(delay - 0.1)
        assert raw_venue.accepted == before, f"reconnected before {delay} s"
        await raw_venue.clock.run_for(0.2)
        peer = await raw_venue.next_peer()
        if delay == 4.0 and ini.connect_attempts == 6:
            break
        await peer.close()
    await logon_response(peer)
    await ini.wait_logged_on(2)
    await ini.stop(timeout=0.1)


async def test_initiator_backoff_resets_after_a_successful_logon(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await logon_response(peer)
    await ini.wait_logged_on(2)
    await peer.close()
    await wait_disconnected(ini)
    await raw_venue.clock.run_for(0.6)  # the first step again, not a longer one
    peer2 = await raw_venue.next_peer()
    await peer2.expect("A")
    await ini.stop(timeout=0.1)


async def test_initiator_stop_logs_out_gracefully(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await logon_response(peer)
    await ini.wait_logged_on(2)
    stopping = asyncio.create_task(ini.stop("done for the day"))
    logout = await peer.expect("5")
    assert tag(logout, 58) == "done for the day"
    await peer.send("5")
    await stopping
    await peer.expect_disconnect()
    assert ini.state is State.DISCONNECTED


async def test_1B_refused_logon_keeps_the_peers_reason(raw_venue: RawVenue) -> None:
    ini = make_initiator(raw_venue, [])
    await ini.start()
    peer = await raw_venue.next_peer()
    await peer.expect("A")
    await peer.send("5", [(58, "MsgSeqNum too low, expecting 10 but received 1")])
    await peer.expect_disconnect()
    assert ini.session.last_disconnect_reason == (
        "peer refused logon: MsgSeqNum too low, expecting 10 but received 1"
    )
    await ini.stop(timeout=0.1)


@pytest.mark.parametrize("ver", ALL, ids=lambda v: v.id)
async def test_1B_every_version_logs_on_orders_and_asks_for_a_resend(ver: Ver) -> None:
    """1B a and b for each version: the Logon as the version defines it (DefaultApplVerID
    on FIXT.1.1), an order the version's dictionary accepts, and a ResendRequest with
    the version's "no end" (999999 before FIX.4.2)."""
    venue = await RawVenue.start(
        SimClock(T0_NS), begin=ver.begin, millis=ver.millis, logon_extra=ver.logon_extra()
    )
    settings = InitiatorSettings(
        port=venue.port, session=ver.settings(sender_comp_id="CLIENT", target_comp_id="EXCH")
    )
    ini = FixInitiator(settings, clock=venue.clock)
    fm = FixMessages(ver.begin, INSTRUMENTS, dictionary=settings.session.dictionary())
    try:
        await ini.start()
        peer = await venue.next_peer()
        logon = await peer.expect("A")
        assert tag(logon, 8) == ver.begin
        assert tag(logon, 1137) == (ver.appl_ver_id if ver.fixt else None)
        peer.seq = 3
        await peer.logon(expect=False)
        rr = await peer.expect("2")
        assert (tag(rr, 7), tag(rr, 16)) == ("1", ver.infinity)
        await peer.send(
            "4", [(123, "Y"), (36, 4)], seq=1, poss_dup=True, orig_sending_time=peer.stamp()
        )
        await ini.wait_logged_on(2)
        ini.send_app(*fm.new_order_single(NewOrderRequest("C1", "AMZN", Side.BUY, 10, 18725)))
        nos = await peer.expect("D")
        assert (tag(nos, 34), tag(nos, 11), tag(nos, 60) is not None) == ("3", "C1", ver.rank >= 42)
        assert not ini.session.awaiting_resend and ini.stats.rejects_sent == 0
    finally:
        await ini.stop(timeout=0.1)
        venue.server.close()


async def test_venue_reset_during_the_session_restarts_both_sequences(raw_venue: RawVenue) -> None:
    events: list[SessionEvent] = []
    ini = make_initiator(raw_venue, events)
    await ini.start()
    peer = await raw_venue.next_peer()
    await logon_response(peer)
    await ini.wait_logged_on(2)
    for _ in range(3):
        await peer.send("0")
    peer.seq = 1
    await peer.send("A", [(98, 0), (108, 30), (141, "Y")])
    resp = await peer.expect("A")
    assert (tag(resp, 34), tag(resp, 141)) == ("1", "Y")
    assert (ini.next_sender_seq, ini.next_target_seq) == (2, 2)
    await ini.stop(timeout=0.1)

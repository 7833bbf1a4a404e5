"""The numbered scenarios of "FIX Session-Level Test Cases and Expected Behaviors",
each over real TCP on 127.0.0.1 against our acceptor (the sell side, "S") or our
initiator (the buy side, "B"; see test_fix_initiator_scenarios.py).

Time is a SimClock shared by our engine and the raw peer, so heartbeat, test-request,
logon and logout timers are exercised without sleeping. Test names start with the
scenario number so coverage can be checked against the document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import simplefix
from fix_peer import T0_NS, RawPeer, checksum_fix, stamp, tag

from core.clock import SimClock
from gateways.fix import (
    AcceptorSettings,
    AppMessage,
    FixAcceptor,
    FixSession,
    LoggedOn,
    LoggedOut,
    RejectReceived,
    SessionEvent,
    SessionNotReady,
    SessionSettings,
    State,
)
from gateways.fix.message_log import MemoryLog

NOS = [
    (11, "ID1"),
    (21, "1"),
    (40, "2"),
    (44, "10.5"),
    (38, "100"),
    (54, "1"),
    (55, "AMZN"),
    (60, "20260105-14:30:00"),
]


@dataclass
class Venue:
    acceptor: FixAcceptor
    clock: SimClock
    events: list[SessionEvent] = field(default_factory=list)
    logs: dict[str, MemoryLog] = field(default_factory=dict)

    @property
    def session(self) -> FixSession:
        return self.acceptor.session("FIX.4.4:EXCH->CLIENT")

    @property
    def session42(self) -> FixSession:
        return self.acceptor.session("FIX.4.2:EXCH->CLIENT42")

    def app(self) -> list[AppMessage]:
        return [e for e in self.events if isinstance(e, AppMessage)]

    async def connect(self, **kw: str) -> RawPeer:
        return await RawPeer.connect(self.acceptor.port, self.clock, **kw)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    clock = SimClock(T0_NS)
    s44 = SessionSettings(
        sender_comp_id="EXCH", target_comp_id="CLIENT", username="trader", password="s3cret"
    )
    s42 = SessionSettings(begin_string="FIX.4.2", sender_comp_id="EXCH", target_comp_id="CLIENT42")
    logs = {s44.session_id: MemoryLog(), s42.session_id: MemoryLog()}
    v = Venue(acceptor=None, clock=clock, logs=logs)  # type: ignore[arg-type]
    v.acceptor = FixAcceptor(
        AcceptorSettings(port=0, sessions=(s44, s42)),
        clock=clock,
        on_event=v.events.append,
        logs=dict(logs),
    )
    await v.acceptor.start()
    yield v
    await v.acceptor.stop(timeout=0.2)


CREDS = [(553, "trader"), (554, "s3cret")]


async def logged_on(venue: Venue, **kw: str) -> RawPeer:
    peer = await venue.connect(**kw)
    extra = CREDS if kw.get("sender", "CLIENT") == "CLIENT" else []
    await peer.logon(extra=extra)
    return peer


def state_of(venue: Venue) -> State:
    return venue.session.state


async def heartbeat_probe(peer: RawPeer, req_id: str = "PROBE") -> None:
    """A TestRequest answered by a Heartbeat proves the session is alive and in sequence."""
    await peer.send("1", [(112, req_id)])
    hb = await peer.expect("0")
    assert tag(hb, 112) == req_id


# ===================================================================== 1S: logon
async def test_1S_a_valid_logon_is_answered_with_logon(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("A", [(98, 0), (108, 30), *CREDS])
    resp = await peer.expect("A")
    assert tag(resp, 34) == "1" and tag(resp, 108) == "30" and tag(resp, 98) == "0"
    assert tag(resp, 49) == "EXCH" and tag(resp, 56) == "CLIENT"
    assert venue.session.is_logged_on
    assert any(isinstance(e, LoggedOn) for e in venue.events)
    await heartbeat_probe(peer)


async def test_1S_a_fix42_session_on_the_same_acceptor(venue: Venue) -> None:
    peer = await venue.connect(begin="FIX.4.2", sender="CLIENT42")
    await peer.logon()
    assert venue.session42.is_logged_on and not venue.session.is_logged_on
    assert peer.received[-1].get(8) == b"FIX.4.2"
    await heartbeat_probe(peer)


async def test_1S_b_logon_seq_too_high_answers_logon_then_resend_request(venue: Venue) -> None:
    peer = await venue.connect()
    peer.seq = 5
    await peer.send("A", [(98, 0), (108, 30), *CREDS])
    await peer.expect("A")
    rr = await peer.expect("2")
    assert (tag(rr, 7), tag(rr, 16)) == ("1", "0")
    # The peer fills the gap (its logon at 5 included) and the session is in sequence.
    await peer.send(
        "4", [(123, "Y"), (36, 6)], seq=1, poss_dup=True, orig_sending_time=stamp(T0_NS)
    )
    peer.seq = 6
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 7


async def test_1S_c_second_connection_for_a_logged_on_session_is_refused(venue: Venue) -> None:
    first = await logged_on(venue)
    second = await venue.connect()
    await second.send("A", [(98, 0), (108, 30), *CREDS])
    await second.expect_disconnect()
    await heartbeat_probe(first)  # the first connection is untouched


async def test_1S_c_unknown_comp_ids_are_refused(venue: Venue) -> None:
    peer = await venue.connect(sender="STRANGER")
    await peer.send("A", [(98, 0), (108, 30)])
    await peer.expect_disconnect()
    assert venue.acceptor.refused == 1


async def test_1S_d_logon_with_bad_password_is_logged_out(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("A", [(98, 0), (108, 30), (553, "trader"), (554, "wrong")])
    logout = await peer.expect("5")
    assert "password" in (tag(logout, 58) or "")
    await peer.expect_disconnect()
    assert not any(isinstance(e, LoggedOn) for e in venue.events)


async def test_1S_d_garbled_logon_is_refused(venue: Venue) -> None:
    peer = await venue.connect()
    data = peer.build("A", [(98, 0), (108, 30), *CREDS])
    await peer.send_raw(data[:-4] + b"999\x01")  # bad checksum
    await peer.expect_disconnect()


async def test_1S_d_logon_with_bad_sending_time_is_logged_out(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("A", [(98, 0), (108, 30), *CREDS], sending_time=stamp(T0_NS - 300 * 10**9))
    logout = await peer.expect("5")
    assert "SendingTime" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


async def test_1S_d_logon_without_heartbeat_interval_is_logged_out(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("A", [(98, 0), *CREDS])
    logout = await peer.expect("5")
    assert "108" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


async def test_1S_e_first_message_not_a_logon_disconnects(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("0")
    await peer.expect_disconnect()
    assert venue.acceptor.refused == 1


async def test_1S_logon_seq_too_low_is_logged_out(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("5")
    await peer.expect("5")
    await peer.expect_disconnect()
    again = await venue.connect()
    again.seq = 1  # the venue expects 3 now
    await again.send("A", [(98, 0), (108, 30), *CREDS])
    logout = await again.expect("5")
    assert "MsgSeqNum too low, expecting 3 but received 1" in (tag(logout, 58) or "")
    await again.expect_disconnect()


async def test_1S_no_logon_before_timeout_disconnects(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.expect_silence()
    await venue.clock.run_for(11)
    await peer.expect_disconnect()


# ============================================================ 2: standard header
async def test_2a_msg_seq_num_as_expected_is_accepted(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", NOS)
    await heartbeat_probe(peer)
    (app,) = venue.app()
    assert app.message.get(11) == b"ID1" and app.message.seq_num == 2


async def test_2b_msg_seq_num_too_high_queues_and_sends_resend_request(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", [(11, "A3"), *NOS[1:]], seq=3)
    await peer.send("D", [(11, "A4"), *NOS[1:]], seq=4)
    rr = await peer.expect("2")
    assert (tag(rr, 7), tag(rr, 16)) == ("2", "0")
    assert venue.app() == []  # nothing delivered out of order
    await peer.send(
        "D", [(11, "A2"), *NOS[1:]], seq=2, poss_dup=True, orig_sending_time=stamp(T0_NS)
    )
    await peer.send(
        "D", [(11, "A3"), *NOS[1:]], seq=3, poss_dup=True, orig_sending_time=stamp(T0_NS)
    )
    peer.seq = 5
    await heartbeat_probe(peer)
    assert [a.message.get(11) for a in venue.app()] == [b"A2", b"A3", b"A4"]
    assert venue.session.stats.resend_requests_sent == 1


async def test_2c_msg_seq_num_too_low_without_poss_dup_logs_out(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0", seq=1)
    logout = await peer.expect("5")
    assert tag(logout, 58) == "MsgSeqNum too low, expecting 2 but received 1"
    await peer.expect_disconnect()


async def test_2d_garbled_message_is_ignored_without_consuming_a_seq_num(venue: Venue) -> None:
    peer = await logged_on(venue)
    good = peer.build("D", NOS, seq=2)
    bad = good.replace(b"35=D\x01", b"35=D\x01\x01\x01", 1)  # length now wrong
    garbage = b"garbage that is not FIX at all\x01"
    await peer.send_raw(bad)
    await peer.send_raw(garbage)
    await heartbeat_probe(peer)  # seq 2 again: accepted, so nothing was consumed
    assert venue.session.stats.garbled_dropped >= 1
    assert venue.session.stats.garbled_bytes == len(bad) + len(garbage)
    assert venue.app() == []


async def test_2e_poss_dup_already_received_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", NOS)
    await peer.send("D", NOS, seq=2, poss_dup=True, orig_sending_time=stamp(T0_NS))
    await heartbeat_probe(peer)
    assert len(venue.app()) == 1
    assert venue.session.stats.duplicates_ignored == 1


async def test_2f_poss_dup_orig_sending_time_after_sending_time_rejects_and_logs_out(
    venue: Venue,
) -> None:
    peer = await logged_on(venue)
    await peer.send("D", NOS)
    await peer.send("D", NOS, seq=2, poss_dup=True, orig_sending_time=stamp(T0_NS + 10 * 10**9))
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 45)) == ("10", "2")
    await peer.expect("5")
    await peer.expect_disconnect()


async def test_2g_poss_dup_without_orig_sending_time_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", NOS, poss_dup=True)
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 371), tag(rej, 45)) == ("1", "122", "2")
    await heartbeat_probe(peer)  # seq 2 consumed by the reject, 3 accepted
    assert venue.app() == []


async def test_2h_2j_2l_2n_2p_2s_well_formed_header_is_accepted(venue: Venue) -> None:
    """The "as expected" halves of 2: BeginString, CompIDs, BodyLength, SendingTime,
    MsgType and the first three fields all correct -> processed normally."""
    peer = await logged_on(venue)
    await peer.send("D", NOS)
    await heartbeat_probe(peer)
    assert len(venue.app()) == 1 and venue.session.stats.rejects_sent == 0


async def test_2i_begin_string_mismatch_logs_out_and_disconnects(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0", begin="FIX.4.2")
    logout = await peer.expect("5")
    assert "BeginString" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


@pytest.mark.parametrize(("sender", "target"), [("WRONG", "EXCH"), ("CLIENT", "WRONG")])
async def test_2k_comp_id_mismatch_rejects_and_logs_out(
    venue: Venue, sender: str, target: str
) -> None:
    peer = await logged_on(venue)
    await peer.send("D", NOS, sender=sender, target=target)
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 372)) == ("9", "D")
    await peer.expect("5")
    await peer.expect_disconnect()


async def test_2m_body_length_wrong_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    good = peer.build("D", NOS, seq=2)
    n = good.index(b"\x019=") + 3
    m = good.index(b"\x01", n)
    bad_len = int(good[n:m]) - 5
    await peer.send_raw(good[:n] + str(bad_len).encode() + good[m:])
    await heartbeat_probe(peer)
    assert venue.app() == [] and venue.session.stats.garbled_dropped == 1


@pytest.mark.parametrize("skew_s", [-121, 121])
async def test_2o_sending_time_out_of_range_rejects_and_logs_out(venue: Venue, skew_s: int) -> None:
    peer = await logged_on(venue)
    await peer.send("0", sending_time=stamp(T0_NS + skew_s * 10**9))
    rej = await peer.expect("3")
    assert tag(rej, 373) == "10" and tag(rej, 58) == "SendingTime accuracy problem"
    await peer.expect("5")
    await peer.expect_disconnect()


async def test_2q_invalid_msg_type_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("ZZZ")
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 371), tag(rej, 372)) == ("11", "35", "ZZZ")
    await heartbeat_probe(peer)


async def test_2r_valid_but_unsupported_msg_type_gets_business_reject(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("B", [(148, "headline")])  # News: real FIX, not ours
    bmr = await peer.expect("j")
    assert (tag(bmr, 380), tag(bmr, 372), tag(bmr, 45)) == ("3", "B", "2")
    await heartbeat_probe(peer)


async def test_2t_first_three_fields_out_of_order_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    wrong = checksum_fix(
        b"8=FIX.4.4\x0134=2\x0135=0\x0149=CLIENT\x0152="
        + stamp(T0_NS).encode()
        + b"\x0156=EXCH\x01"
    )
    await peer.send_raw(wrong)
    moved = checksum_fix(
        b"8=FIX.4.4\x0134=2\x0149=CLIENT\x0152=" + stamp(T0_NS).encode() + b"\x0156=EXCH\x01"
    )
    await peer.send_raw(b"35=0\x01" + moved)  # MsgType first, then no MsgType after 9
    await heartbeat_probe(peer)  # 2 was never consumed
    assert venue.session.stats.garbled_dropped >= 2


# ==================================================================== 3: trailer
async def test_3a_valid_checksum_is_accepted(venue: Venue) -> None:
    peer = await logged_on(venue)
    await heartbeat_probe(peer)


async def test_3b_invalid_checksum_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    good = peer.build("D", NOS, seq=2)
    bad = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)
    await peer.send_raw(bad)
    await heartbeat_probe(peer)
    assert venue.app() == [] and venue.session.stats.garbled_dropped == 1


async def test_3c_garbled_trailer_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    good = peer.build("D", NOS, seq=2)
    await peer.send_raw(good[:-7] + b"10=ab\x01")
    await peer.send_raw(peer.build("1", [(112, "AFTER")], seq=2))
    hb = await peer.expect("0")
    assert tag(hb, 112) == "AFTER"


# =================================================================== 4-7: timers
async def test_4a_no_data_sent_during_heartbeat_interval_sends_heartbeat(venue: Venue) -> None:
    peer = await logged_on(venue)
    await venue.clock.run_for(29)
    await peer.expect_silence()
    await venue.clock.run_for(1.5)
    hb = await peer.expect("0")
    assert tag(hb, 112) is None


async def test_4b_test_request_is_answered_with_its_id(venue: Venue) -> None:
    peer = await logged_on(venue)
    await heartbeat_probe(peer, "REQ-42")


async def test_5_heartbeat_received_is_accepted(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0")
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 4


async def test_6_silence_sends_test_request_then_disconnects(venue: Venue) -> None:
    peer = await logged_on(venue)
    await venue.clock.run_for(30.5)
    await peer.expect("0")  # our heartbeat; the peer stays silent
    await venue.clock.run_for(6)
    tr = await peer.expect("1")
    assert tag(tr, 112)
    await venue.clock.run_for(40)
    logout = await _skip_heartbeats(peer)
    assert "TestRequest" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


async def _skip_heartbeats(peer: RawPeer) -> simplefix.FixMessage:
    while True:
        msg = await peer.recv()
        if msg.get(35) != b"0":
            return msg


async def test_6_answered_test_request_keeps_the_session(venue: Venue) -> None:
    peer = await logged_on(venue)
    await venue.clock.run_for(36.5)
    tr = await _skip_heartbeats(peer)
    assert tr.get(35) == b"1"
    await peer.send("0", [(112, tag(tr, 112) or "")])
    await venue.clock.run_for(20)
    assert venue.session.is_logged_on


async def test_7_reject_received_increments_seq_and_is_reported(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("3", [(45, 1), (373, 5), (371, 108), (58, "bad")])
    await heartbeat_probe(peer)
    (rej,) = [e for e in venue.events if isinstance(e, RejectReceived)]
    assert (rej.ref_seq_num, rej.reason, rej.ref_tag, rej.text) == (1, 5, 108, "bad")


# ================================================================ 8-9: resend/sync
async def test_8_resend_request_resends_app_messages_and_gap_fills_admin(venue: Venue) -> None:
    peer = await logged_on(venue)  # venue sent Logon (1)
    await heartbeat_probe(peer, "X")  # venue sent Heartbeat (2)
    venue.acceptor.send_app("FIX.4.4:EXCH->CLIENT", b"8", _er_body("E1"))  # 3
    venue.acceptor.send_app("FIX.4.4:EXCH->CLIENT", b"8", _er_body("E2"))  # 4
    await peer.expect("8")
    await peer.expect("8")
    await peer.send("2", [(7, 1), (16, 0)])
    gf = await peer.expect("4")
    assert (tag(gf, 34), tag(gf, 36), tag(gf, 123), tag(gf, 43)) == ("1", "3", "Y", "Y")
    for seq, exec_id in (("3", "E1"), ("4", "E2")):
        r = await peer.expect("8")
        assert (tag(r, 34), tag(r, 43), tag(r, 17)) == (seq, "Y", exec_id)
        orig = tag(r, 122)
        assert orig is not None and orig <= (tag(r, 52) or "")
    assert venue.session.next_sender_seq == 5


def _er_body(exec_id: str) -> bytes:
    return (
        b"6=0\x0111=ID1\x0114=0\x0117=%b\x0137=O1\x0138=100\x0139=0\x0154=1\x0155=AMZN\x01"
        b"150=0\x01151=100\x01" % exec_id.encode()
    )


async def test_9_reset_seq_num_flag_synchronises_both_sides(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0")
    await peer.send("5")
    await peer.expect("5")
    await peer.expect_disconnect()
    assert venue.session.next_target_seq == 4
    again = await venue.connect()
    again.seq = 1
    await again.send("A", [(98, 0), (108, 30), (141, "Y"), *CREDS])
    resp = await again.expect("A")
    assert (tag(resp, 34), tag(resp, 141)) == ("1", "Y")
    await heartbeat_probe(again)
    assert venue.session.next_target_seq == 3 and venue.session.next_sender_seq == 3


# ============================================================= 10: gap fill
async def test_10a_gap_fill_seq_too_high_sends_resend_request(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("4", [(123, "Y"), (36, 10)], seq=5)
    rr = await peer.expect("2")
    assert tag(rr, 7) == "2"
    await peer.send(
        "4", [(123, "Y"), (36, 10)], seq=2, poss_dup=True, orig_sending_time=stamp(T0_NS)
    )
    peer.seq = 10
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 11


async def test_10b_gap_fill_at_expected_seq_moves_next_expected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("4", [(123, "Y"), (36, 20)])
    peer.seq = 20
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 21


async def test_10c_gap_fill_seq_too_low_with_poss_dup_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0")
    await peer.send(
        "4", [(123, "Y"), (36, 20)], seq=1, poss_dup=True, orig_sending_time=stamp(T0_NS)
    )
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 4


async def test_10d_gap_fill_seq_too_low_without_poss_dup_logs_out(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0")
    await peer.send("4", [(123, "Y"), (36, 20)], seq=1)
    logout = await peer.expect("5")
    assert "MsgSeqNum too low, expecting 3 but received 1" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


async def test_10e_gap_fill_new_seq_no_not_above_msg_seq_num_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("4", [(123, "Y"), (36, 2)])
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 371)) == ("5", "36")
    await heartbeat_probe(peer)


# ============================================================= 11: reset
async def test_11a_sequence_reset_to_higher_number_moves_next_expected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("4", [(36, 50)], seq=999)  # MsgSeqNum is ignored for a reset
    peer.seq = 50
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 51


async def test_11b_sequence_reset_to_expected_number_changes_nothing(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("4", [(36, 2)], seq=2)
    peer.seq = 2
    await heartbeat_probe(peer)
    assert venue.session.stats.rejects_sent == 0
    assert any("already expected" in e for e in venue.logs["FIX.4.4:EXCH->CLIENT"].events)


async def test_11c_sequence_reset_to_lower_number_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0")
    await peer.send("4", [(36, 1)])
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 371)) == ("5", "36")
    peer.seq = 3
    await heartbeat_probe(peer)


# ============================================================= 12-13: logout
async def test_12_initiated_logout_disconnects_on_the_answer(venue: Venue) -> None:
    peer = await logged_on(venue)
    venue.session.logout("end of day")
    logout = await peer.expect("5")
    assert tag(logout, 58) == "end of day"
    assert venue.session.state is State.LOGOUT_SENT
    await peer.send("5")
    await peer.expect_disconnect()
    assert state_of(venue) is State.DISCONNECTED


async def test_12_initiated_logout_without_answer_disconnects_after_timeout(venue: Venue) -> None:
    peer = await logged_on(venue)
    venue.session.logout()
    await peer.expect("5")
    await venue.clock.run_for(9)
    assert venue.session.state is State.LOGOUT_SENT
    await venue.clock.run_for(1.5)
    await peer.expect_disconnect()


async def test_13a_logout_answer_to_ours_disconnects(venue: Venue) -> None:
    peer = await logged_on(venue)
    venue.session.logout()
    await peer.expect("5")
    await peer.send("5")
    await peer.expect_disconnect()
    assert any(isinstance(e, LoggedOut) and "confirmed" in e.reason for e in venue.events)


async def test_13b_unsolicited_logout_is_answered_then_disconnected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("5", [(58, "bye")])
    await peer.expect("5")
    await peer.expect_disconnect()
    assert any(isinstance(e, LoggedOut) and "bye" in e.reason for e in venue.events)


# ====================================================== 14: field-level rejects
def _without(fields: list[tuple[int, str]], t: int) -> list[tuple[int, str]]:
    return [(k, v) for k, v in fields if k != t]


@pytest.mark.parametrize(
    ("case", "fields", "reason", "ref_tag"),
    [
        ("14a_invalid_tag_number", [*NOS, (4999, "x")], "0", "4999"),
        ("14b_required_tag_missing", _without(NOS, 55), "1", "55"),
        ("14c_tag_not_defined_for_msg_type", [*NOS, (112, "x")], "2", "112"),
        ("14d_tag_without_value", [*NOS, (58, "")], "4", "58"),
        ("14e_incorrect_enum_value", [*_without(NOS, 54), (54, "Z")], "5", "54"),
        ("14f_incorrect_data_format", [*_without(NOS, 38), (38, "lots")], "6", "38"),
        ("14h_repeated_tag", [*NOS, (55, "MSFT")], "13", "55"),
        (
            "14i_group_count_wrong",
            [*NOS, (453, "2"), (448, "P1"), (447, "D"), (452, "3")],
            "16",
            "453",
        ),
        (
            "14j_group_fields_out_of_order",
            [*NOS, (453, "1"), (447, "D"), (448, "P1"), (452, "3")],
            "15",
            "447",
        ),
    ],
)
async def test_14_malformed_field_is_rejected_and_seq_consumed(
    venue: Venue, case: str, fields: list[tuple[int, str]], reason: str, ref_tag: str
) -> None:
    peer = await logged_on(venue)
    await peer.send("D", fields)
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 371), tag(rej, 45), tag(rej, 372)) == (
        reason,
        ref_tag,
        "2",
        "D",
    ), case
    await heartbeat_probe(peer)
    assert venue.app() == []


async def test_14g_header_field_after_body_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    raw = checksum_fix(
        b"8=FIX.4.4\x0135=D\x0134=2\x0149=CLIENT\x0152="
        + stamp(T0_NS).encode()
        + b"\x0156=EXCH\x0111=ID1\x0121=1\x0140=1\x0154=1\x0155=AMZN\x0138=5\x0160="
        + stamp(T0_NS).encode()
        + b"\x0197=N\x01"
    )
    await peer.send_raw(raw)
    peer.seq = 3
    rej = await peer.expect("3")
    assert (tag(rej, 373), tag(rej, 371)) == ("14", "97")
    await heartbeat_probe(peer)


# ============================================================ 15-20: the rest
async def test_15_header_fields_in_a_different_order_are_accepted(venue: Venue) -> None:
    peer = await logged_on(venue)
    raw = checksum_fix(
        b"8=FIX.4.4\x0135=D\x0156=EXCH\x0152="
        + stamp(T0_NS).encode()
        + b"\x0149=CLIENT\x0134=2\x0155=AMZN\x0111=ID9\x0154=2\x0160="
        + stamp(T0_NS).encode()
        + b"\x0138=7\x0140=1\x01"
    )
    await peer.send_raw(raw)
    peer.seq = 3
    await heartbeat_probe(peer)
    (app,) = venue.app()
    assert app.message.get(11) == b"ID9"


async def test_16_app_messages_are_refused_not_queued_before_logon(venue: Venue) -> None:
    with pytest.raises(SessionNotReady, match="not logged on"):
        venue.acceptor.send_app("FIX.4.4:EXCH->CLIENT", b"8", _er_body("EARLY"))
    peer = await logged_on(venue)
    # While the venue waits for a resend from the peer, its own messages still go out.
    await peer.send("0", seq=5)
    await peer.expect("2")
    venue.acceptor.send_app("FIX.4.4:EXCH->CLIENT", b"8", _er_body("DURING"))
    er = await peer.expect("8")
    assert tag(er, 17) == "DURING" and tag(er, 34) == "3"
    assert not any(b"EARLY" in m for m in venue.logs["FIX.4.4:EXCH->CLIENT"].messages)


async def test_17_encrypted_logon_is_refused(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("A", [(98, 1), (108, 30), *CREDS])
    logout = await peer.expect("5")
    assert "encryption" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


async def test_18_third_party_routing_fields_reach_the_application(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", NOS, header_extra=[(115, "DESK7")])
    await heartbeat_probe(peer)
    (app,) = venue.app()
    assert app.message.get(115) == b"DESK7"


@pytest.mark.parametrize("seen_before", [True, False])
async def test_19_poss_resend_is_delivered_flagged_for_the_application(
    venue: Venue, seen_before: bool
) -> None:
    """19a/19b: PossResend(97)=Y is application-level; the session delivers it flagged and
    the application de-duplicates by ClOrdID (the exchange) or ExecID (the daemon)."""
    peer = await logged_on(venue)
    if seen_before:
        await peer.send("D", NOS)
    await peer.send("D", NOS, header_extra=[(97, "Y")])
    await heartbeat_probe(peer)
    apps = venue.app()
    assert apps[-1].poss_resend and apps[-1].message.get(11) == b"ID1"
    assert len(apps) == (2 if seen_before else 1)


async def test_20_simultaneous_resend_requests_are_both_served(venue: Venue) -> None:
    peer = await logged_on(venue)  # venue: Logon=1
    venue.acceptor.send_app("FIX.4.4:EXCH->CLIENT", b"8", _er_body("E1"))  # 2
    await peer.expect("8")
    await peer.send("0", seq=4)  # gap 2..3 on the peer side
    rr = await peer.expect("2")  # venue asks for 2..
    assert tag(rr, 7) == "2"
    await peer.send("2", [(7, 2), (16, 0)], seq=5)  # and the peer asks for ours meanwhile
    er = await peer.expect("8")  # answered at once, though its seq is too high
    assert (tag(er, 34), tag(er, 43), tag(er, 17)) == ("2", "Y", "E1")
    gf = await peer.expect("4")  # the venue's ResendRequest itself (3) is gap filled
    assert (tag(gf, 34), tag(gf, 36)) == ("3", "4")
    await peer.send(
        "4", [(123, "Y"), (36, 4)], seq=2, poss_dup=True, orig_sending_time=stamp(T0_NS)
    )
    peer.seq = 6
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 7
    assert venue.session.stats.resend_requests_received == 1

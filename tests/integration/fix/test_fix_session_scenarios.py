"""The numbered cases of "FIX Session-Level Test Cases and Expected Behaviors", and
the extra cases of QuickFIX's acceptance suite that follows it, for every FIX version
(FIX.4.0-4.4 and FIXT.1.1 with FIX.5.0, SP1 and SP2), each over real TCP on 127.0.0.1
against our acceptor (the sell side, "S"; the buy side "B" is in
test_fix_initiator_scenarios.py).

The acceptor is configured as such suites expect: ResetOnLogon, and an application that
echoes NewOrderSingle (ignoring a PossResend of a ClOrdID it has seen) and
SecurityDefinition, while every other application message gets a
BusinessMessageReject (a session Reject on FIX.4.0/4.1, which have none). Time is a
SimClock shared by our engine and the raw peer, so heartbeat, test-request, logon and
logout timers run without sleeping. Test names start with the case number; where a
case does not apply to a version the test says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import simplefix
from fix_peer import T0_NS, RawPeer, checksum_fix
from fix_versions import ALL, FieldList, Ver, check_reject, tag

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
    State,
    body_of,
)
from gateways.fix.message_log import MemoryLog

SID = "EXCH->CLIENT"


@dataclass
class Venue:
    ver: Ver
    clock: SimClock
    acceptor: FixAcceptor = field(init=False)
    log: MemoryLog = field(default_factory=MemoryLog)
    events: list[SessionEvent] = field(default_factory=list)
    seen_orders: set[bytes] = field(default_factory=set)

    @property
    def session_id(self) -> str:
        return f"{self.ver.begin}:{SID}"

    @property
    def session(self) -> FixSession:
        return self.acceptor.session(self.session_id)

    def app(self) -> list[AppMessage]:
        return [e for e in self.events if isinstance(e, AppMessage)]

    def on_event(self, ev: SessionEvent) -> None:
        """The acceptance suites' application: echo orders and security definitions."""
        self.events.append(ev)
        if isinstance(ev, LoggedOut):
            self.seen_orders.clear()
        if not isinstance(ev, AppMessage):
            return
        msg = ev.message
        if msg.msg_type == b"D":
            cl = msg.get(11) or b""
            if ev.poss_resend and cl in self.seen_orders:
                return  # 19a: already seen, do not act twice
            self.seen_orders.add(cl)
        self.acceptor.send_app(ev.session_id, msg.msg_type, body_of(msg))

    async def connect(self, **kw: Any) -> RawPeer:
        kw.setdefault("begin", self.ver.begin)
        kw.setdefault("logon_extra", self.ver.logon_extra())
        kw.setdefault("millis", self.ver.millis)
        return await RawPeer.connect(self.acceptor.port, self.clock, **kw)

    def stamp(self, offset_s: float = 0) -> str:
        from fix_peer import stamp

        return stamp(T0_NS + int(offset_s * 1e9), self.ver.millis)


async def open_venue(ver: Ver, **settings: Any) -> Venue:
    v = Venue(ver, SimClock(T0_NS))
    s = ver.settings(app_msg_types=("D", "d"), **settings)
    v.acceptor = FixAcceptor(
        AcceptorSettings(port=0, sessions=(s,)),
        clock=v.clock,
        on_event=v.on_event,
        logs={s.session_id: v.log},
    )
    await v.acceptor.start()
    return v


@pytest.fixture(params=ALL, ids=lambda v: v.id)
def ver(request: pytest.FixtureRequest) -> Ver:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
async def venue(ver: Ver) -> AsyncIterator[Venue]:
    """As the acceptance suites configure it: ResetOnLogon."""
    v = await open_venue(ver, reset_on_logon=True)
    yield v
    await v.acceptor.stop(timeout=0.2)


@pytest.fixture
async def kept(ver: Ver) -> AsyncIterator[Venue]:
    """Sequence numbers kept across connections (the cases about a later logon)."""
    v = await open_venue(ver)
    yield v
    await v.acceptor.stop(timeout=0.2)


def needs(cond: bool, why: str) -> None:
    if not cond:
        pytest.skip(f"not applicable: {why}")


async def logged_on(venue: Venue, **kw: Any) -> RawPeer:
    peer = await venue.connect(**kw)
    await peer.logon()
    return peer


async def heartbeat_probe(peer: RawPeer, req_id: str = "PROBE") -> None:
    """A TestRequest answered by a Heartbeat proves the session is alive and in sequence."""
    await peer.send("1", [(112, req_id)])
    hb = await peer.expect("0")
    assert tag(hb, 112) == req_id


async def expect_echo(peer: RawPeer, cl: str) -> simplefix.FixMessage:
    echo = await peer.expect("D")
    assert tag(echo, 11) == cl
    return echo


def without(fields: FieldList, t: int) -> FieldList:
    return [(k, v) for k, v in fields if k != t]


def replaced(fields: FieldList, t: int, value: str) -> FieldList:
    return [(k, value if k == t else v) for k, v in fields]


def execution_report(ver: Ver) -> FieldList:
    """A valid ExecutionReport of ``ver``: real FIX, but not a message a venue takes."""
    f: FieldList = [(11, "id"), (37, "O1"), (17, "1"), (39, "0"), (55, "WLRI"), (54, "1")]
    f += [(38, "100"), (14, "0"), (6, "0")]
    if ver.rank <= 42:
        f.append((20, "0"))
    if ver.rank >= 41:
        f += [(150, "0"), (151, "100")]
    if ver.rank <= 41:
        f += [(31, "0"), (32, "0")]
    return f


async def poss_dup(peer: RawPeer, msg_type: str, fields: FieldList, seq: int) -> None:
    await peer.send(msg_type, fields, seq=seq, poss_dup=True, orig_sending_time=peer.stamp(T0_NS))


# ===================================================================== 1S: logon
async def test_1S_a_valid_logon_is_answered_with_logon(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.logon()
    resp = peer.received[-1]
    assert (tag(resp, 34), tag(resp, 108), tag(resp, 98)) == ("1", "30", "0")
    assert (tag(resp, 49), tag(resp, 56), tag(resp, 8)) == ("EXCH", "CLIENT", venue.ver.begin)
    if venue.ver.fixt:
        assert tag(resp, 1137) == venue.ver.appl_ver_id
    assert venue.session.is_logged_on
    assert any(isinstance(e, LoggedOn) for e in venue.events)
    await heartbeat_probe(peer)


async def test_1S_b_logon_seq_too_high_answers_logon_then_resend_request(venue: Venue) -> None:
    peer = await venue.connect()
    peer.seq = 5
    await peer.logon()
    rr = await peer.expect("2")
    assert (tag(rr, 7), tag(rr, 16)) == ("1", venue.ver.infinity)
    # The peer fills the gap (its logon at 5 included) and the session is in sequence.
    await poss_dup(peer, "4", [(123, "Y"), (36, 6)], seq=1)
    peer.seq = 6
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 7


async def test_1S_c_second_connection_for_a_logged_on_session_is_refused(venue: Venue) -> None:
    first = await logged_on(venue)
    second = await venue.connect()
    await second.logon(expect=False)
    await second.expect_disconnect()
    await heartbeat_probe(first)  # the first connection is untouched


@pytest.mark.parametrize(("sender", "target"), [("STRANGER", "EXCH"), ("CLIENT", "DLSI")])
async def test_1S_c_logon_with_unknown_comp_ids_is_refused(
    venue: Venue, sender: str, target: str
) -> None:
    peer = await venue.connect(sender=sender, target=target)
    await peer.logon(expect=False)
    await peer.expect_disconnect()
    assert venue.acceptor.refused == 1


async def test_1S_d_logon_with_bad_password_is_logged_out(ver: Ver) -> None:
    needs(ver.credentials, f"{ver.id} Logon has no Username/Password (553/554)")
    venue = await open_venue(ver, username="trader", password="s3cret")
    try:
        peer = await venue.connect()
        await peer.logon(extra=[(553, "trader"), (554, "wrong")], expect=False)
        logout = await peer.expect("5")
        assert "password" in (tag(logout, 58) or "")
        await peer.expect_disconnect()
        good = await venue.connect()
        await good.logon(extra=[(553, "trader"), (554, "s3cret")])
        await heartbeat_probe(good)
    finally:
        await venue.acceptor.stop(timeout=0.2)
    assert sum(isinstance(e, LoggedOn) for e in venue.events) == 1


async def test_1S_d_garbled_logon_is_refused(venue: Venue) -> None:
    peer = await venue.connect()
    data = peer.build("A", [(98, 0), (108, 30), *venue.ver.logon_extra()])
    await peer.send_raw(data[:-4] + b"999\x01")  # bad checksum
    await peer.expect_disconnect()


@pytest.mark.parametrize("delta", [-3, 3])
async def test_1S_d_logon_with_bad_body_length_is_refused(venue: Venue, delta: int) -> None:
    """Too short is garbled at once; too long could still be arriving, so the logon
    timeout ends it."""
    peer = await venue.connect()
    data = peer.build("A", [(98, 0), (108, 30), *venue.ver.logon_extra()])
    n = data.index(b"\x019=") + 3
    m = data.index(b"\x01", n)
    await peer.send_raw(data[:n] + b"%d" % (int(data[n:m]) + delta) + data[m:])
    if delta > 0:
        await peer.expect_silence()
        await venue.clock.run_for(11)
    await peer.expect_disconnect()


async def test_1S_d_logon_with_bad_sending_time_is_logged_out(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send(
        "A", [(98, 0), (108, 30), *venue.ver.logon_extra()], sending_time=venue.stamp(-300)
    )
    logout = await peer.expect("5")
    assert "SendingTime" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


async def test_1S_d_logon_without_heartbeat_interval_is_logged_out(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("A", [(98, 0), *venue.ver.logon_extra()])
    logout = await peer.expect("5")
    assert "108" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


async def test_1S_d_logon_with_another_begin_string_is_refused(venue: Venue) -> None:
    other = "FIX.4.4" if venue.ver.begin != "FIX.4.4" else "FIX.4.2"
    peer = await venue.connect(begin=other)
    await peer.logon(expect=False)
    await peer.expect_disconnect()


async def test_1S_d_fixt_logon_without_default_appl_ver_id_is_logged_out(ver: Ver) -> None:
    needs(ver.fixt, "DefaultApplVerID(1137) is a FIXT.1.1 Logon field")
    venue = await open_venue(ver)
    try:
        peer = await venue.connect(logon_extra=[])
        await peer.logon(expect=False)
        logout = await peer.expect("5")
        assert "1137" in (tag(logout, 58) or "")
        await peer.expect_disconnect()
    finally:
        await venue.acceptor.stop(timeout=0.2)


async def test_1S_e_first_message_not_a_logon_disconnects(venue: Venue) -> None:
    peer = await venue.connect()
    await peer.send("0")
    await peer.expect_disconnect()
    assert venue.acceptor.refused == 1


async def test_1S_logon_seq_too_low_is_logged_out(kept: Venue) -> None:
    peer = await logged_on(kept)
    await peer.send("5")
    await peer.expect("5")
    await peer.expect_disconnect()
    again = await kept.connect()
    again.seq = 1  # the venue expects 3 now
    await again.logon(expect=False)
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
    await peer.send("D", venue.ver.nos())
    echo = await expect_echo(peer, "ID1")
    assert tag(echo, 34) == "2"
    (app,) = venue.app()
    assert app.message.seq_num == 2


async def test_2b_msg_seq_num_too_high_queues_and_sends_resend_request(venue: Venue) -> None:
    peer = await logged_on(venue)
    nos = venue.ver.nos
    await peer.send("D", nos("A3"), seq=3)
    await peer.send("D", nos("A4"), seq=4)
    rr = await peer.expect("2")
    assert (tag(rr, 7), tag(rr, 16)) == ("2", venue.ver.infinity)
    assert venue.app() == []  # nothing delivered out of order
    await poss_dup(peer, "D", nos("A2"), seq=2)
    await poss_dup(peer, "D", nos("A3"), seq=3)
    for cl in ("A2", "A3", "A4"):
        await expect_echo(peer, cl)
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
    good = peer.build("D", venue.ver.nos(), seq=2)
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
    await peer.send("D", venue.ver.nos())
    await expect_echo(peer, "ID1")
    await poss_dup(peer, "D", venue.ver.nos(), seq=2)
    await heartbeat_probe(peer)
    assert len(venue.app()) == 1
    assert venue.session.stats.duplicates_ignored == 1


async def test_2e_poss_dup_not_yet_received_is_processed(venue: Venue) -> None:
    peer = await logged_on(venue)
    await poss_dup(peer, "D", venue.ver.nos(), seq=2)
    peer.seq = 3
    await expect_echo(peer, "ID1")
    (app,) = venue.app()
    assert app.poss_dup


async def test_2f_poss_dup_orig_sending_time_after_sending_time_rejects_and_logs_out(
    venue: Venue,
) -> None:
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos())
    await expect_echo(peer, "ID1")
    await peer.send("D", venue.ver.nos(), seq=2, poss_dup=True, orig_sending_time=venue.stamp(10))
    rej = await peer.expect("3")
    check_reject(
        rej, venue.ver, seq=2, reason=10, ref_tag=122, msg_type="D", text="SendingTime accuracy"
    )
    await peer.expect("5")
    await peer.expect_disconnect()


async def test_2g_poss_dup_without_orig_sending_time_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos(), poss_dup=True)
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=1, ref_tag=122, msg_type="D", text="Required tag")
    await heartbeat_probe(peer)  # seq 2 consumed by the reject, 3 accepted
    assert venue.app() == []


async def test_2h_2j_2l_2n_2p_2s_well_formed_header_is_accepted(venue: Venue) -> None:
    """The "as expected" halves of 2: BeginString, CompIDs, BodyLength, SendingTime,
    MsgType and the first three fields all correct -> processed normally."""
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos())
    await expect_echo(peer, "ID1")
    await heartbeat_probe(peer)
    assert venue.session.stats.rejects_sent == 0


async def test_2i_begin_string_mismatch_logs_out_and_disconnects(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0", begin="FIX.4.0" if venue.ver.begin != "FIX.4.0" else "FIX.4.4")
    logout = await peer.expect("5")
    assert "BeginString" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


@pytest.mark.parametrize(("sender", "target"), [("WT", "EXCH"), ("CLIENT", "DLSI"), ("WT", "DLSI")])
async def test_2k_comp_id_mismatch_rejects_and_logs_out(
    venue: Venue, sender: str, target: str
) -> None:
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos(), sender=sender, target=target)
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=9, msg_type="D", text="CompID problem")
    await peer.expect("5")
    await peer.expect_disconnect()


async def test_2m_body_length_wrong_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    good = peer.build("D", venue.ver.nos(), seq=2)
    n = good.index(b"\x019=") + 3
    m = good.index(b"\x01", n)
    bad_len = int(good[n:m]) - 5
    await peer.send_raw(good[:n] + str(bad_len).encode() + good[m:])
    await heartbeat_probe(peer)
    assert venue.app() == [] and venue.session.stats.garbled_dropped == 1


@pytest.mark.parametrize("skew_s", [-121, 121])
async def test_2o_sending_time_out_of_range_rejects_and_logs_out(venue: Venue, skew_s: int) -> None:
    peer = await logged_on(venue)
    await peer.send("0", sending_time=venue.stamp(skew_s))
    rej = await peer.expect("3")
    check_reject(
        rej, venue.ver, seq=2, reason=10, ref_tag=52, msg_type="0", text="SendingTime accuracy"
    )
    await peer.expect("5")
    await peer.expect_disconnect()


async def test_2q_invalid_msg_type_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("*")
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=11, msg_type="*", text="Invalid MsgType")
    await heartbeat_probe(peer)


async def test_2r_valid_but_unsupported_msg_type_is_refused(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("8", execution_report(venue.ver))
    if venue.ver.business_reject:
        bmr = await peer.expect("j")
        assert (tag(bmr, 380), tag(bmr, 372), tag(bmr, 45)) == ("3", "8", "2")
    else:  # FIX.4.0/4.1 have no BusinessMessageReject
        rej = await peer.expect("3")
        check_reject(rej, venue.ver, seq=2, reason=None, text="Unsupported Message Type")
    await heartbeat_probe(peer)
    assert venue.app() == []


async def test_2t_first_three_fields_out_of_order_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    begin = venue.ver.begin.encode()
    wrong = checksum_fix(
        b"8=%b\x0134=2\x0135=0\x0149=CLIENT\x0152=%b\x0156=EXCH\x01"
        % (begin, venue.stamp().encode())
    )
    await peer.send_raw(wrong)
    moved = checksum_fix(
        b"8=%b\x0134=2\x0149=CLIENT\x0152=%b\x0156=EXCH\x01" % (begin, venue.stamp().encode())
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
    good = peer.build("D", venue.ver.nos(), seq=2)
    bad = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 1) % 256)
    await peer.send_raw(bad)
    await heartbeat_probe(peer)
    assert venue.app() == [] and venue.session.stats.garbled_dropped == 1


async def test_3c_garbled_trailer_is_ignored(venue: Venue) -> None:
    peer = await logged_on(venue)
    good = peer.build("D", venue.ver.nos(), seq=2)
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
    if venue.ver.reject_fields:
        await peer.send("3", [(45, 1), (371, 108), (372, "A"), (373, 5), (58, "bad")])
    else:
        await peer.send("3", [(45, 1), (58, "bad")])
    await heartbeat_probe(peer)
    (rej,) = [e for e in venue.events if isinstance(e, RejectReceived)]
    assert (rej.ref_seq_num, rej.text) == (1, "bad")
    if venue.ver.reject_fields:
        assert (rej.reason, rej.ref_tag) == (5, 108)


# ================================================================ 8-9: resend/sync
def _er_body(exec_id: str) -> bytes:
    return (
        b"6=0\x0111=ID1\x0114=0\x0117=%b\x0137=O1\x0138=100\x0139=0\x0154=1\x0155=AMZN\x01"
        b"150=0\x01151=100\x01" % exec_id.encode()
    )


async def _venue_sent_admin_then_app(venue: Venue, peer: RawPeer) -> None:
    await heartbeat_probe(peer, "X")  # venue: Logon (1), Heartbeat (2)
    venue.acceptor.send_app(venue.session_id, b"8", _er_body("E1"))  # 3
    venue.acceptor.send_app(venue.session_id, b"8", _er_body("E2"))  # 4
    await peer.expect("8")
    await peer.expect("8")


async def _expect_resent(peer: RawPeer, pairs: list[tuple[str, str]]) -> None:
    for seq, exec_id in pairs:
        r = await peer.expect("8")
        assert (tag(r, 34), tag(r, 43), tag(r, 17)) == (seq, "Y", exec_id)
        orig = tag(r, 122)
        assert orig is not None and orig <= (tag(r, 52) or "")


async def test_8_resend_request_resends_app_messages_and_gap_fills_admin(venue: Venue) -> None:
    peer = await logged_on(venue)
    await _venue_sent_admin_then_app(venue, peer)
    await peer.send("2", [(7, 1), (16, venue.ver.infinity)])
    gf = await peer.expect("4")
    assert (tag(gf, 34), tag(gf, 36), tag(gf, 123), tag(gf, 43)) == ("1", "3", "Y", "Y")
    await _expect_resent(peer, [("3", "E1"), ("4", "E2")])
    assert venue.session.next_sender_seq == 5


async def test_8_resend_request_for_only_admin_messages_is_one_gap_fill(venue: Venue) -> None:
    peer = await logged_on(venue)
    await _venue_sent_admin_then_app(venue, peer)
    await peer.send("2", [(7, 1), (16, 2)])
    gf = await peer.expect("4")
    assert (tag(gf, 34), tag(gf, 36), tag(gf, 123)) == ("1", "3", "Y")
    await heartbeat_probe(peer)


async def test_8_resend_request_for_only_app_messages_resends_them(venue: Venue) -> None:
    peer = await logged_on(venue)
    await _venue_sent_admin_then_app(venue, peer)
    await peer.send("2", [(7, 3), (16, 4)])
    await _expect_resent(peer, [("3", "E1"), ("4", "E2")])
    await heartbeat_probe(peer)


async def test_9_reset_seq_num_flag_synchronises_both_sides(kept: Venue) -> None:
    needs(kept.ver.reset_flag, "FIX.4.0 has no ResetSeqNumFlag(141)")
    peer = await logged_on(kept)
    await peer.send("0")
    await peer.send("5")
    await peer.expect("5")
    await peer.expect_disconnect()
    assert kept.session.next_target_seq == 4
    again = await kept.connect()
    await again.logon(extra=[(141, "Y")])
    resp = again.received[-1]
    assert (tag(resp, 34), tag(resp, 141)) == ("1", "Y")
    await heartbeat_probe(again)
    assert kept.session.next_target_seq == 3 and kept.session.next_sender_seq == 3


# ============================================================= 10: gap fill
async def test_10a_gap_fill_seq_too_high_sends_resend_request(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("4", [(123, "Y"), (36, 10)], seq=5)
    rr = await peer.expect("2")
    assert tag(rr, 7) == "2"
    await poss_dup(peer, "4", [(123, "Y"), (36, 10)], seq=2)
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
    await poss_dup(peer, "4", [(123, "Y"), (36, 20)], seq=1)
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
    check_reject(rej, venue.ver, seq=2, reason=5, ref_tag=36, msg_type="4")
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
    assert any("already expected" in e for e in venue.log.events)


async def test_11c_sequence_reset_to_lower_number_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0")
    await peer.send("4", [(36, 1)])
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=3, reason=5, ref_tag=36, msg_type="4")
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
    assert venue.session.state is State.DISCONNECTED


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
async def _rejected(
    venue: Venue,
    msg_type: str,
    fields: FieldList,
    reason: int,
    ref_tag: int | None,
    text: str,
    **kw: Any,
) -> None:
    """Send one malformed message: a Reject naming it, its MsgSeqNum used, nothing
    delivered, and the session carries on."""
    peer = await logged_on(venue)
    await peer.send(msg_type, fields, **kw)
    rej = await peer.expect("3")
    check_reject(
        rej, venue.ver, seq=2, reason=reason, ref_tag=ref_tag, msg_type=msg_type, text=text
    )
    await heartbeat_probe(peer)
    assert venue.app() == []
    assert venue.session.is_logged_on


@pytest.mark.parametrize("bad_tag", [4999, 0, -1, 5000])
async def test_14a_invalid_tag_number_is_rejected(venue: Venue, bad_tag: int) -> None:
    """Outside every version's dictionary; 5000 starts the user-defined range, which is
    validated unless validate_user_defined_fields is off."""
    await _rejected(venue, "0", [(bad_tag, "HI")], 0, bad_tag, "Invalid tag number")


async def test_14a_user_defined_tag_passes_when_not_validated(ver: Ver) -> None:
    venue = await open_venue(ver, validate_user_defined_fields=False)
    try:
        peer = await logged_on(venue)
        await peer.send("D", [*ver.nos(), (5000, "HI")])
        await expect_echo(peer, "ID1")
        await peer.send("0", [(4999, "HI")])  # below the user range: still invalid
        rej = await peer.expect("3")
        check_reject(rej, ver, seq=3, reason=0, ref_tag=4999, msg_type="0")
    finally:
        await venue.acceptor.stop(timeout=0.2)


async def test_14b_required_header_field_missing_is_rejected_and_session_continues(
    venue: Venue,
) -> None:
    """A message without TargetCompID(56) is malformed, not somebody else's: Reject
    (required tag missing, 56), no Logout (issue 17, item 1)."""
    peer = await logged_on(venue)
    raw = checksum_fix(
        b"8=%b\x0135=0\x0134=2\x0149=CLIENT\x0152=%b\x01"
        % (venue.ver.begin.encode(), venue.stamp().encode())
    )
    await peer.send_raw(raw)
    peer.seq = 3
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=1, ref_tag=56, msg_type="0", text="Required tag")
    await heartbeat_probe(peer)
    assert venue.session.is_logged_on


async def test_14b_required_body_field_missing_is_rejected(venue: Venue) -> None:
    await _rejected(venue, "D", without(venue.ver.nos(), 11), 1, 11, "Required tag missing")


async def test_14c_tag_not_defined_for_msg_type_is_rejected(venue: Venue) -> None:
    await _rejected(venue, "0", [(55, "MSFT")], 2, 55, "Tag not defined for this message type")


async def test_14d_empty_target_comp_id_is_rejected_and_session_continues(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("0", target="")
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=4, ref_tag=56, msg_type="0", text="without a value")
    await heartbeat_probe(peer)


async def test_14d_tag_without_value_is_rejected(venue: Venue) -> None:
    await _rejected(venue, "D", [*venue.ver.nos(), (58, "")], 4, 58, "without a value")


async def test_14e_incorrect_enum_value_is_rejected(venue: Venue) -> None:
    await _rejected(venue, "D", replaced(venue.ver.nos(), 21, "4"), 5, 21, "Value is incorrect")


async def test_14e_security_type_outside_its_enumeration_is_rejected(venue: Venue) -> None:
    needs(venue.ver.rank >= 41, "FIX.4.0 NewOrderSingle has no SecurityType(167)")
    await _rejected(venue, "D", [*venue.ver.nos(), (167, "BOO")], 5, 167, "Value is incorrect")


async def test_14e_security_type_in_its_enumeration_is_accepted(venue: Venue) -> None:
    needs(venue.ver.rank >= 41, "FIX.4.0 NewOrderSingle has no SecurityType(167)")
    peer = await logged_on(venue)
    await peer.send("D", [*venue.ver.nos(), (167, "CS")])
    echo = await expect_echo(peer, "ID1")
    assert tag(echo, 167) == "CS"


async def test_14f_quantity_with_a_plus_sign_is_an_incorrect_data_format(venue: Venue) -> None:
    await _rejected(venue, "D", replaced(venue.ver.nos(), 38, "+200.00"), 6, 38, "data format")


async def test_14f_date_where_a_timestamp_is_required_is_an_incorrect_data_format(
    venue: Venue,
) -> None:
    await _rejected(venue, "D", [*venue.ver.nos(), (126, "20040415")], 6, 126, "data format")


async def test_14g_header_field_after_body_is_rejected(venue: Venue) -> None:
    peer = await logged_on(venue)
    body = b"".join(b"%d=%b\x01" % (t, str(v).encode()) for t, v in venue.ver.nos())
    raw = checksum_fix(
        b"8=%b\x0135=D\x01%b34=2\x0149=CLIENT\x0152=%b\x0156=EXCH\x01"
        % (venue.ver.begin.encode(), body, venue.stamp().encode())
    )
    await peer.send_raw(raw)
    peer.seq = 3
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=14, ref_tag=34, msg_type="D", text="out of")
    await heartbeat_probe(peer)


async def test_14h_repeated_tag_is_rejected(venue: Venue) -> None:
    """FIX.4.2 has no code for it (13 came in 4.3): the Reject carries the tag and text."""
    fields = venue.ver.nos()
    i = next(k for k, (t, _) in enumerate(fields) if t == 40)
    fields.insert(i + 1, (40, "1"))
    await _rejected(venue, "D", fields, 13, 40, "Tag appears more than once")


async def test_14i_repeating_group_count_wrong_is_rejected(venue: Venue) -> None:
    needs(venue.ver.rank >= 42, "NoTradingSessions(386) came with FIX.4.2")
    fields = [*venue.ver.nos(), (386, "3"), (336, "1"), (336, "6")]
    await _rejected(venue, "D", fields, 16, 386, "NumInGroup")


async def test_14i_repeating_group_with_the_right_count_is_accepted(venue: Venue) -> None:
    needs(venue.ver.rank >= 42, "NoTradingSessions(386) came with FIX.4.2")
    peer = await logged_on(venue)
    await peer.send("D", [*venue.ver.nos(), (386, "2"), (336, "1"), (336, "6")])
    await expect_echo(peer, "ID1")


async def test_14j_group_entry_not_starting_with_its_delimiter_is_rejected(venue: Venue) -> None:
    needs(venue.ver.rank >= 42, "NoAllocs(78) in NewOrderSingle came with FIX.4.2")
    fields = [*venue.ver.nos(), (78, "1"), (80, "50"), (79, "acct1")]
    await _rejected(venue, "D", fields, 15, 80, "out of order")


async def test_14j_group_members_out_of_dictionary_order_are_rejected(venue: Venue) -> None:
    needs(venue.ver.rank >= 44, "AllocAcctIDSource(661) came with FIX.4.4")
    fields = [*venue.ver.nos(), (78, "2"), (79, "acct1"), (80, "50"), (661, "1")]
    fields += [(79, "acct2"), (80, "150"), (661, "1")]
    await _rejected(venue, "D", fields, 15, 661, "out of order")


# ============================================================ 15-21: the rest
async def test_15_header_fields_in_a_different_order_are_accepted(venue: Venue) -> None:
    peer = await logged_on(venue)
    body = b"".join(b"%d=%b\x01" % (t, str(v).encode()) for t, v in venue.ver.nos("ID9"))
    raw = checksum_fix(
        b"8=%b\x0135=D\x0156=EXCH\x0152=%b\x0149=CLIENT\x0134=2\x01%b"
        % (venue.ver.begin.encode(), venue.stamp().encode(), body)
    )
    await peer.send_raw(raw)
    peer.seq = 3
    await expect_echo(peer, "ID9")


async def test_16_app_messages_are_refused_not_queued_before_logon(venue: Venue) -> None:
    """The document allows queueing while disconnected; our stated policy is to refuse,
    so no order goes out late on stale prices."""
    with pytest.raises(SessionNotReady, match="not logged on"):
        venue.acceptor.send_app(venue.session_id, b"8", _er_body("EARLY"))
    peer = await logged_on(venue)
    # While the venue waits for a resend from the peer, its own messages still go out.
    await peer.send("0", seq=5)
    await peer.expect("2")
    venue.acceptor.send_app(venue.session_id, b"8", _er_body("DURING"))
    er = await peer.expect("8")
    assert tag(er, 17) == "DURING" and tag(er, 34) == "3"
    assert not any(b"EARLY" in m for m in venue.log.messages)


async def test_17_encrypted_logon_is_refused(venue: Venue) -> None:
    """Encryption is optional in the document; we support none and say so."""
    peer = await venue.connect()
    await peer.send("A", [(98, 1), (108, 30), *venue.ver.logon_extra()])
    logout = await peer.expect("5")
    assert "encryption" in (tag(logout, 58) or "")
    await peer.expect_disconnect()


ROUTES = [
    ([(115, "JCD")], [(128, "JCD")]),
    ([(128, "JCD")], [(115, "JCD")]),
    ([(115, "JCD"), (116, "CS")], [(128, "JCD"), (129, "CS")]),
    ([(128, "JCD"), (129, "CS")], [(115, "JCD"), (116, "CS")]),
    ([(115, "JCD"), (116, "CS"), (144, "CHI")], [(128, "JCD"), (129, "CS"), (145, "CHI")]),
    ([(128, "JCD"), (129, "CS"), (145, "CHI")], [(115, "JCD"), (116, "CS"), (144, "CHI")]),
]


@pytest.mark.parametrize(("route_in", "route_out"), ROUTES)
async def test_18_reject_of_a_third_party_message_is_reverse_routed(
    venue: Venue, route_in: FieldList, route_out: FieldList
) -> None:
    if any(t in (144, 145) for t, _ in route_in):
        needs(venue.ver.location_ids, "FIX.4.0 has no OnBehalfOf/DeliverToLocationID")
    peer = await logged_on(venue)
    await peer.send("D", replaced(venue.ver.nos(), 40, "w"), header_extra=route_in)
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=5, ref_tag=40, msg_type="D")
    routing = {115, 116, 144, 128, 129, 145}
    got = [(int(t), v.decode()) for t, v in rej.pairs if int(t) in routing]
    assert got == route_out
    await heartbeat_probe(peer)


async def test_18_business_reject_of_a_third_party_message_is_reverse_routed(venue: Venue) -> None:
    needs(venue.ver.business_reject, "FIX.4.0/4.1 have no BusinessMessageReject")
    peer = await logged_on(venue)
    await peer.send("8", execution_report(venue.ver), header_extra=[(115, "JCD"), (116, "CS")])
    bmr = await peer.expect("j")
    assert (tag(bmr, 128), tag(bmr, 129), tag(bmr, 115)) == ("JCD", "CS", None)


@pytest.mark.parametrize(
    ("route_in", "empty", "route_out"),
    [
        ([(115, "")], 115, []),
        ([(128, "")], 128, []),
        ([(115, "JCD"), (116, "")], 116, [(128, "JCD")]),
        ([(128, "JCD"), (129, "")], 129, [(115, "JCD")]),
    ],
)
async def test_18_empty_routing_field_is_rejected_and_not_routed(
    venue: Venue, route_in: FieldList, empty: int, route_out: FieldList
) -> None:
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos(), header_extra=route_in)
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=4, ref_tag=empty, msg_type="D")
    routing = {115, 116, 144, 128, 129, 145}
    assert [(int(t), v.decode()) for t, v in rej.pairs if int(t) in routing] == route_out


async def test_18_routing_fields_reach_the_application(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos(), header_extra=[(115, "DESK7")])
    await expect_echo(peer, "ID1")
    (app,) = venue.app()
    assert app.message.get(115) == b"DESK7"


async def test_19a_poss_resend_of_an_order_already_seen_is_not_acted_on_twice(
    venue: Venue,
) -> None:
    """PossResend(97)=Y is application-level: the session delivers it flagged, the
    application de-duplicates by ClOrdID (the exchange) or ExecID (the daemon)."""
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos())
    await expect_echo(peer, "ID1")
    await peer.send("D", venue.ver.nos(), header_extra=[(97, "Y")])
    await heartbeat_probe(peer)  # no second echo before the heartbeat
    apps = venue.app()
    assert len(apps) == 2 and apps[-1].poss_resend


async def test_19b_poss_resend_of_an_order_not_seen_is_processed(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("D", venue.ver.nos(), header_extra=[(97, "Y")])
    await expect_echo(peer, "ID1")
    assert venue.app()[-1].poss_resend


async def test_20_simultaneous_resend_requests_are_both_served(venue: Venue) -> None:
    peer = await logged_on(venue)  # venue: Logon=1
    venue.acceptor.send_app(venue.session_id, b"8", _er_body("E1"))  # 2
    await peer.expect("8")
    await peer.send("0", seq=4)  # gap 2..3 on the peer side
    rr = await peer.expect("2")  # venue asks for 2..
    assert tag(rr, 7) == "2"
    await peer.send("2", [(7, 2), (16, venue.ver.infinity)], seq=5)  # the peer asks meanwhile
    er = await peer.expect("8")  # answered at once, though its seq is too high
    assert (tag(er, 34), tag(er, 43), tag(er, 17)) == ("2", "Y", "E1")
    gf = await peer.expect("4")  # the venue's ResendRequest itself (3) is gap filled
    assert (tag(gf, 34), tag(gf, 36)) == ("3", "4")
    await poss_dup(peer, "4", [(123, "Y"), (36, 4)], seq=2)
    peer.seq = 6
    await heartbeat_probe(peer)
    assert venue.session.next_target_seq == 7
    assert venue.session.stats.resend_requests_received == 1


async def test_21_repeating_group_with_count_zero_is_processed(venue: Venue) -> None:
    needs(venue.ver.rank >= 43, "NoSecurityAltID(454) came with FIX.4.3")
    peer = await logged_on(venue)
    fields: FieldList = [(320, "JCD1091-20021011"), (322, "1034356488676323"), (323, "6")]
    fields += [(55, "TBS"), (167, "CS"), (58, "No Products found"), (454, "0")]
    await peer.send("d", fields)
    echo = await peer.expect("d")
    assert (tag(echo, 454), tag(echo, 320)) == ("0", "JCD1091-20021011")


# ======================================== QuickFIX acceptance suite additions
async def test_session_reset_logon_with_reset_flag_during_the_session(venue: Venue) -> None:
    """A Logon with ResetSeqNumFlag=Y and MsgSeqNum 1 on a logged-on session: both sides
    start again at 1 (issue 17, item 4)."""
    needs(venue.ver.reset_flag, "FIX.4.0 has no ResetSeqNumFlag(141)")
    peer = await logged_on(venue)
    for _ in range(8):
        await peer.send("0")
    await heartbeat_probe(peer, "1")  # venue's Heartbeat is its 2nd message
    peer.seq = 1
    await peer.logon(extra=[(141, "Y")])
    resp = peer.received[-1]
    assert (tag(resp, 34), tag(resp, 141)) == ("1", "Y")
    hb_req = await peer.send("1", [(112, "AFTER")])
    assert hb_req == 2
    hb = await peer.expect("0")
    assert (tag(hb, 34), tag(hb, 112)) == ("2", "AFTER")
    assert venue.session.stats.sequence_resets == 2  # ResetOnLogon, then this one


async def test_reject_of_a_resent_message_keeps_queued_requests_in_order(venue: Venue) -> None:
    peer = await logged_on(venue)
    await peer.send("1", [(112, "HELLO1")], seq=3)
    rr = await peer.expect("2")
    assert (tag(rr, 7), tag(rr, 16)) == ("2", venue.ver.infinity)
    await poss_dup(peer, "D", [*venue.ver.nos(), (126, "20040415")], seq=2)
    rej = await peer.expect("3")
    check_reject(rej, venue.ver, seq=2, reason=6, ref_tag=126, msg_type="D")
    hb1 = await peer.expect("0")
    assert tag(hb1, 112) == "HELLO1"
    await peer.send("1", [(112, "HELLO2")], seq=4)
    hb2 = await peer.expect("0")
    assert tag(hb2, 112) == "HELLO2"

"""Session options counterparties configure (ResetOnLogon for the acceptor too,
ResetOnLogout, ResetOnDisconnect, RefreshOnLogon), standard header fields the
application sets, and which stored messages a ResendRequest resends, on a SimClock."""

from __future__ import annotations

from pathlib import Path

from session_harness import Harness

from gateways.fix import NotResent, SessionSettings
from gateways.fix.store import FileStore, FsyncPolicy, MemoryStore

ER = b"6=0\x0111=C1\x0114=0\x0117=E1\x0137=O1\x0138=100\x0139=0\x0154=1\x0155=AMZN\x01150=0\x01151=100\x01"
NOS = b"11=C1\x0121=1\x0138=100\x0140=2\x0144=10.5\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01"


def settings(**kw: object) -> SessionSettings:
    return SessionSettings(sender_comp_id="EXCH", target_comp_id="CLIENT", **kw)  # type: ignore[arg-type]


def seqs(h: Harness) -> tuple[int, int]:
    return h.session.next_sender_seq, h.session.next_target_seq


def test_acceptor_reset_on_logon_starts_every_logon_at_one() -> None:
    h = Harness(settings(reset_on_logon=True))
    h.send(b"0", b"")
    h.session.disconnect("test")
    assert seqs(h) == (2, 3)
    h.seq = 1
    ((mt, logon),) = h.connect()  # the peer starts at 1 without asking: accepted
    assert (mt, logon[34], logon.get(141)) == (b"A", b"1", None)
    assert seqs(h) == (2, 2) and h.session.stats.sequence_resets == 2


def test_without_reset_on_logon_a_logon_at_one_is_too_low() -> None:
    h = Harness(settings())
    h.send(b"0", b"")
    h.session.disconnect("test")
    h.seq = 1
    ((mt, logout),) = h.connect()
    assert mt == b"5" and b"too low" in logout[58] and h.closed


def test_reset_on_logout_after_a_completed_logout_handshake() -> None:
    h = Harness(settings(reset_on_logout=True))
    h.send(b"0", b"")
    h.send(b"5", b"")  # the peer logs out; we answer and disconnect
    assert seqs(h) == (1, 1) and h.session.stats.sequence_resets == 1


def test_reset_on_logout_not_after_a_dropped_connection() -> None:
    h = Harness(settings(reset_on_logout=True))
    h.send(b"0", b"")
    h.session.connection_lost("connection reset by peer")
    assert seqs(h) == (2, 3)


def test_reset_on_disconnect_after_any_disconnect() -> None:
    h = Harness(settings(reset_on_disconnect=True))
    h.send(b"0", b"")
    h.session.connection_lost("connection reset by peer")
    assert seqs(h) == (1, 1)


def test_refresh_on_logon_takes_the_sequence_numbers_another_process_wrote(
    tmp_path: Path,
) -> None:
    """A standby process takes over a session whose store the primary kept writing."""
    path = tmp_path / "s.fixstore"
    standby_store = FileStore(path, FsyncPolicy.NEVER)
    standby = Harness(settings(refresh_on_logon=True), store=standby_store, logon=None)
    assert seqs(standby) == (1, 1)
    standby.session.disconnect("standby waits")
    primary = Harness(settings(), store=FileStore(path, FsyncPolicy.NEVER))
    for _ in range(3):
        primary.send(b"0", b"")
    primary.session.send_app(b"8", ER)
    primary.session.disconnect("primary died")
    assert seqs(primary) == (3, 5)
    standby.seq = 5
    ((mt, logon),) = standby.connect()
    assert (mt, logon[34]) == (b"A", b"3")  # continues where the primary stopped
    assert seqs(standby) == (4, 6)
    # and can resend what the primary sent
    answer = standby.send(b"2", b"7=2\x0116=0\x01")
    assert [(mt, f.get(17)) for mt, f in answer] == [(b"8", b"E1"), (b"4", None)]


def test_application_header_fields_go_out_and_survive_a_resend() -> None:
    h = Harness(settings())
    seq = h.session.send_app(b"8", ER, [(128, "DESK7"), (129, b"TRADER2"), (97, "Y")])
    sent = h.out
    assert b"\x0156=CLIENT\x01128=DESK7\x01129=TRADER2\x0197=Y\x016=0\x01" in sent
    ((mt, resent),) = h.send(b"2", b"7=%d\x0116=%d\x01" % (seq, seq))
    assert (mt, resent[43], resent[128], resent[129], resent[97]) == (
        b"8",
        b"Y",
        b"DESK7",
        b"TRADER2",
        b"Y",
    )


def test_reverse_route_answers_the_way_a_message_came() -> None:
    h = Harness(settings(app_msg_types=("D",)))
    h.send(b"D", NOS, header=b"115=BROKER\x01116=DESK\x01")
    app = h.events[-1].message  # type: ignore[union-attr]
    assert h.session.reverse_route(app) == b"128=BROKER\x01129=DESK\x01"


def test_execution_reports_are_resent_whatever_their_age() -> None:
    """The age rule is for orders: a venue must deliver every fill it reported."""
    h = Harness(settings(max_order_resend_age_s=1), logon=b"98=0\x01108=3600\x01")
    h.session.send_app(b"8", ER)
    h.clock.advance(600)
    answer = h.send(b"2", b"7=2\x0116=0\x01")
    assert [(mt, f.get(43)) for mt, f in answer] == [(b"8", b"Y")]
    assert not any(isinstance(e, NotResent) for e in h.events)


def test_unknown_age_of_a_stored_order_is_treated_as_stale() -> None:
    store = MemoryStore()
    h = Harness(settings(), store=store)
    # a stored order whose SendingTime cannot be read (a hand-edited or foreign store)
    store.record_sent(2, b"8=FIX.4.4\x019=5\x0135=D\x0134=2\x0110=000\x01")
    h.session._next_out = 3
    answer = h.send(b"2", b"7=2\x0116=0\x01")
    assert [mt for mt, _ in answer] == [b"4"]
    (ev,) = [e for e in h.events if isinstance(e, NotResent)]
    assert ev.seq_num == 2 and ev.age_s == float("inf")

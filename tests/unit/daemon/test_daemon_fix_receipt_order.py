"""A venue report is the daemon's before its sequence number is stored as received.

Found by the 100-kill drill: ``kill -9`` landed while the daemon handled a fill (the FIX
session had already stored "next expected: N + 1", the journal did not yet hold the
fill). After the restart the session asked the venue to resend from N + 1: the fill N
was never seen again, the order's CumQty ran 100 short of the venue's and the kill
switch was engaged ("a fill is missing"). The session must hand an application message
to the daemon (which journals it) first and store its sequence number after, so a
crash in between brings a resend, which ExecID de-duplication applies once.

The session's store is a real file; what a restart would read is read from that file,
by a second store, at the moment the application handles the message. One session
layer serves both roles, so the harness's acceptor and a NewOrderSingle stand for the
daemon's initiator and a fill: the rule is the same for every application message.
"""

from __future__ import annotations

from pathlib import Path

from gateways.fix.events import AppMessage, SessionEvent
from gateways.fix.settings import SessionSettings
from gateways.fix.store import FileStore, FsyncPolicy
from tests.unit.fix.session_harness import Harness

NOS = b"11=C1\x0121=1\x0138=100\x0140=2\x0144=10.5\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01"


def test_a_report_is_handed_over_before_its_sequence_number_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "session.fixstore"
    h = Harness(
        SessionSettings(sender_comp_id="EXCH", target_comp_id="CLIENT"),
        store=FileStore(path, FsyncPolicy.NEVER),
    )
    on_restart: list[tuple[int, int]] = []

    def daemon(event: SessionEvent) -> None:
        if isinstance(event, AppMessage):
            restarted = FileStore(path, FsyncPolicy.NEVER)  # what kill -9 now would leave
            on_restart.append((event.message.seq_num, restarted.next_target_seq))
            restarted.close()

    h.session.on_event = daemon
    h.send(b"D", NOS)
    assert on_restart == [(2, 2)], "stored as received before the daemon had it: lost on a crash"
    assert h.session.next_target_seq == 3  # and stored once handled
    again = FileStore(path, FsyncPolicy.NEVER)
    assert again.next_target_seq == 3
    again.close()

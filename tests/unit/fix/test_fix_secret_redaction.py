"""Passwords never reach the FIX logs (found by the fix_session fuzz target: a garbled
frame holding a Logon's Password(554) was written to the event log verbatim)."""

from __future__ import annotations

from pathlib import Path

from core.clock import SimClock
from gateways.fix.codec import HeaderEncoder
from gateways.fix.message_log import FileMessageLog, MemoryLog, redact
from gateways.fix.session import FixSession
from gateways.fix.settings import SessionSettings
from gateways.fix.timefmt import format_utc

SECRET = "pw-Never-Logged-77"
T0 = 1_767_623_400_000_000_000


class _Wire:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_garbled_frame_with_a_password_is_logged_without_it() -> None:
    log = MemoryLog()
    session = FixSession(
        SessionSettings(sender_comp_id="EXCH", target_comp_id="CLIENT", password=SECRET),  # type: ignore[arg-type]
        initiator=False,
        clock=SimClock(T0),
        log=log,
    )
    session.connection_made(_Wire())
    frame = HeaderEncoder("FIX.4.4", "CLIENT", "EXCH").encode(
        b"A", 1, format_utc(T0), b"98=0\x01108=30\x01554=" + SECRET.encode() + b"\x01"
    )
    session.data_received(frame.replace(b"35=A", b"35=|5"))  # a field without '='
    assert session.stats.garbled_dropped == 1
    assert log.events and all(SECRET not in e for e in log.events), log.events
    assert any("554=***" in e for e in log.events)


def test_the_message_log_file_holds_no_password(tmp_path: Path) -> None:
    log = FileMessageLog(tmp_path, "S")
    log.incoming(b"8=FIX.4.4\x0135=A\x01553=me\x01554=" + SECRET.encode() + b"\x0110=000\x01")
    log.outgoing(
        b"8=FIX.4.4\x0135=A\x01554=" + SECRET.encode() + b"\x01925=new-" + SECRET.encode() + b"\x01"
    )
    log.close()
    text = log.messages_path.read_text()
    assert SECRET not in text
    assert text.count("554=***") == 2 and "925=***" in text and "553=me" in text


def test_redact_touches_only_password_fields() -> None:
    raw = b"8=FIX.4.4\x0135=A\x011554=keep\x01554=x\x0158=554=text\x01"
    assert redact(raw) == b"8=FIX.4.4\x0135=A\x011554=keep\x01554=***\x0158=554=text\x01"

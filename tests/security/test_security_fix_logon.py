"""FIX logon authentication on the acceptor, over loopback: credentials, CompIDs,
source addresses, and refusals logged without the secret (docs/security.md)."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from core import log as logs
from core.clock import WallClock
from gateways.fix.acceptor import FixAcceptor
from gateways.fix.codec import HeaderEncoder
from gateways.fix.settings import AcceptorSettings, SessionSettings
from gateways.fix.timefmt import format_utc

PASSWORD = "Venue-Pw-7d1f0c"
WRONG = "Guess-Pw-55aa21"


def _acceptor(tmp_path: Path, **session: object) -> FixAcceptor:
    s = SessionSettings(
        sender_comp_id="EXCH",
        target_comp_id="CLIENT",
        username="trader",
        password=PASSWORD,  # type: ignore[arg-type]
        log_dir=tmp_path / "fix-log",
        **session,  # type: ignore[arg-type]
    )
    return FixAcceptor(AcceptorSettings(port=0, sessions=(s,)), clock=WallClock())


def _logon(password: str) -> bytes:
    body = b"98=0\x01108=30\x01553=trader\x01554=" + password.encode() + b"\x01"
    return HeaderEncoder("FIX.4.4", "CLIENT", "EXCH").encode(
        b"A", 1, format_utc(time.time_ns()), body
    )


async def _try_logon(port: int, password: str, source: str = "127.0.0.1") -> bytes:
    """Send a Logon from ``source``; everything the acceptor answered before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(_logon(password))
        await writer.drain()
        out = b""
        while b"35=A\x01" not in out:
            chunk = await asyncio.wait_for(reader.read(4096), 5)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        writer.close()


def _everything_logged(tmp_path: Path, captured: io.StringIO) -> str:
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    return captured.getvalue() + "\n".join(files)


async def test_a_wrong_password_is_refused_and_no_log_holds_either_password(
    tmp_path: Path,
) -> None:
    captured = io.StringIO()
    logs.configure("json", "DEBUG", stream=captured)
    acceptor = _acceptor(tmp_path)
    await acceptor.start()
    try:
        answer = await _try_logon(acceptor.port, WRONG)
        assert b"35=5\x01" in answer and b"password" in answer  # Logout says why
        assert not acceptor.session("FIX.4.4:EXCH->CLIENT").is_logged_on
        answer = await _try_logon(acceptor.port, PASSWORD)
        assert b"35=A\x01" in answer
    finally:
        await acceptor.stop(timeout=0.5)
        logs.configure("console", "WARNING")
    text = _everything_logged(tmp_path, captured)
    assert "bad username or password" in text  # the refusal is logged...
    assert WRONG not in text and PASSWORD not in text  # ...without either secret
    assert "554=***" in text


async def test_a_connection_from_an_address_not_allowed_is_refused_before_its_logon_is_read(
    tmp_path: Path,
) -> None:
    captured = io.StringIO()
    logs.configure("json", "DEBUG", stream=captured)
    acceptor = _acceptor(tmp_path, allowed_hosts=("127.0.0.1/32",))
    await acceptor.start()
    try:
        assert await _try_logon(acceptor.port, PASSWORD, source="127.0.0.2") == b""
        assert acceptor.refused == 1
        assert not acceptor.session("FIX.4.4:EXCH->CLIENT").is_logged_on
        assert b"35=A\x01" in await _try_logon(acceptor.port, PASSWORD, source="127.0.0.1")
    finally:
        await acceptor.stop(timeout=0.5)
        logs.configure("console", "WARNING")
    text = captured.getvalue()
    assert "fix_connection_refused" in text and "127.0.0.2" in text
    assert PASSWORD not in text


async def test_a_session_allowed_elsewhere_is_refused_when_its_logon_comes_from_here(
    tmp_path: Path,
) -> None:
    other = SessionSettings(sender_comp_id="EXCH", target_comp_id="OTHER")
    s = SessionSettings(
        sender_comp_id="EXCH",
        target_comp_id="CLIENT",
        username="trader",
        password=PASSWORD,  # type: ignore[arg-type]
        allowed_hosts=("10.1.2.0/24",),
    )
    acceptor = FixAcceptor(AcceptorSettings(port=0, sessions=(s, other)), clock=WallClock())
    await acceptor.start()
    try:  # 127.0.0.1 may reach OTHER, so the bytes are read; CLIENT's Logon is refused
        assert b"35=A\x01" not in await _try_logon(acceptor.port, PASSWORD)
        assert acceptor.refused == 1
    finally:
        await acceptor.stop(timeout=0.5)


def test_allowed_hosts_must_be_addresses_or_networks() -> None:
    s = SessionSettings(sender_comp_id="EXCH", target_comp_id="CLIENT", allowed_hosts=("nope",))
    with pytest.raises(ValidationError, match="allowed_hosts"):
        AcceptorSettings(sessions=(s,))


@pytest.mark.parametrize("version", ["FIX.4.0", "FIX.4.1", "FIX.4.2"])
def test_credentials_on_a_version_whose_logon_has_none_are_refused_at_load(version: str) -> None:
    with pytest.raises(ValidationError, match="Logon has no tag 554"):
        SessionSettings(
            begin_string=version,  # type: ignore[arg-type]
            sender_comp_id="EXCH",
            target_comp_id="CLIENT",
            password=PASSWORD,  # type: ignore[arg-type]
        )

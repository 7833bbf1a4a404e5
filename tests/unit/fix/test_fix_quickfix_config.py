"""Per-session options in one QuickFIX-style settings file, as counterparties write
them; anything we cannot honour is refused with its line, never silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateways.fix import QuickFixConfigError, load_quickfix_settings

SAMPLE = """\
# venue sessions
[DEFAULT]
ConnectionType=acceptor
SocketAcceptHost=127.0.0.1
SocketAcceptPort=9878
HeartBtInt=30
FileStorePath=/var/lib/venue/store
FileLogPath=/var/log/venue
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
ResetOnLogon=Y

[SESSION]
BeginString=FIX.4.2
SenderCompID=EXCH
TargetCompID=BANK42
ResetOnDisconnect=Y

[SESSION]
BeginString=FIXT.1.1
DefaultApplVerID=9
SenderCompID=EXCH
TargetCompID=FUND50
ResetOnLogon=N
RefreshOnLogon=Y
ValidateUserDefinedFields=N

[SESSION]
ConnectionType=initiator
BeginString=FIX.4.4
SenderCompID=RLX
TargetCompID=BROKER
SocketConnectHost=10.0.0.7
SocketConnectPort=5001
ReconnectInterval=5
ResetOnLogout=Y
MaxOrderResendAge=2.5
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sessions.cfg"
    p.write_text(text)
    return p


def test_a_quickfix_settings_file_becomes_our_settings(tmp_path: Path) -> None:
    cfg = load_quickfix_settings(write(tmp_path, SAMPLE))
    assert cfg.acceptor is not None
    assert (cfg.acceptor.host, cfg.acceptor.port) == ("127.0.0.1", 9878)
    s42, s50 = cfg.acceptor.sessions
    assert (s42.session_id, s42.reset_on_logon, s42.reset_on_disconnect) == (
        "FIX.4.2:EXCH->BANK42",
        True,
        True,
    )
    assert (s42.store_dir, s42.log_dir) == (Path("/var/lib/venue/store"), Path("/var/log/venue"))
    assert (s50.default_appl_ver_id, s50.reset_on_logon, s50.refresh_on_logon) == (
        "FIX.5.0SP2",
        False,
        True,
    )
    assert not s50.validate_user_defined_fields
    (ini,) = cfg.initiators
    assert (ini.host, ini.port, ini.reconnect_min_s, ini.reconnect_max_s) == (
        "10.0.0.7",
        5001,
        5.0,
        30.0,
    )
    assert ini.session.reset_on_logout and ini.session.max_order_resend_age_s == 2.5
    assert ini.session.heartbeat_interval_s == 30  # from [DEFAULT]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("SocketReuseAddress=Y", r":15: SocketReuseAddress: unknown or unsupported key"),
        ("ResetOnLogout=maybe", r":15: ResetOnLogout: expected Y or N"),
        ("UseDataDictionary=N", r":15: UseDataDictionary=N is not supported"),
        ("StartTime=08:00:00", r"session schedules are not supported"),
        ("HeartBtInt=0", r"\[SESSION\] at line 14: .*heartbeat_interval_s"),
        ("[WEIRD]", r":15: unknown section \[WEIRD\]"),
        ("no equals sign", r":15: expected Key=Value"),
    ],
)
def test_what_we_cannot_honour_is_refused_with_its_line(
    tmp_path: Path, change: str, error: str
) -> None:
    lines = SAMPLE.splitlines()
    lines.insert(14, change)  # line 15, inside the first [SESSION]
    with pytest.raises(QuickFixConfigError, match=error):
        load_quickfix_settings(write(tmp_path, "\n".join(lines) + "\n"))


def test_acceptor_sessions_must_share_one_listening_socket(tmp_path: Path) -> None:
    text = SAMPLE.replace("TargetCompID=FUND50", "TargetCompID=FUND50\nSocketAcceptPort=9999")
    with pytest.raises(QuickFixConfigError, match="one SocketAcceptHost/SocketAcceptPort"):
        load_quickfix_settings(write(tmp_path, text))


def test_missing_file_and_missing_sessions_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(QuickFixConfigError, match="cannot read"):
        load_quickfix_settings(tmp_path / "nope.cfg")
    with pytest.raises(QuickFixConfigError, match=r"no \[SESSION\] section"):
        load_quickfix_settings(write(tmp_path, "[DEFAULT]\nConnectionType=acceptor\n"))

"""Settings embed in a config file and refuse what would break a session; the reconnect
backoff doubles, caps and jitters within its bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.config import ConfigError, Section, validate
from gateways.fix import AcceptorSettings, InitiatorSettings, SessionSettings, backoff_delay
from gateways.fix.store import FsyncPolicy


class DaemonLike(Section):
    fix: InitiatorSettings


def test_initiator_settings_embed_in_a_config_section() -> None:
    cfg = validate(
        DaemonLike,
        {
            "fix": {
                "port": 9878,
                "session": {
                    "sender_comp_id": "RLX",
                    "target_comp_id": "EXCH",
                    "password": "hunter2-secret",
                },
            }
        },
        "test.toml",
    )
    s = cfg.fix.session
    assert s.session_id == "FIX.4.4:RLX->EXCH" and s.fsync is FsyncPolicy.ALWAYS
    assert s.password is not None and "hunter2" not in repr(s)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"port": 1, "session": {"sender_comp_id": "A|B", "target_comp_id": "X"}}, "CompID"),
        (
            {
                "port": 1,
                "session": {
                    "sender_comp_id": "A",
                    "target_comp_id": "X",
                    "begin_string": "FIX.5.0",
                },
            },
            "begin_string",
        ),
        (
            {
                "port": 1,
                "session": {"sender_comp_id": "A", "target_comp_id": "X", "fsync": "sometimes"},
            },
            "fsync",
        ),
        (
            {
                "port": 1,
                "reconnect_min_s": 5,
                "reconnect_max_s": 1,
                "session": {"sender_comp_id": "A", "target_comp_id": "X"},
            },
            "reconnect_max_s",
        ),
        (
            {"port": 1, "session": {"sender_comp_id": "A", "target_comp_id": "X", "heartbeat": 30}},
            "unknown key",
        ),
    ],
)
def test_bad_settings_are_named(data: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        validate(DaemonLike, {"fix": data}, "test.toml")


def test_acceptor_refuses_duplicate_sessions() -> None:
    s = {"sender_comp_id": "EXCH", "target_comp_id": "C1"}
    with pytest.raises(ValueError, match="duplicate sessions"):
        AcceptorSettings(sessions=(SessionSettings(**s), SessionSettings(**s)))


@given(st.integers(min_value=0, max_value=200), st.integers())
def test_backoff_is_exponential_capped_and_jittered(attempt: int, seed: int) -> None:
    settings = InitiatorSettings(
        port=1,
        reconnect_min_s=0.5,
        reconnect_max_s=30,
        reconnect_jitter=0.2,
        session=SessionSettings(sender_comp_id="A", target_comp_id="B"),
    )
    base = min(30.0, 0.5 * 2**attempt)
    d = backoff_delay(attempt, settings, random.Random(seed))
    assert base * 0.8 - 1e-9 <= d <= base * 1.2 + 1e-9

"""Configuration errors name the key and the reason; logs carry ids and no secrets."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import log
from core.config import ConfigError, config_hash, env_overrides, load
from daemon.cli import main
from daemon.config import DaemonConfig


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rlexec.toml"
    p.write_text(text)
    return p


def test_embedded_defaults_are_valid() -> None:
    cfg = load(DaemonConfig, None, env={})
    assert cfg.fix.session.begin_string == "FIX.4.4"
    assert cfg.fix.port == 9878
    assert [i.symbol for i in cfg.instruments] == ["AMZN", "AAPL"]


def test_bad_value_names_the_key_reason_and_value(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "[fix]\nport = 70000\n[fix.session]\nsender_comp_id = 'A'\n"
        "target_comp_id = 'B'\nheartbeat_interval_s = 0\n",
    )
    with pytest.raises(ConfigError) as exc:
        load(DaemonConfig, p, env={})
    text = str(exc.value)
    assert "fix.port: Input should be less than 65536 (got 70000)" in text
    assert "fix.session.heartbeat_interval_s: Input should be greater than 0 (got 0)" in text
    assert str(p) in text


def test_unknown_key_is_reported_as_a_probable_typo(tmp_path: Path) -> None:
    p = write(tmp_path, "[execution]\ndecision_intervall_s = 1\n")
    with pytest.raises(ConfigError, match=r"execution.decision_intervall_s: unknown key"):
        load(DaemonConfig, p, env={})


def test_toml_syntax_error_is_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "[fix\nport=1\n")
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load(DaemonConfig, p, env={})


def test_env_overrides_win_and_errors_name_the_variable(tmp_path: Path) -> None:
    p = write(tmp_path, "[fix]\nport = 9000\n")
    cfg = load(
        DaemonConfig, p, env={"RLEXEC__FIX__PORT": "9100", "RLEXEC__LOGGING__FORMAT": "json"}
    )
    assert cfg.fix.port == 9100 and cfg.logging.format == "json"
    with pytest.raises(ConfigError, match=r"fix.port: .* \[from env RLEXEC__FIX__PORT\]"):
        load(DaemonConfig, p, env={"RLEXEC__FIX__PORT": "-1"})


def test_an_unknown_section_from_the_environment_says_it_came_from_there(
    tmp_path: Path,
) -> None:
    p = write(tmp_path, "[fix]\nport = 9000\n")
    env = {"RLEXEC__PACING__SPEED": "5", "RLEXEC__PACING__MODE": "asap"}
    with pytest.raises(ConfigError) as info:
        load(DaemonConfig, p, env=env)
    assert info.value.problems == [
        "pacing: unknown key (typo? not a setting of this section) "
        "[from env RLEXEC__PACING__MODE, RLEXEC__PACING__SPEED]"
    ]
    # a whole array from the environment: an error inside it names the variable too
    env = {"RLEXEC__INSTRUMENTS": '[{symbol = "X", tick_size = "-1"}]'}
    with pytest.raises(
        ConfigError, match=r"instruments.0.tick_size: .*\[from env RLEXEC__INSTRUMENTS\]"
    ):
        load(DaemonConfig, p, env=env)
    # and a key the file set is not blamed on the environment
    bad = write(tmp_path, "[pacing]\nspeed = 5\n")
    with pytest.raises(ConfigError) as info:
        load(DaemonConfig, bad, env={"RLEXEC__FIX__PORT": "9100"})
    assert "from env" not in str(info.value)


def test_duplicate_instruments_are_refused(tmp_path: Path) -> None:
    p = write(tmp_path, '[[instruments]]\nsymbol = "X"\n[[instruments]]\nsymbol = "X"\n')
    with pytest.raises(ConfigError, match="listed twice: X"):
        load(DaemonConfig, p, env={})


def test_config_hash_is_stable_and_sensitive() -> None:
    a = load(DaemonConfig, None, env={})
    b = load(DaemonConfig, None, env={})
    c = load(DaemonConfig, None, env={"RLEXEC__FIX__PORT": "1234"})
    assert config_hash(a) == config_hash(b) != config_hash(c)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=6))
def test_arbitrary_environment_never_crashes_the_loader(env: dict[str, str]) -> None:
    env = {f"RLEXEC__{k}": v for k, v in env.items()}
    env_overrides(env)
    try:
        load(DaemonConfig, None, env=env)
    except ConfigError as exc:
        assert exc.problems


def test_cli_config_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "[node]\nid = 'n1'\n")
    assert main(["config", "check", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[node]\nid = 'has space'\n")
    assert main(["config", "check", str(bad)]) == 2
    assert "node.id" in capsys.readouterr().err


def test_cli_config_check_tells_the_exchange_s_config_from_the_daemon_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange = write(tmp_path, '[pacing]\nmode = "asap"\n')
    assert main(["config", "check", str(exchange)]) == 0
    assert "OK as the exchange's config" in capsys.readouterr().out
    assert main(["config", "check", "--kind", "daemon", str(exchange)]) == 2
    assert "pacing: unknown key" in capsys.readouterr().err
    both = write(tmp_path, "[pacing]\n[node]\n")
    assert main(["config", "check", str(both)]) == 2
    assert "has daemon sections (node) and exchange sections (pacing)" in capsys.readouterr().err
    missing = write(tmp_path, '[[source.lobster]]\nticker = "MSFT"\n')
    assert main(["config", "check", str(missing)]) == 2
    assert "source.lobster.0 (MSFT): no single LOBSTER day for MSFT" in capsys.readouterr().err


def test_json_logs_carry_bound_ids_and_redact_secrets() -> None:
    buf = io.StringIO()
    log.configure("json", "INFO", stream=buf)
    logger = log.get_logger("t")
    with log.bound(parent_id="P1", cl_ord_id="C9"):
        logger.info("child_sent", qty=10, password="hunter2")
    logger.info("outside")
    first, second = (orjson.loads(line) for line in buf.getvalue().splitlines())
    assert first["parent_id"] == "P1" and first["cl_ord_id"] == "C9"
    assert first["password"] == "***"
    assert first["event"] == "child_sent" and first["level"] == "info"
    assert "parent_id" not in second
    log.configure("console", "INFO", stream=io.StringIO())


def test_one_fix_session_override_keeps_the_other_session_defaults() -> None:
    cfg = load(DaemonConfig, None, env={"RLEXEC__FIX__SESSION__FSYNC": "never"})
    assert cfg.fix.session.fsync == "never"
    assert (cfg.fix.session.sender_comp_id, cfg.fix.session.target_comp_id) == (
        "RLEXEC",
        "EXCHANGE",
    )

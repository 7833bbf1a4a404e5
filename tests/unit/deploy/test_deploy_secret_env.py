"""rlexec-secret-env: secrets from files reach the config loader exactly, and nothing leaks.

Run both in-process (the pure functions) and as the real executable in a subprocess
(exec, exit codes, messages), and through core.config, the loader the daemon uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_tree import REPO, load_module
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import env_overrides, load
from daemon.config import DaemonConfig

SCRIPT = REPO / "deploy/bin/secret_env.py"
secret_env = load_module("rlexec_secret_env_under_test", SCRIPT)


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RLEXEC__")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# Secrets as people write them: any text, but no surrogates (not encodable) and not
# only newlines (a file with nothing but a newline is empty).
secrets_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80
).filter(lambda s: s.rstrip("\n") != "")


@settings(max_examples=150, deadline=None)
@given(secrets_text)
def test_any_secret_survives_the_config_loader_exactly(secret: str) -> None:
    quoted = secret_env.toml_string(secret.rstrip("\n"))
    over, origin = env_overrides({"RLEXEC__REDIS__PASSWORD": quoted})
    assert over == {"redis": {"password": secret.rstrip("\n")}}
    assert origin == {"redis.password": "RLEXEC__REDIS__PASSWORD"}


@pytest.mark.parametrize(
    "secret", ["12345", "true", "1979-05-27", "inf", "[1, 2]", '"quoted"', "a\\b"]
)
def test_values_toml_would_retype_stay_strings(tmp_path: Path, secret: str) -> None:
    # Unquoted, these would reach pydantic as an int, a bool, a date, a float, a list...
    f = tmp_path / "pw"
    f.write_text(secret + "\n")
    env = {"RLEXEC__REDIS__PASSWORD__FILE": str(f)}
    secret_env.resolve(env)
    cfg = load(DaemonConfig, None, env=env)
    assert cfg.redis.password.get_secret_value() == secret


def test_resolve_replaces_file_variables_and_leaves_others(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n\n")
    env = {
        "RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "pw"),
        "RLEXEC__CONTROL__HMAC_KEY_FILE": "/run/credentials/key",  # a real *_file setting
        "RLEXEC__FIX__HOST": "venue",
        "OTHER__FILE": "/x",
    }
    done = secret_env.resolve(env)
    assert done == {"RLEXEC__REDIS__PASSWORD": "s3cret"}
    assert env == {
        "RLEXEC__REDIS__PASSWORD": '"s3cret"',
        "RLEXEC__CONTROL__HMAC_KEY_FILE": "/run/credentials/key",
        "RLEXEC__FIX__HOST": "venue",
        "OTHER__FILE": "/x",
    }


def test_the_command_replaces_the_wrapper_in_the_same_process(tmp_path: Path) -> None:
    # systemd Type=notify only accepts notifications from the main PID: exec, not fork.
    (tmp_path / "pw").write_text("hunter2\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "sh",
            "-c",
            'echo "$$ $RLEXEC__REDIS__PASSWORD ${RLEXEC__REDIS__PASSWORD__FILE-unset}"',
        ],
        env={"PATH": os.environ["PATH"], "RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "pw")},
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=30)
    pid, value, file_var = out.split()
    assert int(pid) == proc.pid
    assert value == '"hunter2"'
    assert file_var == "unset"


def test_the_daemon_cli_accepts_what_the_wrapper_produces(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text('pa ss"word\n')
    rlexec = Path(sys.executable).with_name("rlexec")
    res = _run(
        [str(rlexec), "config", "check", str(REPO / "deploy/examples/rlexec.toml")],
        {"RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "pw")},
    )
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout


def test_missing_file_is_a_config_error_naming_variable_and_path(tmp_path: Path) -> None:
    res = _run(["true"], {"RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "nope")})
    assert res.returncode == 78
    assert f"RLEXEC__REDIS__PASSWORD__FILE={tmp_path / 'nope'}: cannot read" in res.stderr


def test_empty_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("\n")
    res = _run(["true"], {"RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "pw")})
    assert res.returncode == 78
    assert "file is empty" in res.stderr


def test_non_utf8_file_is_a_config_error_without_echoing_it(tmp_path: Path) -> None:
    (tmp_path / "pw").write_bytes(b"\xffsecret-bytes\xfe")
    res = _run(["true"], {"RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "pw")})
    assert res.returncode == 78
    assert "not UTF-8" in res.stderr
    assert "secret-bytes" not in res.stderr


def test_setting_both_forms_is_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("a")
    res = _run(
        ["true"],
        {"RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "pw"), "RLEXEC__REDIS__PASSWORD": "b"},
    )
    assert res.returncode == 78
    assert "RLEXEC__REDIS__PASSWORD is also set" in res.stderr


def test_file_variable_naming_no_setting_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("a")
    res = _run(["true"], {"RLEXEC____FILE": str(tmp_path / "pw")})
    assert res.returncode == 78
    assert "names no setting" in res.stderr


def test_usage_and_missing_command() -> None:
    assert _run([], {}).returncode == 64
    res = _run(["/nonexistent/rlexec"], {})
    assert res.returncode == 127
    assert "cannot run /nonexistent/rlexec" in res.stderr


def test_secret_never_appears_in_error_output(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("do-not-print-me")
    res = _run(["/nonexistent/rlexec"], {"RLEXEC__REDIS__PASSWORD__FILE": str(tmp_path / "pw")})
    assert "do-not-print-me" not in res.stderr + res.stdout

"""The systemd check: verify, security, our unit rules and the units' config, shown failing.

Also the installer itself: what it creates, with which permissions, and that it never
overwrites a config or a secret.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from deploy_tree import REPO, Tree

UNIT = "deploy/systemd/rlexec.service"
EXCHANGE_UNIT = "deploy/systemd/rlexec-exchange.service"


def test_a_misspelt_directive_fails_verify(tree: Tree) -> None:
    # systemd-analyze verify only warns (exit 0) on unknown keys; the check must not.
    tree.replace(UNIT, "ProtectKernelLogs=yes", "ProtectKernelLog=yes")
    result = tree.check("systemd")
    assert not result.passed
    assert "Unknown key 'ProtectKernelLog'" in result.output
    assert "systemd-analyze verify reported problems" in result.output


def test_a_bad_value_fails_verify(tree: Tree) -> None:
    tree.replace(UNIT, "RestrictAddressFamilies=AF_UNIX", "RestrictAddressFamilies=AF_UNIXX")
    result = tree.check("systemd")
    assert not result.passed
    assert "AF_UNIXX" in result.output


def test_a_missing_exec_binary_fails_verify(tree: Tree) -> None:
    tree.replace(
        EXCHANGE_UNIT, "ExecStart=/opt/rlexec/.venv/bin/rlexec", "ExecStart=/opt/rlexec/bin/rlexec"
    )
    result = tree.check("systemd")
    assert not result.passed
    assert "/opt/rlexec/bin/rlexec" in result.output


def test_dropping_hardening_fails(tree: Tree) -> None:
    tree.replace(UNIT, "NoNewPrivileges=yes\n", "")
    tree.replace(UNIT, "ProtectSystem=strict", "ProtectSystem=full")
    result = tree.check("systemd")
    assert not result.passed
    assert "rlexec.service: NoNewPrivileges=yes expected" in result.output
    assert "rlexec.service: ProtectSystem=strict expected (got 'full')" in result.output


def test_losing_most_hardening_fails_the_exposure_threshold(tree: Tree) -> None:
    text = tree.read(UNIT)
    start = text.index("# Hardening.")
    end = text.index("[Install]")
    tree.write(UNIT, text[:start] + text[end:])
    result = tree.check("systemd")
    assert not result.passed
    assert "exposure above" in result.output


def test_the_daemon_must_notify_and_have_a_watchdog(tree: Tree) -> None:
    tree.replace(UNIT, "\nType=notify\n", "\nType=simple\n")
    tree.replace(UNIT, "WatchdogSec=10s\n", "")
    result = tree.check("systemd")
    assert not result.passed
    assert "Type=notify expected" in result.output
    assert "WatchdogSec must be set" in result.output


def test_the_journal_must_be_writable(tree: Tree) -> None:
    tree.replace(UNIT, "ReadWritePaths=/var/lib/rlexec", "ReadWritePaths=/var/lib/rlexec/tmp")
    result = tree.check("systemd")
    assert not result.passed
    assert (
        "writes /var/lib/rlexec but ReadWritePaths=/var/lib/rlexec/tmp does not cover it"
        in result.output
    )


def test_the_exchange_state_must_be_writable(tree: Tree) -> None:
    tree.replace(
        "deploy/examples/exchange.toml",
        'path = "/var/lib/rlexec-exchange/audit.jsonl"',
        'path = "/var/log/exchange-audit.jsonl"',
    )
    result = tree.check("systemd")
    assert not result.passed
    assert "writes /var/log/exchange-audit.jsonl" in result.output


def test_an_unknown_setting_in_the_unit_environment_is_named(tree: Tree) -> None:
    tree.replace(
        UNIT, "Environment=RLEXEC__LOGGING__FORMAT=json", "Environment=RLEXEC__LOGGING__FROMAT=json"
    )
    result = tree.check("systemd")
    assert not result.passed
    assert "logging.fromat: unknown key" in result.output


def test_a_secret_must_come_from_a_credential(tree: Tree) -> None:
    tree.replace(
        UNIT,
        "RLEXEC__REDIS__PASSWORD__FILE=%d/redis-password",
        "RLEXEC__REDIS__PASSWORD__FILE=/etc/rlexec/redis-password",
    )
    result = tree.check("systemd")
    assert not result.passed
    assert "must name a LoadCredential= credential" in result.output


def test_the_user_must_come_from_sysusers(tree: Tree) -> None:
    tree.replace("deploy/systemd/rlexec.sysusers", "u rlexec ", "u rlexec-svc ")
    result = tree.check("systemd")
    assert not result.passed
    assert "user rlexec is not created by" in result.output


# ------------------------------------------------------------------ install.sh


def _install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(REPO / "deploy/systemd/install.sh"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_install_creates_the_layout_with_private_credentials(tmp_path: Path) -> None:
    res = _install(tmp_path, "--with-exchange")
    assert res.returncode == 0, res.stderr
    for rel in (
        "etc/systemd/system/rlexec.service",
        "etc/systemd/system/rlexec-exchange.service",
        "usr/lib/sysusers.d/rlexec.conf",
        "opt/rlexec/bin/rlexec-secret-env",
        "opt/rlexec/docs/operations.md",
        "etc/rlexec/rlexec.toml",
        "etc/rlexec/exchange.toml",
    ):
        assert (tmp_path / rel).is_file(), rel
    wrapper = tmp_path / "opt/rlexec/bin/rlexec-secret-env"
    assert wrapper.read_text().startswith("#!/opt/rlexec/.venv/bin/python\n")
    assert wrapper.stat().st_mode & stat.S_IXUSR
    creds = tmp_path / "etc/rlexec/credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    for name in ("redis-password", "command-hmac-key"):
        f = creds / name
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert len(f.read_text()) == 64 and int(f.read_text(), 16) >= 0
    assert (creds / "redis-password").read_text() != (creds / "command-hmac-key").read_text()
    assert "rlexec:x:" in (tmp_path / "etc/passwd").read_text()


def test_install_never_overwrites_config_or_secrets(tmp_path: Path) -> None:
    assert _install(tmp_path).returncode == 0
    cfg = tmp_path / "etc/rlexec/rlexec.toml"
    cred = tmp_path / "etc/rlexec/credentials/redis-password"
    cfg.write_text("# edited by the operator\n")
    before = cred.read_text()
    res = _install(tmp_path)
    assert res.returncode == 0, res.stderr
    assert cfg.read_text() == "# edited by the operator\n"
    assert cred.read_text() == before
    assert "generated" not in res.stdout
    assert not (tmp_path / "etc/systemd/system/rlexec-exchange.service").exists()


def test_install_refuses_unknown_arguments(tmp_path: Path) -> None:
    res = _install(tmp_path, "--with-exchnage")
    assert res.returncode == 64
    assert "unknown argument: --with-exchnage" in res.stderr

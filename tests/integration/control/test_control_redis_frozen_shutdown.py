"""Stopping the control plane is bounded, whatever Redis does (issue 13, the 30 s Redis
freeze of the full drills: after SIGTERM the daemon logged ``node_stopping`` and
``redis_down``, then waited until it was killed).

The cause was a cancellation lost in ``asyncio.wait_for`` (Python 3.11): when the
awaited future completes in the same loop turn as the cancel (the outbox woken by a
posted event just as the node stops), ``wait_for`` returns its result and the cancel
is gone, so the outbox writer loops on and the node waits for it forever. The race is
driven here deterministically: an event is posted, the loop is let run 0..5 turns, then
the plane is stopped as the node stops it, against a real redis-server frozen with
SIGSTOP (every write hanging until its timeout)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from daemon.control.redis_plane import RedisControlPlane, RedisPlaneSettings
from tests.conftest import RedisServer
from tests.integration.daemon.daemon_venue import eventually

BOUND_S = 3.0  # far above the plane's 1 s I/O timeout; a lost cancel waits forever


async def _nothing(_cmd: object) -> dict[str, object]:
    return {}


@pytest.mark.parametrize("turns", range(6))
async def test_a_plane_stopped_while_redis_is_frozen_ends_within_its_bound(
    redis_server: RedisServer, turns: int
) -> None:
    plane = RedisControlPlane(
        RedisPlaneSettings(url=redis_server.url, consumer="t", io_timeout_s=0.3),
        _nothing,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(plane.run())
    await eventually(lambda: plane.up, what="redis up")
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        plane.post_state({"status": "before the freeze"})
        await eventually(lambda: plane.outbox.failing, what="a write timed out", timeout=5)
        plane.post_event({"event": "node_stopping"})  # wakes the outbox writer
        for _ in range(turns):
            await asyncio.sleep(0)
        t0 = time.monotonic()
        plane.stop()
        task.cancel()  # as Node.stop does
        done, _ = await asyncio.wait({task}, timeout=BOUND_S)
        assert done, f"control plane still running {BOUND_S} s after stop (turns={turns})"
        assert time.monotonic() - t0 < BOUND_S
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
        if not task.done():
            plane.stop()
            task.cancel()
            await asyncio.wait({task}, timeout=10)

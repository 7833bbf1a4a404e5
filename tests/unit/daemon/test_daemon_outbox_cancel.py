"""The Redis writer ends when cancelled even if a Redis call absorbs the cancel.

A client library that catches ``CancelledError`` while it tears down a connection and
returns normally (which real Redis cannot be made to do on demand, so a stand-in client
plays it here) used to leave the writer looping: the plane's stop then waited on it
forever (a CI run: 5 s, then the test's bound)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from daemon.control.outbox import RedisOutbox


class AbsorbsOneCancel:
    """hset blocks until cancelled, then swallows that cancel and returns."""

    def __init__(self) -> None:
        self.inside = asyncio.Event()
        self.absorbed = 0

    async def hset(self, key: str, mapping: dict[str, Any]) -> int:
        self.inside.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.absorbed += 1
        return 1

    async def ping(self) -> bool:
        return True

    async def publish(self, channel: str, data: bytes) -> int:
        return 0


@pytest.mark.asyncio
async def test_a_writer_whose_redis_call_absorbed_the_cancel_still_stops() -> None:
    box = RedisOutbox("state", "events", io_timeout_s=60, ping_interval_s=0.05)
    conn = AbsorbsOneCancel()
    writer = asyncio.create_task(box.run(lambda: conn))  # type: ignore[arg-type, return-value]
    box.post_state({"parents": 0})
    await asyncio.wait_for(conn.inside.wait(), 1)
    writer.cancel()
    done, _ = await asyncio.wait({writer}, timeout=1)
    assert done == {writer} and writer.cancelled()
    assert conn.absorbed == 1

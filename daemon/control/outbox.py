"""What the node tells Redis (state snapshot, events, liveness), written by its own task.

Nothing on the trading path, the watchdog or the uncertain-order check may wait on the
control plane: a Redis that hangs (SIGSTOP, a full network buffer, a failover) must
not delay a cancel or starve systemd's watchdog. So the node only *posts* here, which
never blocks: the latest state snapshot replaces the previous one, events queue up to
a bound (the oldest dropped and counted beyond it), and one task writes them out,
each Redis call under its own timeout (``asyncio.timeout``, never ``asyncio.wait_for``:
on Python 3.11 that returns the result and drops a cancel arriving in the same loop turn
as the result, and the writer would outlive the node's shutdown). The same task pings Redis when it has nothing
to write, so "is Redis reachable" is a value the node reads, not a call it awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.log import get_logger

log = get_logger("rlexec.control.redis")


class RedisOutbox:
    def __init__(
        self,
        state_key: str,
        events_channel: str,
        *,
        io_timeout_s: float = 1.0,
        backlog: int = 1_000,
        ping_interval_s: float = 1.0,
    ) -> None:
        if not io_timeout_s > 0 or backlog < 1 or not ping_interval_s > 0:
            raise ValueError("io_timeout_s and ping_interval_s must be > 0, backlog >= 1")
        self.state_key = state_key
        self.events_channel = events_channel
        self.io_timeout_s = io_timeout_s
        self.ping_interval_s = ping_interval_s
        self._state: dict[str, Any] | None = None
        self._events: deque[dict[str, Any]] = deque(maxlen=backlog)
        self._wake = asyncio.Event()
        self.events_dropped = 0
        self.failures = 0
        self.failing = False  # the last Redis call failed or timed out
        self.last_ok_ns = 0  # monotonic time of the last Redis call that succeeded

    # ------------------------------------------------------------ the node's side
    def post_state(self, state: dict[str, Any]) -> None:
        """The state snapshot to write next (replaces one not yet written)."""
        self._state = state
        self._wake.set()

    def post_event(self, event: dict[str, Any]) -> None:
        """An event to publish (best effort: beyond the backlog the oldest is dropped)."""
        if len(self._events) == self._events.maxlen:
            self.events_dropped += 1
        self._events.append(event)
        self._wake.set()

    def reachable(self, within_s: float) -> bool:
        """Whether the last Redis call succeeded, within the last ``within_s`` seconds."""
        if self.failing or not self.last_ok_ns:
            return False
        return time.monotonic_ns() - self.last_ok_ns <= within_s * 1e9

    # ------------------------------------------------------------ the writer task
    async def run(self, client: Callable[[], aioredis.Redis | None]) -> None:
        """Write what is posted through whatever client is connected now, until cancelled.

        A cancel that a Redis call absorbed (a client library may catch it while it
        tears a connection down) still ends the loop at the next round: the writer has
        no cleanup to protect, and a writer that outlives its cancel hangs the node's
        shutdown on ``cancel_and_wait`` (a CI run of the Redis-restart test stopped so:
        the plane's stop waited 5 s on a writer back at its ping wait)."""
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                raise asyncio.CancelledError
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ping_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            conn = client()
            if conn is None:
                continue
            try:
                await self._flush(conn)
            except TypeError as exc:  # a snapshot or event orjson cannot write: a bug
                log.error("redis_write_unserialisable", error=repr(exc))
                continue
            except (TimeoutError, OSError, RedisError) as exc:
                self.failures += 1
                if not self.failing:
                    log.warning("redis_write_failed", error=repr(exc), timeout_s=self.io_timeout_s)
                self.failing = True
                continue
            self.failing = False
            self.last_ok_ns = time.monotonic_ns()

    async def _flush(self, conn: aioredis.Redis) -> None:
        wrote = False
        state = self._state
        if state is not None:
            self._state = None
            try:
                write = conn.hset(
                    self.state_key, mapping={k: orjson.dumps(v) for k, v in state.items()}
                )
                async with asyncio.timeout(self.io_timeout_s):
                    await write
            except (TimeoutError, OSError, RedisError):
                if self._state is None:
                    self._state = state  # not lost: the next round tries again
                raise
            wrote = True
        while self._events:
            event = self._events.popleft()
            try:
                async with asyncio.timeout(self.io_timeout_s):
                    await conn.publish(self.events_channel, orjson.dumps(event))
            except (TimeoutError, OSError, RedisError):
                self._events.appendleft(event)  # not lost: the next round tries again
                raise
            wrote = True
        if not wrote:
            async with asyncio.timeout(self.io_timeout_s):
                await conn.ping()

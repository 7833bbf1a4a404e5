"""A step run every few real seconds on a task of its own, until stopped.

The posture's assessments, the decision recorder's flushes and the monitoring export
each run this way. The interval is the event loop's monotonic clock, whatever pace the
market keeps (a lock-stepped clock stands still between steps). A step that raises is
logged and the cadence goes on: one bad step must not silently end the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from core.log import get_logger
from core.tasks import cancel_and_wait

log = get_logger("rlexec.node")


class Periodic:
    def __init__(self, name: str, interval_s: float, step: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.interval_s = interval_s
        self._step = step
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.critical("periodic_step_failed", task=self.name, error=repr(exc))

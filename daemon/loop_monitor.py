"""Event-loop lag: how late a periodic wake-up runs is how late every order would be.

A blocked loop delays market data, decisions and FIX heartbeats alike; measuring it
directly (scheduled vs actual wake-up) is the one number that says the node is keeping
up. It feeds the ``rlexec_event_loop_lag_seconds`` gauge and the systemd watchdog:
the watchdog is only petted while lag stays under its bound, so a wedged loop gets the
process restarted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from core.tasks import cancel_and_wait


class LoopMonitor:
    def __init__(
        self,
        interval_s: float = 0.25,
        on_sample: Callable[[float], None] | None = None,
    ) -> None:
        self.interval_s = interval_s
        self.last_lag_s = 0.0
        self.max_lag_s = 0.0
        self._on_sample = on_sample
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            lag = max(0.0, time.perf_counter() - t0 - self.interval_s)
            self.last_lag_s = lag
            self.max_lag_s = max(self.max_lag_s, lag)
            if self._on_sample is not None:
                self._on_sample(lag)

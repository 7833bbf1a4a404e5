"""Keep the event loop from sleeping: lower latency, at the price of a whole core.

An idle loop sleeps in epoll between market-data frames. Its core then idles or runs
other work, and the next frame's decision runs through cold caches: on the build VM
the policy took ~108 us right after such a sleep and ~22 us when asked again at once.
A task that does nothing but yield keeps the loop polling with a zero timeout, so the
process stays on its core, and stays warm. Trading hosts pair this with a core of its
own (``CPUAffinity=``, ``isolcpus=``); on shared cores it slows whatever it shares with.
Off by default (``[node] busy_poll``).
"""

from __future__ import annotations

import asyncio

from core.tasks import cancel_and_wait


class BusyPoll:
    def __init__(self) -> None:
        self.spins = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="busy-poll")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            self.spins += 1
            await asyncio.sleep(0)  # a ready task: the loop polls I/O with a zero timeout

"""Stopping a background task (core.tasks.cancel_and_wait): it waits for the task to
finish, absorbs the task's own cancellation, and never swallows the caller's.

The last is the fault the usual ``cancel(); suppress(CancelledError): await`` idiom
has: a stop bound by ``asyncio.timeout`` whose task takes longer to unwind than the
bound returned normally, the timeout lost. ``test_a_bounded_stop_of_a_slow_periodic_
step_times_out`` fails on daemon.periodic's old stop, which used that idiom."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from core.tasks import cancel_and_wait
from daemon.loop_monitor import LoopMonitor
from daemon.periodic import Periodic


async def _slow_to_unwind(unwound: list[str], cleanup_s: float = 0.5) -> None:
    """A loop whose cleanup on cancel takes ``cleanup_s`` (a flush, a cancel on the wire)."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(cleanup_s)
        unwound.append("done")
        raise


async def _fails(exc: Exception) -> None:
    raise exc


@pytest.mark.asyncio
async def test_stop_returns_only_once_the_task_has_finished_its_cleanup() -> None:
    unwound: list[str] = []
    task = asyncio.create_task(_slow_to_unwind(unwound, cleanup_s=0.05))
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert unwound == ["done"]
    assert task.done() and task.cancelled()


@pytest.mark.asyncio
async def test_nothing_to_stop_and_an_already_finished_task_are_fine() -> None:
    await cancel_and_wait(None)
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await cancel_and_wait(task)


@pytest.mark.asyncio
async def test_a_cancel_of_the_caller_is_raised_not_swallowed() -> None:
    unwound: list[str] = []
    task = asyncio.create_task(_slow_to_unwind(unwound))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await cancel_and_wait(task)
    assert task.done()  # the caller's cancel reached the task too: it did not linger


@pytest.mark.asyncio
async def test_the_usual_idiom_swallows_the_callers_cancel() -> None:
    """Why this module exists: the same stop written as the idiom loses the timeout."""
    unwound: list[str] = []
    task = asyncio.create_task(_slow_to_unwind(unwound))
    await asyncio.sleep(0)
    async with asyncio.timeout(0.05):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # no TimeoutError: the caller carried on as if it had never been cancelled


@pytest.mark.asyncio
async def test_a_caller_already_cancelled_finishes_its_cleanup() -> None:
    """Stopping tasks in the ``finally`` of a cancelled caller (a venue shutting down on
    SIGTERM): every stop in the cleanup runs, then the caller's cancel goes on."""
    first: list[str] = []
    second: list[str] = []
    cleaned: list[str] = []

    async def caller() -> None:
        a = asyncio.create_task(_slow_to_unwind(first, cleanup_s=0.01))
        b = asyncio.create_task(_slow_to_unwind(second, cleanup_s=0.01))
        try:
            await asyncio.sleep(3600)
        finally:
            await cancel_and_wait(a)
            await cancel_and_wait(b)
            cleaned.append("all")

    outer = asyncio.create_task(caller())
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert first == second == ["done"]
    assert cleaned == ["all"]


@pytest.mark.asyncio
async def test_a_task_that_failed_raises_its_error_unless_told_to_drop_it() -> None:
    failed = asyncio.create_task(_fails(RuntimeError("feed lost")))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="feed lost"):
        await cancel_and_wait(failed)
    dropped = asyncio.create_task(_fails(RuntimeError("feed lost")))
    await asyncio.sleep(0)
    await cancel_and_wait(dropped, task_errors=False)


@pytest.mark.asyncio
async def test_a_bounded_stop_of_a_slow_periodic_step_times_out() -> None:
    unwound: list[str] = []
    periodic = Periodic("slow-flush", 0.0, lambda: _slow_to_unwind(unwound))
    periodic.start()
    await asyncio.sleep(0.01)  # inside the step
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await periodic.stop()


@pytest.mark.asyncio
async def test_the_loop_monitor_stops_and_can_start_again() -> None:
    monitor = LoopMonitor(interval_s=0.001)
    monitor.start()
    await asyncio.sleep(0.01)
    await monitor.stop()
    await monitor.stop()  # twice is fine
    monitor.start()
    await asyncio.sleep(0.005)
    await monitor.stop()

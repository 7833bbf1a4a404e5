"""Stopping a background task: cancel it, wait until it has really finished, and never
swallow a cancellation aimed at the one who is stopping it.

Every long-lived loop in the node and the venue (a parent's runner, the loop monitor,
the busy poller, the periodic steps, a FIX session's reader, a market-data client) is
stopped the same way. Waiting matters: a stopped runner that is still unwinding could
act after ``stop()`` returned. The second half is the subtle one. The usual idiom,
``task.cancel(); with suppress(CancelledError): await task``, also swallows a cancel of
the *caller* that lands while it waits (a shutdown bound by ``asyncio.timeout``, a
supervisor cancelling the shutdown): the caller then carries on as if never cancelled,
and the timeout that guarded it is silently lost (``tests/unit/core/test_core_tasks.py``
shows it on the idiom). Here the task's own cancellation is absorbed and the caller's is
re-raised, told apart by :meth:`asyncio.Task.cancelling` (a cancel request of the caller
that arrived while it waited).
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any] | None, *, task_errors: bool = True) -> None:
    """Cancel ``task`` (if any) and return once it has finished.

    ``task_errors``: an exception the task itself ended with is raised here (True) or
    dropped (False: for a loop whose fatal error already reached whoever watched it).
    A cancellation of the caller is always raised."""
    if task is None:
        return
    me = asyncio.current_task()
    # a caller already being cancelled (stopping things in its ``finally``) must finish
    # that cleanup: only a cancel that lands while we wait is the caller's to raise
    pending = me.cancelling() if me is not None else 0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if me is not None and me.cancelling() > pending:
            raise
    except Exception:
        if task_errors:
            raise

"""Shared helpers for the market-data tests (real sockets on 127.0.0.1, no mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

Eventually = Callable[..., Awaitable[None]]


async def _eventually(cond: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Wait (real time) until ``cond()`` holds; the network needs real time to move."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.005)


@pytest.fixture
def eventually() -> Eventually:
    return _eventually

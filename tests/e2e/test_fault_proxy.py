"""The drills' fault proxy over real TCP on 127.0.0.1: an echo server behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from daemon.fault_proxy import DOWN, UP, FaultProxy


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(4096):
            w.write(data)
            await w.drain()
        w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


async def _proxy(port: int) -> tuple[FaultProxy, list[tuple[str, bytes]]]:
    seen: list[tuple[str, bytes]] = []
    proxy = FaultProxy("127.0.0.1", port, tap=lambda d, data, t: seen.append((d, data)))
    await proxy.start()
    return proxy, seen


async def test_latency_delays_the_way_back_and_keeps_the_order(echo_port: int) -> None:
    proxy, seen = await _proxy(echo_port)
    proxy.set_latency(down_s=0.2)
    r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        t0 = time.monotonic()
        for i in range(5):
            w.write(b"%d;" % i)
            await w.drain()
        got = b""
        while len(got) < 10:
            got += await asyncio.wait_for(r.read(100), 5)
        assert got == b"0;1;2;3;4;"
        assert time.monotonic() - t0 >= 0.2
        assert b"".join(d for direction, d in seen if direction == UP) == got
        assert b"".join(d for direction, d in seen if direction == DOWN) == got
    finally:
        w.close()
        await proxy.stop()


async def test_a_blackhole_holds_everything_until_healed_or_cut(echo_port: int) -> None:
    proxy, _ = await _proxy(echo_port)
    r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        proxy.blackhole()
        w.write(b"held")
        await w.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(r.read(100), 0.3)  # connected, silent
        proxy.heal()
        assert await asyncio.wait_for(r.read(100), 5) == b"held"
        proxy.blackhole()
        w.write(b"lost")
        await w.drain()
        await asyncio.sleep(0.1)
        proxy.cut()
        assert await asyncio.wait_for(r.read(100), 5) == b""  # closed, nothing delivered
        assert proxy.stats.dropped_bytes == 4 and proxy.stats.cut == 1
    finally:
        w.close()
        await proxy.stop()


async def test_refused_connections_are_closed_at_once(echo_port: int) -> None:
    proxy, _ = await _proxy(echo_port)
    proxy.refuse()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", proxy.port)
        assert await asyncio.wait_for(r.read(100), 5) == b""
        w.close()
        assert proxy.stats.refused == 1
    finally:
        await proxy.stop()

"""Faults between two processes on loopback: a TCP proxy and a market-data relay.

The drills (``bench/drills.py``) and the end-to-end tests put these between the daemon
and the exchange to make the network misbehave the way real ones do, without touching
either process:

- :class:`FaultProxy` forwards TCP both ways (the FIX link) and can add **latency**
  per direction (every chunk delivered ``delay`` after it was read, order kept), go
  **blackhole** (a silent partition: both ends stay connected, nothing gets through,
  bytes are held as a real network's retransmissions would be), **heal** (release what
  was held), **cut** (close every connection, dropping what was held) and **refuse**
  new connections. A ``tap`` sees every chunk stamped with the monotonic clock:
  client -> server when the client *sent* it (read by the proxy, whatever happens to it
  next), server -> client when it was *delivered* to the client, so a checker knows
  what the client (the daemon) had done and had heard at any moment;
- :class:`MarketDataRelay` relays the market-data websocket message by message and can
  **drop** messages (a sequence gap) or **inject** bad frames.

Both run on the caller's asyncio loop; :class:`FaultThread` runs them on a loop of its
own for synchronous callers (the drills). Time guarding everything here is the
monotonic wall clock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from core.tasks import cancel_and_wait

T = TypeVar("T")

UP = "up"  # client -> server (daemon -> exchange)
DOWN = "down"  # server -> client (exchange -> daemon)
Tap = Callable[[str, bytes, float], None]


@dataclass(slots=True)
class ProxyStats:
    connections: int = 0
    refused: int = 0
    cut: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    dropped_bytes: int = 0  # held in a blackhole, then cut


class _Pipe:
    """One direction of one connection: read, hold for the delay, write in order."""

    def __init__(
        self,
        proxy: FaultProxy,
        direction: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.direction = direction
        self.reader = reader
        self.writer = writer
        # (read at, bytes); b"" asks to release what a blackhole held; None is EOF
        self.queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        self.held: list[bytes] = []

    async def read(self) -> None:
        try:
            while data := await self.reader.read(65536):
                now = time.monotonic()
                if self.direction == UP and self.proxy.tap is not None:
                    self.proxy.tap(UP, data, now)
                self.queue.put_nowait((now, data))
        except (ConnectionError, OSError):
            pass
        self.queue.put_nowait(None)

    async def write(self) -> None:
        proxy = self.proxy
        try:
            while (item := await self.queue.get()) is not None:
                read_at, data = item
                if not data:
                    await self.release()
                    continue
                delay = proxy.latency_s(self.direction) - (time.monotonic() - read_at)
                if delay > 0:
                    await asyncio.sleep(delay)
                if proxy.blackholed:
                    self.held.append(data)
                    continue
                await self.release()  # anything held goes first: order is kept
                await self.deliver(data)
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                self.writer.close()

    async def deliver(self, data: bytes) -> None:
        proxy = self.proxy
        if self.direction == UP:
            proxy.stats.bytes_up += len(data)
        else:
            proxy.stats.bytes_down += len(data)
        if self.direction == DOWN and proxy.tap is not None:
            proxy.tap(DOWN, data, time.monotonic())
        self.writer.write(data)
        await self.writer.drain()

    async def release(self) -> None:
        held, self.held = self.held, []
        for data in held:
            await self.deliver(data)


class FaultProxy:
    """TCP proxy ``listen_port`` -> ``target`` with injectable faults (see module doc)."""

    def __init__(
        self, target_host: str, target_port: int, *, listen_port: int = 0, tap: Tap | None = None
    ) -> None:
        self.target = (target_host, target_port)
        self.listen_port = listen_port
        self.tap = tap
        self.stats = ProxyStats()
        self.blackholed = False
        self.refusing = False
        self._latency = {UP: 0.0, DOWN: 0.0}
        self._server: asyncio.Server | None = None
        self._conns: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, list[_Pipe]]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        return int(self._server.sockets[0].getsockname()[1])

    def latency_s(self, direction: str) -> float:
        return self._latency[direction]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------- faults
    def set_latency(self, down_s: float = 0.0, up_s: float = 0.0) -> None:
        """Delay every chunk exchange->daemon by ``down_s``, daemon->exchange by ``up_s``."""
        self._latency = {UP: max(0.0, up_s), DOWN: max(0.0, down_s)}

    def blackhole(self) -> None:
        self.blackholed = True

    def heal(self) -> None:
        """End a blackhole: what was held is delivered, late, in order."""
        self.blackholed = False
        for _, _, pipes in self._conns:
            for pipe in pipes:
                pipe.queue.put_nowait((time.monotonic(), b""))

    def cut(self) -> None:
        """Close every connection now; whatever a blackhole held is lost."""
        self.blackholed = False
        for client, upstream, pipes in self._conns:
            for pipe in pipes:
                self.stats.dropped_bytes += sum(len(d) for d in pipe.held)
                pipe.held.clear()
            for w in (client, upstream):
                with contextlib.suppress(Exception):
                    w.close()
            self.stats.cut += 1
        self._conns.clear()

    def refuse(self, on: bool = True) -> None:
        self.refusing = on

    # ------------------------------------------------------------ plumbing
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.stats.refused += 1
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self.stats.refused += 1
            writer.close()
            return
        self.stats.connections += 1
        pipes = [_Pipe(self, UP, reader, up_writer), _Pipe(self, DOWN, up_reader, writer)]
        self._conns.append((writer, up_writer, pipes))
        for pipe in pipes:
            for coro in (pipe.read(), pipe.write()):
                task = asyncio.create_task(coro)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)


class MarketDataRelay:
    """Relays the exchange's market-data websocket message by message, with faults."""

    def __init__(self, upstream_url: str, *, path: str = "/md") -> None:
        self.upstream_url = upstream_url
        self.path = path
        self.relayed = 0
        self.dropped = 0
        self.injected = 0
        self._drop_next = 0
        self._inject: list[str | bytes] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}{self.path}"

    def drop(self, n: int) -> None:
        """Drop the next ``n`` frames carrying deltas (a sequence gap for the client)."""
        self._drop_next += n

    def inject(self, frame: str | bytes) -> None:
        """Send ``frame`` to every client before the next relayed message."""
        self._inject.append(frame)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(self.path, self._client)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _client(self, request: web.Request) -> web.StreamResponse:
        async with aiohttp.ClientSession() as session:
            try:
                up = await session.ws_connect(self.upstream_url)
            except (aiohttp.ClientError, OSError):
                return web.Response(status=502, text="upstream market data unreachable")
            down = web.WebSocketResponse(autoping=True)
            await down.prepare(request)

            async def upward() -> None:
                async for msg in down:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        await up.send_str(msg.data)

            task = asyncio.create_task(upward())
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await self._relay(up, down)
            await cancel_and_wait(task, task_errors=False)
            await up.close()
        await down.close()
        return down

    async def _relay(
        self, up: aiohttp.ClientWebSocketResponse, down: web.WebSocketResponse
    ) -> None:
        async for msg in up:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            while self._inject:
                frame = self._inject.pop(0)
                self.injected += 1
                if isinstance(frame, bytes):
                    await down.send_bytes(frame)
                else:
                    await down.send_str(frame)
            # Deltas are lost, never a snapshot: the publisher itself never drops one.
            if self._drop_next and '"delta"' in msg.data and '"snapshot"' not in msg.data:
                self._drop_next -= 1
                self.dropped += 1
                continue
            self.relayed += 1
            await down.send_str(msg.data)


class FaultThread:
    """An asyncio loop in a daemon thread, for synchronous callers of the classes above."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def _do() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # handed to the caller
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(_do)
        return fut.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

"""Transports for venue feeds: a live websocket, or a recording replayed with pacing.

Both push raw messages into :class:`~gateways.marketdata.venue_books.VenueBooks` and
resync whatever it lists in ``needs_snapshot``, the way the adapter says:
a REST GET (:class:`RestSnapshots`) or an in-band request on the websocket. A resync
that brings a snapshot older than the deltas buffered behind it is retried after
``snapshot_retry_s``, as Binance's book procedure asks.

The live feed also reconnects with backoff and jitter after a disconnect, and treats
``stale_after_s`` of silence as a dead connection, exactly like the daemon's client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from core.clock import NS_PER_S, Clock
from core.events import BookSnapshot
from core.log import get_logger
from core.tasks import cancel_and_wait
from gateways.marketdata.reconnect import Backoff, Watchdog
from gateways.marketdata.recording import read_recording
from gateways.marketdata.venue import RequestResync, RestResync, VenueAdapter, VenueFormatError
from gateways.marketdata.venue_books import VenueBooks

log = get_logger("gateways.marketdata.venue")

SnapshotFetcher = Callable[[str], Awaitable[BookSnapshot]]


class SnapshotUnavailable(Exception):
    """A REST snapshot request failed (HTTP error, timeout, unreadable body)."""


class RestSnapshots:
    """Fetch a symbol's snapshot over HTTP as the adapter's :class:`RestResync` says."""

    def __init__(
        self,
        adapter: VenueAdapter,
        session: aiohttp.ClientSession,
        *,
        clock: Clock,
        timeout_s: float = 10.0,
    ) -> None:
        self.adapter = adapter
        self.session = session
        self.clock = clock
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.fetches = 0

    async def __call__(self, symbol: str) -> BookSnapshot:
        how = self.adapter.resync(symbol)
        if not isinstance(how, RestResync):
            raise SnapshotUnavailable(f"{self.adapter.name} resyncs {symbol} in-band, not by REST")
        self.fetches += 1
        try:
            async with self.session.get(how.url, timeout=self.timeout) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise SnapshotUnavailable(
                        f"GET {how.url}: HTTP {resp.status}: {body[:200].decode(errors='replace')}"
                    )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SnapshotUnavailable(f"GET {how.url}: {exc or type(exc).__name__}") from None
        try:
            return self.adapter.parse_snapshot(body, symbol, self.clock.now_ns())
        except VenueFormatError as exc:
            raise SnapshotUnavailable(f"GET {how.url}: {exc}") from None


# ======================================================================= recording
async def replay_recording(
    paths: Iterable[str | os.PathLike[str]],
    books: VenueBooks,
    *,
    wait: Callable[[int], Awaitable[None]] | None = None,
    fetch: SnapshotFetcher | None = None,
    snapshot_retry_s: float = 1.0,
) -> int:
    """Feed a recording through ``books``; returns the number of lines read.

    ``wait(recv_ns)`` paces the lines (see exchange.service.pacing); snapshot lines in
    the recording resync the books by themselves, and ``fetch`` (if given) is asked for
    a snapshot of any symbol that needs one, at most every ``snapshot_retry_s`` of
    recording time. Format errors stop the replay naming the file and line.
    """
    retry_ns = round(snapshot_retry_s * NS_PER_S)
    last_fetch: dict[str, int] = {}
    lines = 0
    for rec in read_recording(paths):
        if wait is not None:
            await wait(rec.recv_ns)
        books.feed(rec.raw, rec.recv_ns)
        lines += 1
        if fetch is not None and books.needs_snapshot:
            for symbol in sorted(books.needs_snapshot):
                if rec.recv_ns - last_fetch.get(symbol, -retry_ns) < retry_ns:
                    continue
                last_fetch[symbol] = rec.recv_ns
                try:
                    snapshot = await fetch(symbol)
                except SnapshotUnavailable as exc:
                    log.warning("venue_snapshot_failed", symbol=symbol, error=str(exc))
                    continue
                books.apply_snapshot(snapshot)
    return lines


# ========================================================================== live
@dataclass(slots=True)
class FeedStats:
    connected: bool = False
    connects: int = 0
    reconnects: int = 0
    stale: int = 0
    snapshot_requests: int = 0
    snapshot_failures: int = 0


class LiveVenueFeed:
    """A venue's public websocket -> ``books``, resynced and reconnected as needed."""

    def __init__(
        self,
        books: VenueBooks,
        *,
        clock: Clock,
        session: aiohttp.ClientSession | None = None,
        stale_after_s: float = 30.0,
        backoff: Backoff | None = None,
        snapshot_retry_s: float = 1.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.books = books
        self.adapter = books.adapter
        self.clock = clock
        self._session = session
        self._own_session = session is None
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.watchdog = Watchdog(clock, stale_after_s, self._on_silence)
        self.stale_after_s = stale_after_s
        self.snapshot_retry_s = snapshot_retry_s
        self.connect_timeout_s = connect_timeout_s
        self.stats = FeedStats()
        self._ws: aiohttp.ClientWebSocketResponse[Any] | None = None
        self._resyncing: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._rest: RestSnapshots | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="venue-feed")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        task, self._task = self._task, None
        try:
            # A fatal error already reached whoever awaited the task; stopping
            # must not raise it again.
            await cancel_and_wait(task, task_errors=False)
        finally:
            if self._own_session and self._session is not None:
                await self._session.close()
                self._session = None

    async def run(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s)
            )
        self._rest = RestSnapshots(self.adapter, self._session, clock=self.clock)
        first = True
        while not self._stopping:
            if not first:
                self.stats.reconnects += 1
                delay = self.backoff.next_delay()
                log.info("venue_reconnecting", venue=self.adapter.name, delay_s=round(delay, 3))
                await self.clock.sleep(delay)
                if self.stopping:
                    break
            first = False
            await self._connect_once()

    async def _connect_once(self) -> bool:
        assert self._session is not None
        url = self.adapter.stream_url()
        synced_any = False
        snapshots_before = self.books.stats.snapshots
        self.books.reset_all("connecting")
        try:
            async with self._session.ws_connect(
                url, max_msg_size=64 * 1024 * 1024, autoping=True, heartbeat=None
            ) as ws:
                self._ws = ws
                self.stats.connected = True
                self.stats.connects += 1
                log.info("venue_connected", venue=self.adapter.name, url=url)
                self.watchdog.arm()
                for message in self.adapter.on_connect():
                    await ws.send_str(message.decode())
                self._kick_resyncs()
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT or msg.type is aiohttp.WSMsgType.BINARY:
                        self.watchdog.feed()
                        self.books.feed(msg.data, self.clock.now_ns())
                        if self.books.needs_snapshot:
                            self._kick_resyncs()
                        if not synced_any and self.books.stats.snapshots > snapshots_before:
                            synced_any = True
                            self.backoff.reset()  # a working connection: start over
                    else:
                        break
            if not self._stopping:
                log.warning("venue_disconnected", venue=self.adapter.name, url=url)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if not self._stopping:
                log.warning(
                    "venue_connect_failed", venue=self.adapter.name, url=url, error=str(exc)
                )
        finally:
            self._ws = None
            self.stats.connected = False
            self.watchdog.disarm()
            for task in self._resyncs_cancel():
                await cancel_and_wait(task)
            self.books.reset_all("client stopped" if self._stopping else "connection lost")
        return synced_any

    def _on_silence(self, silent_s: float) -> None:
        ws = self._ws
        if ws is None:
            return
        self.stats.stale += 1
        why = f"no message from {self.adapter.name} for {silent_s:.1f}s"
        log.warning("venue_stale", reason=why)
        self.books.reset_all(why)
        task = asyncio.get_running_loop().create_task(ws.close())
        task.add_done_callback(_ignore_result)

    # ---------------------------------------------------------------- resyncs
    def _kick_resyncs(self) -> None:
        for symbol in self.books.needs_snapshot:
            task = self._resyncing.get(symbol)
            if task is None or task.done():
                self._resyncing[symbol] = asyncio.get_running_loop().create_task(
                    self._resync(symbol), name=f"resync-{symbol}"
                )

    def _resyncs_cancel(self) -> list[asyncio.Task[None]]:
        tasks = list(self._resyncing.values())
        for task in tasks:
            task.cancel()
        self._resyncing.clear()
        return tasks

    async def _resync(self, symbol: str) -> None:
        """Until ``symbol`` is in sync: ask for a snapshot, wait, try again."""
        while symbol in self.books.needs_snapshot and self._ws is not None:
            how = self.adapter.resync(symbol)
            self.stats.snapshot_requests += 1
            if isinstance(how, RequestResync):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._ws.send_str(how.message.decode())
            else:
                assert self._rest is not None
                try:
                    snapshot = await self._rest(symbol)
                except SnapshotUnavailable as exc:
                    self.stats.snapshot_failures += 1
                    log.warning("venue_snapshot_failed", symbol=symbol, error=str(exc))
                else:
                    self.books.apply_snapshot(snapshot)
            if symbol in self.books.needs_snapshot:
                await self.clock.sleep(self.snapshot_retry_s)


def _ignore_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()

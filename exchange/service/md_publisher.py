"""The exchange's market-data publisher: L2 deltas and trades over a websocket.

Whatever drives the venue (matching engine, LOBSTER replay, paper upstream) hands
each book change and trade to :meth:`MarketDataPublisher.publish`; the publisher keeps
a mirror of every symbol's book (for snapshots), stamps each event with the symbol's
next sequence number, encodes it once and queues the bytes for every subscriber.
Publishing never waits for a client: a venue cannot let one slow reader hold up the
market for everyone.

Slow consumers. Each client has a bounded queue (``queue_limit`` events). When it
overflows, the queued events are discarded and replaced by a fresh snapshot of every
symbol the client follows: a book feed conflates well (the snapshot carries the whole
state the discarded deltas led to), the client is back in sync at once without a
reconnect, and memory stays bounded. A client that overflows a second time before
its queue has drained even once is persistently slower than the feed; it is
disconnected (close code 1013, "try again later") rather than resnapshotted forever,
and reconnects with its own backoff. A send that does not complete within
``send_timeout_s`` (a dead TCP peer) also disconnects the client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from core.book import L2Book
from core.clock import Clock
from core.events import BookDelta, BookSnapshot, TradePrint
from core.instruments import Instrument
from core.log import get_logger
from core.tasks import cancel_and_wait
from core.types import Side
from gateways.marketdata import protocol as proto

log = get_logger("exchange.md")

_BID_ONLY = b'%d,"ts":%d,"bids":[%b],"asks":[]}'
_ASK_ONLY = b'%d,"ts":%d,"bids":[],"asks":[%b]}'
_BOTH = b'%d,"ts":%d,"bids":[%b],"asks":[%b]}'

Change = tuple[Side, int, int]


@dataclass(slots=True)
class PublisherStats:
    clients: int = 0
    connections: int = 0
    events: int = 0
    frames_sent: int = 0
    messages_sent: int = 0
    overflows: int = 0
    clients_dropped: int = 0
    errors_sent: int = 0


class _Client:
    __slots__ = ("drained", "id", "queue", "subscriptions", "wake", "ws")

    def __init__(self, ws: web.WebSocketResponse, client_id: int) -> None:
        self.ws = ws
        self.id = client_id
        self.subscriptions: set[str] = set()
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.drained = True  # queue emptied since the last overflow


class MarketDataPublisher:
    """Sequenced L2 + trade fan-out to websocket subscribers (see module doc)."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        *,
        clock: Clock,
        queue_limit: int = 10_000,
        max_batch: int = 100,
        heartbeat_s: float = 1.0,
        send_timeout_s: float = 5.0,
    ) -> None:
        if queue_limit < 1 or max_batch < 1:
            raise ValueError("queue_limit and max_batch must be >= 1")
        self.instruments = dict(instruments)
        self.clock = clock
        self.queue_limit = queue_limit
        self.max_batch = max_batch
        self.heartbeat_s = heartbeat_s
        self.send_timeout_s = send_timeout_s
        self.books: dict[str, L2Book] = {s: L2Book(s) for s in self.instruments}
        self.seq: dict[str, int] = dict.fromkeys(self.instruments, 0)
        self._last_ts: dict[str, int] = dict.fromkeys(self.instruments, 0)
        self._subscribers: dict[str, set[_Client]] = {s: set() for s in self.instruments}
        self._clients: set[_Client] = set()
        self._next_client_id = 0
        self._hello = proto.encode_hello(self.instruments)
        self._delta_head = {
            sym: b'{"type":"delta","symbol":' + orjson.dumps(sym) + b',"seq":'
            for sym in self.instruments
        }
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.stats = PublisherStats()

    # ================================================================ feeding side
    def publish(self, event: BookSnapshot | BookDelta | TradePrint) -> None:
        if isinstance(event, BookDelta):
            self.publish_delta(event.symbol, event.changes, event.ts_ns)
        elif isinstance(event, TradePrint):
            self.publish_trade(event.symbol, event.price, event.qty, event.aggressor, event.ts_ns)
        else:
            self.publish_snapshot(event.symbol, event.bids, event.asks, event.ts_ns)

    def publish_snapshot(
        self,
        symbol: str,
        bids: Sequence[tuple[int, int]],
        asks: Sequence[tuple[int, int]],
        ts_ns: int,
    ) -> int:
        """Replace a symbol's whole book (start of day, upstream resync); subscribers get
        the new snapshot in place of deltas. Raises BookError for a crossed/malformed one."""
        book = self._book(symbol)
        book.apply_snapshot(bids, asks, ts_ns)
        self.seq[symbol] += 1
        self._last_ts[symbol] = ts_ns
        self.stats.events += 1
        subscribers = self._subscribers[symbol]
        if subscribers:
            frame = self._snapshot_frame(symbol)
            for client in tuple(subscribers):
                self._enqueue(client, frame)
        return self.seq[symbol]

    def publish_delta(self, symbol: str, changes: Sequence[Change], ts_ns: int) -> int:
        """Apply level changes (size 0 removes) to the mirror book and send them.

        Raises :class:`~core.errors.BookError`, publishing nothing, when the changes
        are malformed or would cross the book: a venue must not put a crossed book on
        the wire. The caller (the engine driver) should republish a snapshot.
        """
        book = self._book(symbol)
        if len(changes) == 1:
            side, price, size = changes[0]
            book.apply_delta(side, price, size, ts_ns)
        else:
            book.apply_batch(changes, ts_ns)
        seq = self.seq[symbol] = self.seq[symbol] + 1
        self._last_ts[symbol] = ts_ns
        self.stats.events += 1
        subscribers = self._subscribers[symbol]
        if subscribers:
            # Hand-formatted JSON (the mirror has just checked every price and size is
            # an int): this is the venue's hottest line, and a dict through orjson
            # costs twice as much.
            if len(changes) == 1:
                side, price, size = changes[0]
                lv = b"[%d,%d]" % (price, size)
                frame = self._delta_head[symbol] + (
                    _BID_ONLY if side is Side.BUY else _ASK_ONLY
                ) % (seq, ts_ns, lv)
            else:
                bids = b",".join([b"[%d,%d]" % (p, q) for sd, p, q in changes if sd is Side.BUY])
                asks = b",".join(
                    [b"[%d,%d]" % (p, q) for sd, p, q in changes if sd is not Side.BUY]
                )
                frame = self._delta_head[symbol] + _BOTH % (seq, ts_ns, bids, asks)
            for client in tuple(subscribers):
                self._enqueue(client, frame)
        return seq

    def publish_trade(self, symbol: str, price: int, qty: int, aggressor: Side, ts_ns: int) -> int:
        if type(price) is not int or type(qty) is not int or price <= 0 or qty <= 0:
            raise ValueError(f"{symbol}: trade {qty} @ {price} needs positive integer ticks/units")
        if aggressor not in proto.AGGRESSOR_WIRE:
            raise ValueError(f"{symbol}: trade aggressor {aggressor!r} is not BUY or SELL")
        self._book(symbol)
        seq = self.seq[symbol] = self.seq[symbol] + 1
        self._last_ts[symbol] = ts_ns
        self.stats.events += 1
        subscribers = self._subscribers[symbol]
        if subscribers:
            frame = proto.encode_trade(
                symbol, seq, ts_ns, price=price, qty=qty, aggressor=aggressor
            )
            for client in tuple(subscribers):
                self._enqueue(client, frame)
        return seq

    def _book(self, symbol: str) -> L2Book:
        book = self.books.get(symbol)
        if book is None:
            raise KeyError(f"symbol {symbol!r} is not an instrument of this exchange")
        return book

    def _snapshot_frame(self, symbol: str) -> bytes:
        bids, asks = self.books[symbol].snapshot()
        return proto.encode_snapshot(symbol, self.seq[symbol], self._last_ts[symbol], bids, asks)

    # =================================================================== queueing
    def _enqueue(self, client: _Client, frame: bytes) -> None:
        queue = client.queue
        if len(queue) >= self.queue_limit:
            self._overflow(client)
            return  # the snapshot just queued already reflects this event
        queue.append(frame)
        client.wake.set()

    def _overflow(self, client: _Client) -> None:
        self.stats.overflows += 1
        client.queue.clear()
        if not client.drained:
            log.warning(
                "md_client_dropped",
                client=client.id,
                reason="overflowed again before draining its queue",
                queue_limit=self.queue_limit,
            )
            self._drop(client)
            return
        client.drained = False
        log.info("md_client_resnapshot", client=client.id, symbols=sorted(client.subscriptions))
        for symbol in sorted(client.subscriptions):
            client.queue.append(self._snapshot_frame(symbol))
        client.wake.set()

    def _drop(self, client: _Client) -> None:
        self.stats.clients_dropped += 1
        self._forget(client)
        task = asyncio.get_running_loop().create_task(
            client.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"slow consumer")
        )
        task.add_done_callback(_ignore_result)

    def _forget(self, client: _Client) -> None:
        for symbol in client.subscriptions:
            self._subscribers[symbol].discard(client)
        client.subscriptions.clear()
        client.queue.clear()
        if client in self._clients:
            self._clients.discard(client)
            self.stats.clients = len(self._clients)
        client.wake.set()

    async def _writer(self, client: _Client) -> None:
        ws = client.ws
        queue = client.queue
        max_batch = self.max_batch
        while client in self._clients:
            if not queue:
                client.drained = True
                client.wake.clear()
                await client.wake.wait()
                continue
            n = min(len(queue), max_batch)
            items = [queue.popleft() for _ in range(n)]
            frame = proto.batch(items)
            try:
                async with asyncio.timeout(self.send_timeout_s):
                    await ws.send_frame(frame, WSMsgType.TEXT)
            except TimeoutError:
                log.warning("md_client_dropped", client=client.id, reason="send timed out")
                self.stats.clients_dropped += 1
                self._forget(client)
                with contextlib.suppress(Exception):
                    await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"send timeout")
                return
            except (ConnectionError, RuntimeError):
                self._forget(client)
                return
            self.stats.frames_sent += 1
            self.stats.messages_sent += n

    # ================================================================ serving side
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for the market-data websocket endpoint."""
        ws = web.WebSocketResponse(
            max_msg_size=proto.MAX_REQUEST_BYTES, compress=False, autoping=True, heartbeat=None
        )
        await ws.prepare(request)
        self._next_client_id += 1
        client = _Client(ws, self._next_client_id)
        self._clients.add(client)
        self.stats.clients = len(self._clients)
        self.stats.connections += 1
        log.info("md_client_connected", client=client.id, peer=request.remote)
        client.queue.append(self._hello)
        writer = asyncio.get_running_loop().create_task(self._writer(client))
        try:
            async for msg in ws:
                if client not in self._clients:
                    break
                if msg.type is WSMsgType.TEXT:
                    self._on_request(client, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._error(
                        client, proto.ProtocolError("bad_request", "send requests as text frames")
                    )
                else:
                    break
        finally:
            self._forget(client)
            log.info("md_client_disconnected", client=client.id)
            await cancel_and_wait(writer)
        return ws

    def _on_request(self, client: _Client, data: str | bytes) -> None:
        try:
            req = proto.parse_request(data)
        except proto.ProtocolError as exc:
            self._error(client, exc)
            return
        if isinstance(req, proto.Ping):
            self._enqueue(client, proto.encode_pong(req.id, self.clock.now_ns()))
            return
        unknown = [s for s in req.symbols if s not in self.instruments]
        known = [s for s in req.symbols if s in self.instruments]
        if isinstance(req, proto.Subscribe):
            for symbol in known:
                client.subscriptions.add(symbol)
                self._subscribers[symbol].add(client)
                # A snapshot on every subscribe, also a repeated one: that is how a
                # client that saw a gap gets back in sync.
                self._enqueue(client, self._snapshot_frame(symbol))
        else:
            for symbol in known:
                client.subscriptions.discard(symbol)
                self._subscribers[symbol].discard(client)
            if known:
                self._enqueue(client, proto.encode_unsubscribed(known, req.id))
        if unknown:
            self._error(
                client,
                proto.ProtocolError(
                    "unknown_symbol",
                    f"unknown symbol(s) {', '.join(repr(s[:40]) for s in unknown[:10])}; "
                    f"this exchange lists {', '.join(sorted(self.instruments))}",
                    req.id,
                ),
            )

    def _error(self, client: _Client, exc: proto.ProtocolError) -> None:
        self.stats.errors_sent += 1
        log.info("md_request_refused", client=client.id, code=exc.code, reason=exc.message)
        self._enqueue(client, proto.encode_error(exc.code, exc.message, exc.request_id))

    async def _heartbeats(self) -> None:
        while True:
            await self.clock.sleep(self.heartbeat_s)
            frame = proto.encode_heartbeat(self.clock.now_ns())
            for client in tuple(self._clients):
                self._enqueue(client, frame)

    # ================================================================= lifecycle
    def attach(self, app: web.Application, path: str = "/md") -> None:
        app.router.add_get(path, self.handle)

    def start_heartbeats(self) -> None:
        if self._heartbeat_task is None and self.heartbeat_s > 0:
            self._heartbeat_task = asyncio.get_running_loop().create_task(self._heartbeats())

    async def start(self, host: str = "127.0.0.1", port: int = 0, path: str = "/md") -> int:
        """Serve on ``host:port`` (0 picks a free port); returns the bound port."""
        app = web.Application()
        self.attach(app, path)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.start_heartbeats()
        return bound_port(self._runner)

    async def close(self) -> None:
        task, self._heartbeat_task = self._heartbeat_task, None
        await cancel_and_wait(task)
        for client in tuple(self._clients):
            self._forget(client)
            with contextlib.suppress(Exception):
                await client.ws.close(
                    code=WSCloseCode.GOING_AWAY, message=b"exchange shutting down"
                )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def bound_port(runner: web.AppRunner) -> int:
    """The TCP port an aiohttp runner actually listens on (for port 0)."""
    for site in runner.sites:
        server: Any = getattr(site, "_server", None)
        if server is not None and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    raise RuntimeError("aiohttp runner has no listening socket")


def _ignore_result(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()

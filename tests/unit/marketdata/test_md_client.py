"""The daemon's market-data client against the exchange's publisher, over real TCP.

Time that matters to the client (staleness, backoff) runs on a SimClock; the bytes
move over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import aiohttp
import orjson
import pytest
from aiohttp import web

from core.book import L2Book
from core.clock import SimClock
from core.events import TradePrint
from core.instruments import Instrument
from core.types import Side
from exchange.service.md_publisher import MarketDataPublisher, bound_port
from gateways.marketdata import protocol as proto
from gateways.marketdata.client import BookStatus, FeedMismatch, MarketDataClient

B, S = Side.BUY, Side.SELL
INSTRUMENTS = {"AMZN": Instrument("AMZN"), "AAPL": Instrument("AAPL")}
Eventually = Callable[..., Awaitable[None]]


@pytest.fixture
async def publisher() -> AsyncIterator[MarketDataPublisher]:
    # The publisher's own clock never advances: no heartbeats unless a test sends them.
    pub = MarketDataPublisher(INSTRUMENTS, clock=SimClock(), heartbeat_s=0)
    pub.publish_snapshot("AMZN", [(10000, 5), (9999, 7)], [(10001, 4), (10002, 9)], 1)
    pub.publish_snapshot("AAPL", [(50000, 1)], [(50010, 1)], 1)
    pub.port = await pub.start(port=0)  # type: ignore[attr-defined]
    yield pub
    await pub.close()


def _url(pub: MarketDataPublisher) -> str:
    return f"ws://127.0.0.1:{pub.port}/md"  # type: ignore[attr-defined]


class Recorder:
    def __init__(self) -> None:
        self.books: list[tuple[str, int | None, int | None]] = []
        self.trades: list[TradePrint] = []
        self.status: list[tuple[str, BookStatus, str]] = []

    def on_book(self, symbol: str, book: L2Book) -> None:
        self.books.append((symbol, book.best_bid, book.best_ask))

    def on_trade(self, t: TradePrint) -> None:
        self.trades.append(t)

    def on_status(self, symbol: str, status: BookStatus, why: str) -> None:
        self.status.append((symbol, status, why))


def _client(
    url: str, symbols: list[str], clock: SimClock, rec: Recorder, **kw: object
) -> MarketDataClient:
    return MarketDataClient(
        url,
        symbols,
        clock=clock,
        instruments=INSTRUMENTS,
        on_book=rec.on_book,
        on_trade=rec.on_trade,
        on_status=rec.on_status,
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )


async def _serve(
    handler: Callable[[web.Request], Awaitable[web.WebSocketResponse]],
) -> web.AppRunner:
    """A hand-written market-data server at ws://127.0.0.1:<port>/md (bound_port)."""
    app = web.Application()
    app.router.add_get("/md", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def test_snapshot_then_deltas_and_trades(
    publisher: MarketDataPublisher, eventually: Eventually
) -> None:
    rec = Recorder()
    client = _client(_url(publisher), ["AMZN", "AAPL"], SimClock(), rec)
    client.start()
    try:
        await asyncio.wait_for(client.wait_synced(), 5)
        publisher.publish_delta("AMZN", [(B, 10000, 8)], 2)
        publisher.publish_delta("AMZN", [(S, 10001, 0), (B, 9998, 3)], 3)
        publisher.publish_trade("AMZN", 10001, 4, B, 4)
        publisher.publish_delta("AAPL", [(S, 50005, 2)], 5)
        await eventually(lambda: client.stats.updates == 3 and client.stats.trades == 1)
        book = client.book("AMZN")
        assert book is not None
        assert book.snapshot() == publisher.books["AMZN"].snapshot()
        assert client.book("AAPL") is not None
        assert client.book("AAPL").best_ask == 50005  # type: ignore[union-attr]
        assert rec.trades == [TradePrint("AMZN", publisher.seq["AMZN"], 4, 10001, 4, B)]
        assert client.builders["AMZN"].last_seq == publisher.seq["AMZN"]
        assert client.stats.gaps == 0 and client.stats.bad_messages == 0
    finally:
        await client.stop()
    assert client.book("AMZN") is None  # stopped: no book is handed out


async def test_gap_drops_the_book_and_resubscribes(
    publisher: MarketDataPublisher, eventually: Eventually
) -> None:
    rec = Recorder()
    client = _client(_url(publisher), ["AMZN"], SimClock(), rec)
    client.start()
    try:
        await asyncio.wait_for(client.wait_synced(), 5)
        publisher.seq["AMZN"] += 1  # an event lost on the way: the next seq jumps
        publisher.publish_delta("AMZN", [(B, 10000, 1)], 2)
        await eventually(lambda: client.stats.gaps == 1, what="gap")
        await eventually(
            lambda: client.status["AMZN"] is BookStatus.SYNCED and client.stats.snapshots == 2
        )
        assert client.stats.resubscribes == 1
        assert client.book("AMZN").snapshot() == publisher.books["AMZN"].snapshot()  # type: ignore[union-attr]
        statuses = [s for sym, s, _ in rec.status if sym == "AMZN"]
        assert statuses[-2:] == [BookStatus.RESYNCING, BookStatus.SYNCED]
    finally:
        await client.stop()


async def test_unknown_symbol_is_unavailable_and_others_still_work(
    publisher: MarketDataPublisher, eventually: Eventually
) -> None:
    rec = Recorder()
    client = _client(_url(publisher), ["AMZN", "TSLA"], SimClock(), rec)
    client.start()
    try:
        await asyncio.wait_for(client.wait_synced(["AMZN"]), 5)
        await eventually(lambda: client.status["TSLA"] is BookStatus.UNAVAILABLE)
        assert client.stats.server_errors == 1
        assert client.book("TSLA") is None
    finally:
        await client.stop()


async def test_grid_mismatch_is_fatal(publisher: MarketDataPublisher) -> None:
    client = MarketDataClient(
        _url(publisher),
        ["AMZN"],
        clock=SimClock(),
        instruments={"AMZN": Instrument("AMZN", tick_size=Decimal("0.0001"))},
    )
    task = client.start()
    try:
        with pytest.raises(FeedMismatch, match="tick_size"):
            await asyncio.wait_for(task, 5)
    finally:
        await client.stop()


async def test_staleness_drops_books_and_reconnects(
    publisher: MarketDataPublisher, eventually: Eventually
) -> None:
    clock = SimClock(start_ns=10**18)
    rec = Recorder()
    client = _client(
        _url(publisher),
        ["AMZN"],
        clock,
        rec,
        stale_after_s=2.0,
        backoff_initial_s=0.4,
        backoff_max_s=0.4,
    )
    client.start()
    try:
        await asyncio.wait_for(client.wait_synced(), 5)
        await clock.run_for(1.9)
        assert client.status["AMZN"] is BookStatus.SYNCED
        await clock.run_for(0.2)  # 2.1 s of silence (the publisher sends no heartbeats)
        assert client.stats.stale == 1
        status: BookStatus = client.status["AMZN"]
        assert status in (BookStatus.STALE, BookStatus.DISCONNECTED)
        assert client.book("AMZN") is None
        await eventually(lambda: client.stats.reconnects == 1, what="reconnect attempt")
        await clock.run_for(0.4)  # the backoff (0.2 fixed + up to 0.2 jitter)
        await eventually(lambda: client.status["AMZN"] is BookStatus.SYNCED, what="resync")
        assert publisher.stats.connections == 2
    finally:
        await client.stop()


async def test_heartbeats_keep_a_quiet_feed_alive(eventually: Eventually) -> None:
    pub_clock = SimClock(start_ns=10**18)
    pub = MarketDataPublisher(INSTRUMENTS, clock=pub_clock, heartbeat_s=1.0)
    port = await pub.start(port=0)
    clock = SimClock(start_ns=10**18)
    client = MarketDataClient(f"ws://127.0.0.1:{port}/md", ["AMZN"], clock=clock, stale_after_s=2.0)
    client.start()
    try:
        await asyncio.wait_for(client.wait_synced(), 5)
        for _ in range(5):
            await pub_clock.run_for(1.0)  # publisher heartbeat goes out
            frames = pub.stats.frames_sent
            await eventually(
                lambda f=frames: client.stats.last_update_ns and pub.stats.frames_sent >= f
            )
            await asyncio.sleep(0.02)
            await clock.run_for(1.0)
        assert client.stats.stale == 0
        assert client.status["AMZN"] is BookStatus.SYNCED
    finally:
        await client.stop()
        await pub.close()


async def test_reconnects_with_backoff_after_the_exchange_restarts(eventually: Eventually) -> None:
    pub = MarketDataPublisher(INSTRUMENTS, clock=SimClock(), heartbeat_s=0)
    pub.publish_snapshot("AMZN", [(100, 1)], [(101, 1)], 1)
    port = await pub.start(port=0)
    clock = SimClock(start_ns=10**18)
    rec = Recorder()
    client = _client(
        f"ws://127.0.0.1:{port}/md", ["AMZN"], clock, rec, backoff_initial_s=0.1, backoff_max_s=0.8
    )
    client.start()
    try:
        await asyncio.wait_for(client.wait_synced(), 5)
        await pub.close()
        await eventually(lambda: client.status["AMZN"] is BookStatus.DISCONNECTED)
        # Nobody listens: each attempt fails and the next waits longer (capped).
        while client.stats.reconnects < 5:
            # once the client sleeps out its backoff, let it elapse: the attempt fails
            await eventually(lambda: clock.next_timer_ns is not None, what="backoff timer")
            await clock.run_for(0.8)
            await asyncio.sleep(0.01)
        assert client.backoff.attempt >= 5
        assert client.status["AMZN"] is BookStatus.DISCONNECTED
        pub2 = MarketDataPublisher(INSTRUMENTS, clock=SimClock(), heartbeat_s=0)
        pub2.publish_snapshot("AMZN", [(200, 1)], [(201, 1)], 1)
        await pub2.start(port=port)
        try:

            async def advance() -> None:
                while client.status["AMZN"] is not BookStatus.SYNCED:
                    if clock.next_timer_ns is not None:
                        await clock.run_for(0.8)
                    await asyncio.sleep(0.005)

            await asyncio.wait_for(advance(), 5)
            assert client.book("AMZN").best_bid == 200  # type: ignore[union-attr]
            assert client.backoff.attempt == 0  # reset by a successful sync
        finally:
            await client.stop()
            await pub2.close()
    finally:
        await client.stop()


def test_backoff_grows_caps_and_jitters() -> None:
    client = MarketDataClient(
        "ws://x",
        ["A"],
        clock=SimClock(),
        backoff_initial_s=0.1,
        backoff_max_s=1.0,
        rng=random.Random(3),
    )
    delays = [client.backoff.next_delay() for _ in range(8)]
    caps = [min(1.0, 0.1 * 2**i) for i in range(8)]
    for d, cap in zip(delays, caps, strict=True):
        assert cap / 2 <= d <= cap
    assert len(set(delays)) == len(delays)  # jittered


# --------------------------------------------------------------- server side
async def _raw(url: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(url)
    return session, ws


_PENDING: dict[int, list[dict]] = {}  # type: ignore[type-arg]


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict:  # type: ignore[type-arg]
    """The next message of ``kind``, skipping others; batched frames are unpacked
    and their remaining messages kept for the next call."""
    pending = _PENDING.setdefault(id(ws), [])
    while True:
        while pending:
            m = pending.pop(0)
            if m["type"] == kind:
                return m
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        data = orjson.loads(msg.data)
        pending.extend(data if isinstance(data, list) else [data])


async def test_malformed_subscriptions_get_error_frames_and_the_connection_stays_usable(
    publisher: MarketDataPublisher,
) -> None:
    session, ws = await _raw(_url(publisher))
    try:
        hello = await _next(ws, "hello")
        assert set(hello["instruments"]) == {"AMZN", "AAPL"}
        for bad, code in [
            ("{oops", "bad_json"),
            ('{"op":"subscribe","symbols":"AMZN","id":3}', "bad_request"),
            ('{"op":"dance"}', "unknown_op"),
            ('{"op":"subscribe","symbols":["NOPE"],"id":5}', "unknown_symbol"),
        ]:
            await ws.send_str(bad)
            err = await _next(ws, "error")
            assert err["code"] == code, err
            assert err["message"]
        await ws.send_bytes(b'{"op":"ping"}')
        err = await _next(ws, "error")
        assert "text frames" in err["message"]
        assert "NOPE" in (await _error_for(ws, publisher, '{"op":"subscribe","symbols":["NOPE"]}'))
        await ws.send_str('{"op":"subscribe","symbols":["AMZN"],"id":9}')
        snap = await _next(ws, "snapshot")
        assert snap["symbol"] == "AMZN" and snap["seq"] == publisher.seq["AMZN"]
        assert snap["bids"] == [[10000, 5], [9999, 7]]
        await ws.send_str('{"op":"ping","id":"p"}')
        assert (await _next(ws, "pong"))["id"] == "p"
        await ws.send_str('{"op":"unsubscribe","symbols":["AMZN"],"id":10}')
        assert (await _next(ws, "unsubscribed"))["symbols"] == ["AMZN"]
        assert publisher.stats.errors_sent == 6
    finally:
        await ws.close()
        await session.close()


async def _error_for(
    ws: aiohttp.ClientWebSocketResponse, pub: MarketDataPublisher, req: str
) -> str:
    await ws.send_str(req)
    return str((await _next(ws, "error"))["message"])


async def test_slow_consumer_gets_a_resnapshot_then_is_dropped(eventually: Eventually) -> None:
    pub = MarketDataPublisher(INSTRUMENTS, clock=SimClock(), heartbeat_s=0, queue_limit=10)
    pub.publish_snapshot("AMZN", [(100, 1)], [(200, 1)], 1)
    port = await pub.start(port=0)
    session, ws = await _raw(f"ws://127.0.0.1:{port}/md")
    try:
        await ws.send_str('{"op":"subscribe","symbols":["AMZN"]}')
        await _next(ws, "snapshot")
        # 15 events in one go: the writer cannot run in between, the queue overflows once.
        for i in range(15):
            pub.publish_delta("AMZN", [(B, 100, 2 + i)], 2 + i)
        assert pub.stats.overflows == 1
        snap = await _next(ws, "snapshot")  # the resnapshot, taken at the overflow
        assert snap["bids"][0] == [100, 12]  # the 11th event: the one that overflowed
        # Everything after the resnapshot continues its sequence.
        for i in range(4):
            delta = await _next(ws, "delta")
            assert delta["seq"] == snap["seq"] + 1 + i
            assert delta["bids"] == [[100, 13 + i]]
        assert delta["seq"] == pub.seq["AMZN"]
        # Two overflows without draining in between: the client is dropped.
        for i in range(25):
            pub.publish_delta("AMZN", [(B, 100, 200 + i)], 40 + i)
        assert pub.stats.clients_dropped == 1
        msg = await asyncio.wait_for(ws.receive(), 5)
        while msg.type is aiohttp.WSMsgType.TEXT:
            msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )
        assert ws.close_code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
        await eventually(lambda: pub.stats.clients == 0)
    finally:
        await ws.close()
        await session.close()
        await pub.close()


async def test_client_recovers_from_a_server_that_misbehaves(eventually: Eventually) -> None:
    """A deliberately broken server: unreadable frame, a delta with a float price,
    then correct data. The client counts, resyncs, and ends in sync."""
    subscribes: list[dict] = []  # type: ignore[type-arg]

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(proto.encode_hello({"AMZN": INSTRUMENTS["AMZN"]}).decode())
        async for msg in ws:
            subscribes.append(orjson.loads(msg.data))
            n = len(subscribes)
            await ws.send_str(
                proto.encode_snapshot("AMZN", 10 * n, 0, [(100, n)], [(101, 1)]).decode()
            )
            if n == 1:
                await ws.send_str("this is not json")
                await ws.send_str(
                    '{"type":"delta","symbol":"AMZN","seq":11,"ts":0,"bids":[[100.5,1]],"asks":[]}'
                )
        return ws

    runner = await _serve(handler)
    client = MarketDataClient(f"ws://127.0.0.1:{bound_port(runner)}/md", ["AMZN"], clock=SimClock())
    client.start()
    try:
        await eventually(
            lambda: len(subscribes) == 2 and client.status["AMZN"] is BookStatus.SYNCED
        )
        assert client.stats.bad_messages == 1  # the non-JSON frame
        assert client.stats.gaps == 1  # the float price was refused by the book
        assert client.book("AMZN").best_bid_size == 2  # type: ignore[union-attr]
    finally:
        await client.stop()
        await runner.cleanup()


async def test_publisher_frames_are_exactly_the_protocol_messages(
    publisher: MarketDataPublisher,
) -> None:
    session, ws = await _raw(_url(publisher))
    try:
        await ws.send_str('{"op":"subscribe","symbols":["AMZN"]}')
        await _next(ws, "snapshot")
        seq = publisher.publish_delta("AMZN", [(S, 10003, 2)], 11)
        seq2 = publisher.publish_delta("AMZN", [(B, 9999, 0), (S, 10001, 1), (B, 9998, 4)], 12)
        seq3 = publisher.publish_trade("AMZN", 10001, 1, S, 13)
        assert await _next(ws, "delta") == orjson.loads(
            proto.encode_delta("AMZN", seq, 11, [], [(10003, 2)])
        )
        assert await _next(ws, "delta") == orjson.loads(
            proto.encode_delta("AMZN", seq2, 12, [(9999, 0), (9998, 4)], [(10001, 1)])
        )
        assert await _next(ws, "trade") == orjson.loads(
            proto.encode_trade("AMZN", seq3, 13, price=10001, qty=1, aggressor=S)
        )
    finally:
        await ws.close()
        await session.close()


def test_publisher_refuses_what_it_cannot_vouch_for() -> None:
    pub = MarketDataPublisher(INSTRUMENTS, clock=SimClock())
    pub.publish_snapshot("AMZN", [(100, 1)], [(101, 1)], 0)
    from core.errors import BookError

    with pytest.raises(BookError, match="cross"):
        pub.publish_delta("AMZN", [(B, 101, 1)], 1)
    with pytest.raises(BookError):
        pub.publish_delta("AMZN", [(B, 100, True)], 1)
    with pytest.raises(KeyError, match="not an instrument"):
        pub.publish_delta("TSLA", [(B, 1, 1)], 1)
    with pytest.raises(ValueError, match="positive"):
        pub.publish_trade("AMZN", 0, 1, B, 1)
    assert pub.seq["AMZN"] == 1  # nothing refused was numbered


async def test_a_resync_whose_snapshot_never_comes_subscribes_again(
    eventually: Eventually,
) -> None:
    """Issue 13: heartbeats kept flowing, so the staleness watchdog never fired, but the
    snapshot asked for never came, and the symbol stayed RESYNCING (halted) forever.
    After ``stale_after_s`` without a snapshot the subscribe goes again; the symbol is
    not synced, and hands out no book, until a snapshot has come; a server that keeps
    ignoring it is reconnected to."""
    subscribes: list[dict] = []  # type: ignore[type-arg]
    answer_from = 2  # the first subscribe is lost on the server's side
    conns: list[web.WebSocketResponse] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conns.append(ws)
        await ws.send_str(proto.encode_hello({"AMZN": INSTRUMENTS["AMZN"]}).decode())
        async for msg in ws:
            subscribes.append(orjson.loads(msg.data))
            if len(subscribes) >= answer_from:
                await ws.send_str(
                    proto.encode_snapshot("AMZN", 5, 0, [(100, 1)], [(101, 1)]).decode()
                )
        return ws

    runner = await _serve(handler)
    clock = SimClock(start_ns=10**18)
    rec = Recorder()
    client = _client(f"ws://127.0.0.1:{bound_port(runner)}/md", ["AMZN"], clock, rec,
                     stale_after_s=2.0, backoff_initial_s=0.1, backoff_max_s=0.1)  # fmt: skip

    async def heartbeats_for(seconds: float) -> None:
        """The server's heartbeats every 0.5 s while the clock moves on: never silent."""
        for _ in range(round(seconds / 0.5)):
            await conns[-1].send_str(proto.encode_heartbeat(clock.now_ns()).decode())
            await eventually(lambda: client.stats.last_update_ns == clock.now_ns())
            await clock.run_for(0.5)

    client.start()
    try:
        await eventually(lambda: len(subscribes) == 1, what="first subscribe")
        await heartbeats_for(1.5)
        assert client.status["AMZN"] is BookStatus.RESYNCING and len(subscribes) == 1
        await heartbeats_for(1.0)  # 2.0 s after the subscribe, on the next frame
        await conns[-1].send_str(proto.encode_heartbeat(clock.now_ns()).decode())
        await eventually(lambda: len(subscribes) == 2, what="the subscribe sent again")
        await eventually(lambda: client.status["AMZN"] is BookStatus.SYNCED, what="synced")
        assert client.stats.stale == 0 and client.book("AMZN") is not None

        # a server that ignores every subscribe: asked three times, then reconnected to
        answer_from = 10**9
        client._lost("AMZN", "test: a gap")  # the gap path, driven directly
        await eventually(lambda: len(subscribes) == 3, what="resubscribe after the gap")
        await heartbeats_for(2.5)
        await conns[-1].send_str(proto.encode_heartbeat(clock.now_ns()).decode())
        await eventually(lambda: len(subscribes) == 4, what="subscribe again")
        await heartbeats_for(2.5)
        await conns[-1].send_str(proto.encode_heartbeat(clock.now_ns()).decode())
        await eventually(lambda: len(subscribes) == 5, what="and again")
        await heartbeats_for(2.5)
        await conns[-1].send_str(proto.encode_heartbeat(clock.now_ns()).decode())
        await eventually(lambda: len(conns) == 2 or client.stats.reconnects >= 1, what="reconnect")
        assert client.status["AMZN"] is not BookStatus.SYNCED and client.book("AMZN") is None
        assert [s for s, st, _ in rec.status if st is BookStatus.SYNCED] == ["AMZN"]
    finally:
        await client.stop()
        await runner.cleanup()

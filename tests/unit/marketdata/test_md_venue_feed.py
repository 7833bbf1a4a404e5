"""Live venue feeds over real sockets: a local server speaking Binance's websocket and
REST formats (serving a real capture), and another rlexec exchange as upstream."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web

from core.clock import SimClock
from core.instruments import Instrument
from core.types import Side
from exchange.service.md_publisher import MarketDataPublisher, bound_port
from gateways.marketdata.binance import BinanceAdapter
from gateways.marketdata.reconnect import Backoff
from gateways.marketdata.rlexec_adapter import RlexecAdapter
from gateways.marketdata.venue import RequestResync, SequencedDelta, VenueNotice
from gateways.marketdata.venue_books import VenueBooks
from gateways.marketdata.venue_feed import LiveVenueFeed

Eventually = Callable[..., Awaitable[None]]
CRYPTO = Path(__file__).resolve().parents[3] / "data" / "crypto"
SPOT = Instrument("BTCUSDT", Decimal("0.01"), qty_unit=Decimal("0.00000001"))


class FakeBinance:
    """A real aiohttp server replaying a capture as Binance would serve it: the
    stream over a websocket, the capture's REST snapshot line over HTTP."""

    def __init__(self, lines: list[bytes]) -> None:
        self.stream = [line.partition(b" ")[2] for line in lines if b'"stream"' in line]
        self.snapshot = next(line.partition(b" ")[2] for line in lines if b"lastUpdateId" in line)
        self.paths: list[str] = []
        self.rest_calls = 0
        self.runner: web.AppRunner | None = None

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        self.paths.append(request.path_qs)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for i, raw in enumerate(self.stream):
            await ws.send_str(raw.decode())
            if i % 50 == 0:
                await asyncio.sleep(0.001)  # let the REST call interleave, as live
        await ws.receive()  # stay open until the client leaves
        return ws

    async def depth(self, request: web.Request) -> web.Response:
        self.rest_calls += 1
        return web.Response(body=self.snapshot, content_type="application/json")

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/stream", self.ws)
        app.router.add_get("/api/v3/depth", self.depth)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return bound_port(self.runner)


async def test_live_binance_feed_syncs_from_rest_and_matches_the_recording(
    eventually: Eventually,
) -> None:
    with gzip.open(CRYPTO / "spot_btcusdt_20240808.gz", "rb") as f:
        lines = f.read().splitlines()[:4000]
    server = FakeBinance(lines)
    port = await server.start()
    adapter = BinanceAdapter(
        "spot",
        {"BTCUSDT": SPOT},
        ws_base=f"ws://127.0.0.1:{port}",
        rest_url=f"http://127.0.0.1:{port}/api/v3/depth",
    )
    synced: list[bool] = []
    books = VenueBooks(adapter, on_sync=lambda s, ok, why: synced.append(ok))
    feed = LiveVenueFeed(books, clock=SimClock(), snapshot_retry_s=0.01)
    feed.start()
    try:
        await eventually(lambda: books.stats.messages == len(server.stream), timeout=10)
        # reference: the same lines through a book builder straight from the file
        ref = VenueBooks(BinanceAdapter("spot", {"BTCUSDT": SPOT}))
        for line in lines:
            ts, _, raw = line.partition(b" ")
            ref.feed(raw, int(ts))
        assert books.book("BTCUSDT").snapshot() == ref.book("BTCUSDT").snapshot()  # type: ignore[union-attr]
        assert server.paths == [
            "/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
        ]
        assert server.rest_calls >= 1 and feed.stats.snapshot_requests == server.rest_calls
        assert books.stats.gaps == 0 and books.stats.ticker_mismatches == 0
        assert synced[-1] is True
    finally:
        await feed.stop()
        assert server.runner is not None
        await server.runner.cleanup()


INSTRUMENTS = {"AMZN": Instrument("AMZN")}


async def test_rlexec_upstream_follows_another_exchange_and_survives_its_restart(
    eventually: Eventually,
) -> None:
    pub = MarketDataPublisher(INSTRUMENTS, clock=SimClock(), heartbeat_s=0)
    pub.publish_snapshot("AMZN", [(100, 5)], [(102, 5)], 1)
    port = await pub.start(port=0)
    clock = SimClock(start_ns=10**18)
    trades: list[int] = []
    changes: list[object] = []
    books = VenueBooks(
        RlexecAdapter(f"ws://127.0.0.1:{port}/md", INSTRUMENTS),
        on_trade=lambda t: trades.append(t.qty),
        on_book=lambda s, b, ch: changes.append(ch),
    )
    feed = LiveVenueFeed(books, clock=clock, backoff=Backoff(0.2, 0.2), snapshot_retry_s=5)
    feed.start()
    try:
        await eventually(lambda: books.book("AMZN") is not None)
        pub.publish_delta("AMZN", [(Side.BUY, 101, 3)], 2)
        pub.publish_trade("AMZN", 102, 2, Side.BUY, 3)  # trades share the sequence
        pub.publish_delta("AMZN", [(Side.SELL, 102, 3)], 4)
        await eventually(lambda: books.builders["AMZN"].last_seq == pub.seq["AMZN"])
        assert books.stats.gaps == 0 and trades == [2]
        assert books.book("AMZN").snapshot() == pub.books["AMZN"].snapshot()  # type: ignore[union-attr]
        assert changes[0] is None and changes[-1] == ((Side.SELL, 102, 3),)
        await pub.close()
        await eventually(lambda: feed.stats.reconnects == 1 and books.book("AMZN") is None)
        pub2 = MarketDataPublisher(INSTRUMENTS, clock=SimClock(), heartbeat_s=0)
        pub2.publish_snapshot("AMZN", [(200, 1)], [(201, 1)], 1)
        await pub2.start(port=port)
        try:

            async def advance() -> None:
                while books.book("AMZN") is None:
                    if clock.next_timer_ns is not None:
                        await clock.run_for(0.2)
                    await asyncio.sleep(0.005)

            await asyncio.wait_for(advance(), 5)
            assert books.book("AMZN").best_bid == 200  # type: ignore[union-attr]
        finally:
            await feed.stop()
            await pub2.close()
    finally:
        await feed.stop()


async def test_silent_upstream_is_stale_and_reconnected(eventually: Eventually) -> None:
    pub = MarketDataPublisher(INSTRUMENTS, clock=SimClock(), heartbeat_s=0)
    pub.publish_snapshot("AMZN", [(100, 5)], [(102, 5)], 1)
    port = await pub.start(port=0)
    clock = SimClock(start_ns=10**18)
    books = VenueBooks(RlexecAdapter(f"ws://127.0.0.1:{port}/md", INSTRUMENTS))
    feed = LiveVenueFeed(books, clock=clock, stale_after_s=3, backoff=Backoff(0.1, 0.1))
    feed.start()
    try:
        await eventually(lambda: books.book("AMZN") is not None)
        await clock.run_for(3.5)
        assert feed.stats.stale == 1 and books.book("AMZN") is None
        await eventually(lambda: feed.stats.reconnects == 1)

        async def advance() -> None:
            while books.book("AMZN") is None:
                if clock.next_timer_ns is not None:
                    await clock.run_for(0.1)
                await asyncio.sleep(0.005)

        await asyncio.wait_for(advance(), 5)
        assert pub.stats.connections == 2
    finally:
        await feed.stop()
        await pub.close()


def test_rlexec_adapter_parsing() -> None:
    a = RlexecAdapter("ws://x/md", ["AMZN"])
    out = a.parse(
        b'[{"type":"delta","symbol":"AMZN","seq":5,"ts":1,"bids":[[100,1]],"asks":[]},'
        b'{"type":"delta","symbol":"MSFT","seq":9,"ts":1,"bids":[[1,1]],"asks":[]},'
        b'{"type":"delta","symbol":"AMZN","seq":6,"ts":1,"bids":"oops","asks":[]},'
        b'{"type":"error","code":"unknown_symbol","message":"nope"},'
        b'{"type":"heartbeat","ts":3}]',
        0,
    )
    assert out[0] == SequencedDelta("AMZN", 5, 5, None, 1, ((Side.BUY, 100, 1),))
    assert [type(e) for e in out[1:]] == [VenueNotice, VenueNotice]  # bad delta, error frame
    assert a.resync("AMZN") == RequestResync(b'{"op":"subscribe","symbols":["AMZN"]}')
    with pytest.raises(ValueError, match="at least one"):
        RlexecAdapter("ws://x", [])

"""Binance adapter: message parsing, and the real recorded captures in data/crypto.

The capture tests are the acceptance test of paper mode's book: over each whole
capture (spot and COIN-M chained across their two files, USD-M), the rebuilt book
is never crossed, every diff continues the update-id sequence (no gap, no resync),
and wherever Binance's own bookTicker is stamped with the same update id as the
book, the best bid/ask prices *and sizes* agree exactly.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from core.book import L2Book
from core.events import BookSnapshot, TradePrint
from core.instruments import Instrument
from core.types import Side
from exchange.service.md_publisher import bound_port
from gateways.marketdata.binance import BinanceAdapter
from gateways.marketdata.recording import read_recording
from gateways.marketdata.sequencing import PREV_ID, RANGE
from gateways.marketdata.venue import (
    RestResync,
    SequencedDelta,
    TopOfBook,
    VenueFormatError,
)
from gateways.marketdata.venue_books import VenueBooks
from gateways.marketdata.venue_feed import RestSnapshots, SnapshotUnavailable, replay_recording

CRYPTO = Path(__file__).resolve().parents[3] / "data" / "crypto"
SPOT = Instrument("BTCUSDT", Decimal("0.01"), qty_unit=Decimal("0.00000001"), currency="USDT")
USDM = Instrument("BTCUSDT", Decimal("0.1"), qty_unit=Decimal("0.001"), currency="USDT")
COINM = Instrument("BTCUSD_PERP", Decimal("0.1"), qty_unit=Decimal(1), currency="USD")


def _spot() -> BinanceAdapter:
    return BinanceAdapter("spot", {"BTCUSDT": SPOT})


# ------------------------------------------------------------------- parsing
def test_spot_diff_depth() -> None:
    raw = (
        b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,'
        b'"s":"BTCUSDT","U":50093239189,"u":50093239202,'
        b'"b":[["61737.63000000","0.00000000"],["61730.17","1.5"]],"a":[["61837.64","1.54698"]]}}'
    )
    (d,) = _spot().parse(raw, 99)
    assert d == SequencedDelta(
        "BTCUSDT",
        50093239189,
        50093239202,
        None,
        1723161255208 * 1_000_000,
        ((Side.BUY, 6173763, 0), (Side.BUY, 6173017, 150000000), (Side.SELL, 6183764, 154698000)),
    )


def test_futures_diff_depth_carries_pu_and_uses_the_prev_id_rule() -> None:
    a = BinanceAdapter("usdm", {"BTCUSDT": USDM})
    assert a.rule is PREV_ID and _spot().rule is RANGE
    raw = (
        b'{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":10,"u":20,"pu":9,'
        b'"b":[["61800.20","0.014"]],"a":[]}'
    )
    (d,) = a.parse(raw, 0)
    assert isinstance(d, SequencedDelta)
    assert (d.first, d.last, d.prev) == (10, 20, 9)
    assert d.changes == ((Side.BUY, 618002, 14),)


@pytest.mark.parametrize(("maker", "aggressor"), [(True, Side.SELL), (False, Side.BUY)])
def test_trade_aggressor_from_buyer_is_maker(maker: bool, aggressor: Side) -> None:
    raw = orjson.dumps(
        {
            "stream": "btcusdt@trade",
            "data": {
                "e": "trade",
                "E": 5,
                "s": "BTCUSDT",
                "t": 3735683259,
                "p": "61837.63000000",
                "q": "0.02000000",
                "T": 4,
                "m": maker,
                "M": True,
            },
        }
    )
    assert _spot().parse(raw, 0) == (
        TradePrint("BTCUSDT", 3735683259, 4_000_000, 6183763, 2_000_000, aggressor),
    )


def test_non_market_futures_prints_are_not_book_trades() -> None:
    a = BinanceAdapter("usdm", {"BTCUSDT": USDM})
    raw = b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1.0","q":"0.001","X":"ADL","m":true}'
    assert a.parse(raw, 0) == ()


def test_book_ticker_and_snapshot() -> None:
    t = b'{"u":50093239212,"s":"BTCUSDT","b":"61837.63","B":"3.78826","a":"61837.64","A":"1.54698"}'
    assert _spot().parse(t, 0) == (
        TopOfBook("BTCUSDT", 50093239212, 6183763, 378826000, 6183764, 154698000),
    )
    snap = b'{"lastUpdateId":7,"bids":[["1.00","2"],["1.01","1"]],"asks":[["1.02","3"]]}'
    (s,) = _spot().parse(snap, 42)
    assert s == BookSnapshot(
        "BTCUSDT", 7, 42, ((101, 100000000), (100, 200000000)), ((102, 300000000),)
    )
    assert _spot().parse_snapshot(snap, "BTCUSDT", 42) == s


def test_messages_without_book_content_are_ignored() -> None:
    a = _spot()
    assert a.parse(b'{"result":null,"id":1}', 0) == ()
    assert a.parse(b'{"e":"kline","s":"BTCUSDT"}', 0) == ()
    other = b'{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}'
    assert a.parse(other, 0) == ()  # a symbol we do not trade


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"stream":"x","data":5}', "'data'"),
        (b'{"e":"depthUpdate","s":"BTCUSDT","u":2,"b":[],"a":[]}', "missing field 'U'"),
        (
            b'{"e":"depthUpdate","s":"BTCUSDT","U":"1","u":2,"b":[],"a":[]}',
            "'U' must be an integer",
        ),
        (
            b'{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["1.00"]],"a":[]}',
            "not [price, qty]",
        ),
        (b'{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":{},"a":[]}', "must be a list"),
        (
            b'{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["1.001","1"]],"a":[]}',
            "not a multiple",
        ),
        (b'{"e":"trade","s":"BTCUSDT","t":1,"p":"1.00","q":"1","T":1,"m":"yes"}', "'m' must be"),
        (b'{"e":"trade","s":"BTCUSDT","t":1,"p":"0","q":"1","T":1,"m":true}', "not positive"),
        (b'{"e":"depthUpdate","s":"BTCUSDT","E":"x","U":1,"u":2,"b":[],"a":[]}', "milliseconds"),
    ],
)
def test_unreadable_messages_say_why(raw: bytes, words: str) -> None:
    with pytest.raises(VenueFormatError) as info:
        _spot().parse(raw, 0)
    assert words in str(info.value)


def test_bad_snapshots() -> None:
    with pytest.raises(VenueFormatError, match="lastUpdateId"):
        _spot().parse_snapshot(b'{"code":-1121,"msg":"Invalid symbol."}', "BTCUSDT", 0)
    with pytest.raises(VenueFormatError, match="not JSON"):
        _spot().parse_snapshot(b"<html>", "BTCUSDT", 0)
    two = BinanceAdapter("spot", {"BTCUSDT": SPOT, "ETHUSDT": Instrument("ETHUSDT")})
    with pytest.raises(VenueFormatError, match="names no symbol"):
        two.parse(b'{"lastUpdateId":1,"bids":[],"asks":[]}', 0)


def test_urls() -> None:
    a = BinanceAdapter("coinm", {"btcusd_perp": COINM}, depth_stream="depth@0ms", book_ticker=False)
    assert a.stream_url() == (
        "wss://dstream.binance.com/stream?streams=btcusd_perp@depth@0ms/btcusd_perp@trade"
    )
    assert a.resync("BTCUSD_PERP") == RestResync(
        "https://dapi.binance.com/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000"
    )
    with pytest.raises(ValueError, match="unknown Binance market"):
        BinanceAdapter("margin", {"X": SPOT})  # type: ignore[arg-type]


# ------------------------------------------------------------ real captures
CAPTURES = [
    pytest.param(
        "spot",
        SPOT,
        ["spot_btcusdt_20240808.gz", "spot_btcusdt_20240809.gz"],
        41249 + 58325,
        "depth@100ms",
        id="spot-0808+0809",
    ),
    pytest.param(
        "coinm",
        COINM,
        ["cm_btcusd_perp_20240808.gz", "cm_btcusd_perp_20240809.gz"],
        48270 + 50116,
        "depth@0ms",
        id="coinm-0808+0809",
    ),
    pytest.param("usdm", USDM, ["usdm_btcusdt_20240808.gz"], 93954, "depth@0ms", id="usdm-0808"),
]


@pytest.mark.parametrize(("market", "instrument", "files", "lines", "depth"), CAPTURES)
async def test_rebuilt_book_stays_uncrossed_and_in_sequence_over_the_whole_capture(
    market: str, instrument: Instrument, files: list[str], lines: int, depth: str
) -> None:
    crossed: list[tuple[int | None, int | None]] = []
    seqs: list[int] = []
    adapter = BinanceAdapter(market, {instrument.symbol: instrument}, depth_stream=depth)  # type: ignore[arg-type]
    books: VenueBooks

    def on_book(symbol: str, book: L2Book, changes: object) -> None:
        if (
            book.best_bid is not None
            and book.best_ask is not None
            and book.best_bid >= book.best_ask
        ):
            crossed.append((book.best_bid, book.best_ask))
        seqs.append(books.builders[symbol].last_seq)

    books = VenueBooks(adapter, on_book=on_book)
    n = await replay_recording([CRYPTO / f for f in files], books)
    st = books.stats
    print(f"\n{market}: {n} lines, {st}")  # the report asked for: resyncs, checks
    assert n == lines  # every line of the capture was read
    assert crossed == []
    assert seqs == sorted(set(seqs))  # strictly increasing update ids
    assert st.snapshots == 1 and st.gaps == 0 and st.resyncs == 0 and st.rejected == 0
    assert st.bad_messages == 0
    assert st.applied > 5000 and st.trades > 5000
    assert st.ticker_checks > 500 and st.ticker_mismatches == 0
    book = books.book(instrument.symbol)
    assert book is not None and book.level_count(Side.BUY) > 1000


def _capture_lines(name: str) -> list[bytes]:
    with gzip.open(CRYPTO / name, "rb") as f:
        return f.read().splitlines()


def _binance_snapshot(book: L2Book | None, update_id: int, ins: Instrument) -> bytes:
    assert book is not None
    bids, asks = book.snapshot()
    return orjson.dumps(
        {
            "lastUpdateId": update_id,
            "bids": [[str(ins.price(p)), str(ins.quantity(q))] for p, q in bids],
            "asks": [[str(ins.price(p)), str(ins.quantity(q))] for p, q in asks],
        }
    )


@pytest.fixture
async def rest_server() -> AsyncIterator[tuple[str, list[bytes], list[str]]]:
    """A real HTTP server standing in for Binance's REST depth endpoint: it answers
    with the queued snapshot bodies in order (the last one repeatedly)."""
    bodies: list[bytes] = []
    asked: list[str] = []

    async def depth(request: web.Request) -> web.Response:
        asked.append(request.query_string)
        if not bodies:
            return web.Response(status=503, text="no snapshot yet")
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v3/depth", depth)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{bound_port(runner)}/api/v3/depth", bodies, asked
    await runner.cleanup()


async def test_a_lost_diff_is_detected_and_resynced_from_a_rest_snapshot(
    tmp_path: Path, rest_server: tuple[str, list[bytes], list[str]]
) -> None:
    url, bodies, asked = rest_server
    lines = _capture_lines("spot_btcusdt_20240808.gz")
    depth_idx = [i for i, line in enumerate(lines) if b"depthUpdate" in line]
    lost = depth_idx[1500]
    later = depth_idx[1530]

    # Reference: the clean capture; remember the book right after line `later`.
    ref = VenueBooks(_spot())
    ref_snap = b""
    for i, line in enumerate(lines):
        ts, _, raw = line.partition(b" ")
        ref.feed(raw, int(ts))
        if i == later:
            ref_snap = _binance_snapshot(
                ref.book("BTCUSDT"), ref.builders["BTCUSDT"].last_seq, SPOT
            )

    # The same capture with one diff missing; the REST server answers first with a
    # snapshot too old to use (Binance's procedure: fetch again), then a good one.
    damaged = tmp_path / "damaged.txt"
    damaged.write_bytes(b"\n".join(line for i, line in enumerate(lines) if i != lost) + b"\n")
    old = VenueBooks(_spot())
    for line in lines[: lost - 200]:
        ts, _, raw = line.partition(b" ")
        old.feed(raw, int(ts))
    bodies.extend(
        [_binance_snapshot(old.book("BTCUSDT"), old.builders["BTCUSDT"].last_seq, SPOT), ref_snap]
    )

    adapter = BinanceAdapter("spot", {"BTCUSDT": SPOT}, rest_url=url)
    books = VenueBooks(adapter)
    async with aiohttp.ClientSession() as session:
        from core.clock import WallClock

        fetch = RestSnapshots(adapter, session, clock=WallClock())
        # a snapshot only for the gap: the capture's own snapshot line syncs the start
        seen_start = False

        async def fetch_after_start(symbol: str) -> BookSnapshot:
            if not seen_start:
                raise SnapshotUnavailable("start: wait for the capture's own snapshot line")
            return await fetch(symbol)

        async def wait(_: int) -> None:
            nonlocal seen_start
            seen_start = seen_start or books.stats.snapshots > 0

        await replay_recording(
            [damaged], books, wait=wait, fetch=fetch_after_start, snapshot_retry_s=0.05
        )
    st = books.stats
    assert st.gaps >= 2  # the lost diff, then the too-old snapshot
    assert st.resyncs == 1 and st.snapshots == 2  # capture line + the good REST one
    assert asked and all(q == "symbol=BTCUSDT&limit=1000" for q in asked)
    assert st.ticker_mismatches == 0 and st.ticker_checks > 100
    assert books.book("BTCUSDT").snapshot() == ref.book("BTCUSDT").snapshot()  # type: ignore[union-attr]


async def test_rest_snapshot_errors_are_snapshot_unavailable(
    rest_server: tuple[str, list[bytes], list[str]],
) -> None:
    url, bodies, _ = rest_server
    adapter = BinanceAdapter("spot", {"BTCUSDT": SPOT}, rest_url=url)
    from core.clock import WallClock

    async with aiohttp.ClientSession() as session:
        fetch = RestSnapshots(adapter, session, clock=WallClock())
        with pytest.raises(SnapshotUnavailable, match="HTTP 503"):
            await fetch("BTCUSDT")
        bodies.append(b'{"code":-1003,"msg":"Too many requests"}')
        with pytest.raises(SnapshotUnavailable, match="lastUpdateId"):
            await fetch("BTCUSDT")
    dead = BinanceAdapter("spot", {"BTCUSDT": SPOT}, rest_url="http://127.0.0.1:1/depth")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SnapshotUnavailable, match="GET"):
            await RestSnapshots(dead, session, clock=WallClock())("BTCUSDT")


def test_recorded_lines_are_checked(tmp_path: Path) -> None:
    from gateways.marketdata.recording import RecordingFormatError

    p = tmp_path / "r.txt"
    p.write_bytes(b"1 {}\n2 {}\n")
    assert [(r.line, r.recv_ns) for r in read_recording([p])] == [(1, 1), (2, 2)]
    for body, words, line in [
        (b"1 {}\nxx {}\n", "expected '<receive ns> <message>'", 2),
        (b"5 {}\n4 {}\n", "before the previous line", 2),
        (b"1{}\n", "expected", 1),
    ]:
        p.write_bytes(body)
        with pytest.raises(RecordingFormatError) as info:
            list(read_recording([p]))
        assert words in str(info.value) and info.value.line == line and str(p) in str(info.value)
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(b"1 {}\n" * 1000)[:-20])
    with pytest.raises(RecordingFormatError, match="cannot read"):
        list(read_recording([gz]))
    with pytest.raises(RecordingFormatError, match="not found"):
        list(read_recording([tmp_path / "missing.gz"]))


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=12),
    st.sampled_from(["61837.63", "0.00000000", "1e5", "-1", "0.001"]),
    st.lists(st.lists(st.sampled_from(["61837.63", "1", "x", 5]), max_size=3), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["depthUpdate", "trade", "aggTrade", "bookTicker", None]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "s",
                "U",
                "u",
                "pu",
                "b",
                "a",
                "E",
                "T",
                "p",
                "q",
                "m",
                "t",
                "B",
                "A",
                "lastUpdateId",
                "bids",
                "asks",
                "X",
            ]
        ),
        _VALUES,
    ),
    wrapped=st.booleans(),
)
def test_any_message_parses_or_says_why(
    kind: str | None, fields: dict[str, object], wrapped: bool
) -> None:
    data = dict(fields)
    if kind is not None:
        data["e"] = kind
    if "s" in data and isinstance(data["s"], str) and data["s"][:1] == "B":
        data["s"] = "BTCUSDT"
    msg = {"stream": "x", "data": data} if wrapped else data
    try:
        events = _spot().parse(orjson.dumps(msg), 0)
    except VenueFormatError as exc:
        assert str(exc)
        return
    for e in events:
        assert isinstance(e, SequencedDelta | TradePrint | TopOfBook | BookSnapshot)

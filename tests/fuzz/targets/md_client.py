"""Market-data websocket frames into the daemon's client (the frame handler the socket
loop calls), on a synced AMZN book.

Each input is a raw frame or one built from the input: one message or a batch of
deltas, trades, snapshots, heartbeats, hellos and errors, with sequence numbers at,
before and after the book's, any prices and sizes, known and unknown symbols. The
client must never raise; afterwards the book is either in sync and sound (not
crossed, every level positive, its sequence where the last applied message left it)
or dropped and queued for a fresh snapshot; a wrong protocol or grid is a clear
:class:`FeedMismatch`, never a misread book.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

from core.clock import SimClock
from core.instruments import Instrument
from core.types import Side
from gateways.marketdata.client import BookStatus, FeedMismatch, MarketDataClient
from tests.fuzz.harness import Choices, assert_clear_error

SYMBOL = "AMZN"
T0 = 1_767_623_400_000_000_000
KINDS = ("delta", "delta", "delta", "trade", "snapshot", "heartbeat", "hello", "error", "pong")
BIDS = [[22000 - i, 100 + i] for i in range(5)]
ASKS = [[22001 + i, 100 + i] for i in range(5)]


class MdClientTarget:
    name = "md_client"
    surface = "websocket frames -> MarketDataClient frame handler (synced AMZN book)"

    def __init__(self) -> None:
        self.client = MarketDataClient(
            "ws://127.0.0.1:1/md",
            [SYMBOL],
            clock=SimClock(T0),
            instruments={SYMBOL: Instrument(SYMBOL, Decimal("0.01"))},
        )
        self._resync()

    def _resync(self) -> None:
        c = self.client
        c._fatal = None
        c._resubscribe.clear()
        seq = c.builders[SYMBOL].last_seq + 1
        c.builders[SYMBOL].reset("fuzz: resubscribed")  # as a new subscription starts
        c._on_frame(orjson.dumps(_msg("snapshot", seq, bids=BIDS, asks=ASKS)))
        assert c.status[SYMBOL] is BookStatus.SYNCED, c.builders[SYMBOL].last_error

    def seeds(self) -> Iterable[bytes]:
        for kind in range(len(KINDS)):
            for shift in range(4):
                yield bytes([1, 1, kind, shift, 0, 1, 7, 3, 9])
        yield bytes([0]) + orjson.dumps(_msg("delta", 2, bids=[[21999, 5]], asks=[]))
        yield bytes([0]) + b'[{"type":"heartbeat","ts":1}]'

    def _message(self, c: Choices, seq: int) -> dict[str, Any]:
        kind = KINDS[c.int(0, len(KINDS) - 1)]
        seq += (1, 1, 0, 2, -1, 1000)[c.int(0, 5)]
        symbol = SYMBOL if c.int(0, 7) else c.bytes(3).decode("latin-1")
        levels = [
            [c.int(-5, 2) + (22000 if c.int(0, 1) else 22001) + c.int(-8, 8), c.int(-2, 500)]
            for _ in range(c.int(0, 3))
        ]
        side = c.int(0, 2)
        m = _msg(
            kind,
            seq,
            symbol=symbol,
            bids=levels if side != 1 else [],
            asks=levels if side != 0 else [],
        )
        m.update(px=c.int(-1, 22010), qty=c.int(-1, 100), aggressor=c.pick(("buy", "sell", "x")))
        m.update(protocol=c.int(0, 2), code=c.pick(("unknown_symbol", "bad", None)))
        if c.int(0, 7) == 0:  # a field of the wrong type or missing
            m[str(c.pick(("seq", "bids", "asks", "ts", "symbol", "type")))] = c.pick(
                (None, "1", 1.5, [], {}, True, -1)
            )
        return m

    def one_input(self, data: bytes) -> None:
        client = self.client
        builder = client.builders[SYMBOL]
        c = Choices(data)
        if c.int(0, 1) == 0:
            frame = c.rest()
        else:
            msgs = [self._message(c, builder.last_seq + i) for i in range(c.int(1, 4))]
            frame = orjson.dumps(msgs if len(msgs) > 1 else msgs[0]) + c.bytes(c.int(0, 3))
        client._on_frame(frame)
        if client._fatal is not None:
            assert isinstance(client._fatal, FeedMismatch), repr(client._fatal)
            assert_clear_error(client._fatal)
        if client.status[SYMBOL] is BookStatus.SYNCED:
            book = client.book(SYMBOL)
            assert book is not None
            assert type(book.last_update_ns) is int, repr(book.last_update_ns)
            assert type(client.builders[SYMBOL].last_seq) is int
            bids, asks = book.snapshot()
            assert all(p > 0 and q > 0 for p, q in (*bids, *asks)), (bids, asks)
            if bids and asks:
                assert bids[0][0] < asks[0][0], f"crossed book {bids[0]} / {asks[0]}"
            assert book.size_at(Side.BUY, bids[0][0]) == bids[0][1] if bids else True
        else:
            assert SYMBOL in client._resubscribe, "book dropped without asking for a snapshot"
        if client.status[SYMBOL] is not BookStatus.SYNCED or client._fatal is not None:
            self._resync()


def _msg(kind: str, seq: int, *, symbol: str = SYMBOL, **kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"type": kind, "symbol": symbol, "seq": seq, "ts": T0 + seq}
    m.update(kw)
    return m


def make() -> MdClientTarget:
    return MdClientTarget()

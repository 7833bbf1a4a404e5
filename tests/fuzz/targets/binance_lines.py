"""Binance capture lines (``<receive ns> <message>``, as in data/crypto) into the venue
books paper mode keeps, starting from the real spot capture's book in sync.

Each input is written as a capture file and read the way a replay reads one, every
line fed to :class:`VenueBooks`. The reader either takes the lines or stops with a
:class:`RecordingFormatError` naming the line; the books never raise; afterwards the
book is either in sync and sound (not crossed, positive levels) or dropped and marked
as needing a snapshot, and an unreadable message is counted.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from decimal import Decimal

from core.instruments import Instrument
from gateways.marketdata.binance import BinanceAdapter
from gateways.marketdata.recording import RecordingFormatError, read_recording
from gateways.marketdata.venue_books import VenueBooks
from tests.fuzz.harness import assert_clear_error
from tests.fuzz.targets._files import REPO, scratch_dir

SYMBOL = "BTCUSDT"
SPOT = Instrument(SYMBOL, Decimal("0.01"), qty_unit=Decimal("0.00000001"), currency="USDT")
CAPTURE = REPO / "data" / "crypto" / "spot_btcusdt_20240808.gz"


def _capture_head(n: int) -> list[bytes]:
    with gzip.open(CAPTURE, "rb") as f:
        return [next(f).rstrip(b"\n") for _ in range(n)]


class BinanceLinesTarget:
    name = "binance_lines"
    surface = "capture lines -> read_recording -> VenueBooks (Binance spot, book in sync)"

    def __init__(self) -> None:
        lines = _capture_head(400)
        snap = next(i for i, line in enumerate(lines) if b"lastUpdateId" in line)
        self.warmup = lines[: snap + 1]
        self.tail = lines[snap + 1 :]
        self.path = scratch_dir(self.name) / "capture.txt"
        self._fresh()

    def _fresh(self) -> None:
        self.books = VenueBooks(BinanceAdapter("spot", {SYMBOL: SPOT}))
        for line in self.warmup:
            ns, _, raw = line.partition(b" ")
            self.books.feed(raw, int(ns))
        assert self.books.book(SYMBOL) is not None, self.books.feeds[SYMBOL].reason

    def seeds(self) -> Iterable[bytes]:
        for i in range(0, len(self.tail), 8):
            yield b"\n".join(self.tail[i : i + 8]) + b"\n"

    def one_input(self, data: bytes) -> None:
        self.path.write_bytes(data)
        books = self.books
        bad_before = books.stats.bad_messages
        fed = 0
        try:
            for rec in read_recording([self.path]):
                books.feed(rec.raw, rec.recv_ns)
                fed += 1
        except RecordingFormatError as exc:
            assert_clear_error(exc)
            assert str(self.path) in str(exc), f"the error does not name the file: {exc}"
        assert books.stats.bad_messages >= bad_before
        book = books.book(SYMBOL)
        if book is not None:
            bids, asks = book.snapshot(5)  # the book refuses bad levels itself; look at the top
            assert all(type(p) is int and p > 0 and q > 0 for p, q in (*bids, *asks))
            if bids and asks:
                assert bids[0][0] < asks[0][0], f"crossed book {bids[0]} / {asks[0]}"
        else:
            assert SYMBOL in books.needs_snapshot, "book dropped without asking for a snapshot"
            self._fresh()


def make() -> BinanceLinesTarget:
    return BinanceLinesTarget()

"""Where a REST snapshot can land among the diffs, for Binance spot, USD-M and COIN-M.

Binance documents how a local book is built from a REST snapshot (``lastUpdateId``
``L``) and the buffered diff stream, differently for spot (``U``/``u`` contiguous:
drop ``u <= L``, the first diff has ``U <= L + 1``) and futures (ids skip, diffs chain
by ``pu``: drop only ``u < L``, the first diff has ``U <= L <= u``, then ``pu`` equals
the previous ``u``). Every placement of ``L`` relative to the diffs is tried here on
the real captures in data/crypto, with the snapshot arriving both after the diffs it
must be joined with were buffered and before them (live order). The snapshot's
content is the book the undamaged capture had at that point, so a correctly joined
book must end equal to the reference, with no gap; a snapshot older than every diff
must be refused (gap, resync) and the book rebuilt by the next good one.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from core.events import BookSnapshot
from core.instruments import Instrument
from gateways.marketdata.binance import BinanceAdapter
from gateways.marketdata.venue_books import VenueBooks

CRYPTO = Path(__file__).resolve().parents[3] / "data" / "crypto"
SPOT = Instrument("BTCUSDT", Decimal("0.01"), qty_unit=Decimal("0.00000001"), currency="USDT")
USDM = Instrument("BTCUSDT", Decimal("0.1"), qty_unit=Decimal("0.001"), currency="USDT")
COINM = Instrument("BTCUSD_PERP", Decimal("0.1"), qty_unit=Decimal(1), currency="USD")
MARKETS = {
    "spot": (SPOT, "spot_btcusdt_20240808.gz", "depth@100ms"),
    "usdm": (USDM, "usdm_btcusdt_20240808.gz", "depth@0ms"),
    "coinm": (COINM, "cm_btcusd_perp_20240808.gz", "depth@0ms"),
}
K = 150  # the diff (counted after the capture's own snapshot) the snapshot is placed at
BEFORE, AFTER = 3, 40  # diffs fed before / after it


@dataclass(frozen=True)
class Diff:
    line: int  # index into the capture's lines
    first: int  # U
    last: int  # u
    prev: int | None  # pu (futures)


@dataclass
class Capture:
    market: str
    instrument: Instrument
    depth: str
    lines: list[bytes]
    diffs: list[Diff]  # depth diffs after the capture's own snapshot line
    books: dict[int, tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]]

    def adapter(self) -> BinanceAdapter:
        return BinanceAdapter(
            self.market,  # type: ignore[arg-type]
            {self.instrument.symbol: self.instrument},
            depth_stream=self.depth,
        )

    def snapshot(self, update_id: int, after_diff: int) -> BookSnapshot:
        """A REST snapshot stamped ``update_id`` holding the book after diff ``after_diff``."""
        bids, asks = self.books[after_diff]
        return BookSnapshot(self.instrument.symbol, update_id, 0, bids, asks)


_CAPTURES: dict[str, Capture] = {}


def _capture(market: str) -> Capture:
    """The capture's first lines and the reference book after each diff near ``K``."""
    if market in _CAPTURES:
        return _CAPTURES[market]
    instrument, name, depth = MARKETS[market]
    with gzip.open(CRYPTO / name, "rb") as f:
        lines = [f.readline() for _ in range(6000)]
    cap = Capture(market, instrument, depth, lines, [], {})
    ref = VenueBooks(cap.adapter())
    synced_at = None
    for i, line in enumerate(lines):
        ts, _, raw = line.partition(b" ")
        ref.feed(raw, int(ts))
        msg = orjson.loads(raw)
        data = msg.get("data", msg)
        if "lastUpdateId" in data:
            synced_at = i
        if synced_at is None or data.get("e") != "depthUpdate":
            continue
        cap.diffs.append(Diff(i, data["U"], data["u"], data.get("pu")))
        n = len(cap.diffs) - 1
        if K - BEFORE - 2 <= n <= K + AFTER + 2:
            book = ref.book(instrument.symbol)
            assert book is not None
            bids, asks = book.snapshot()
            cap.books[n] = (tuple(bids), tuple(asks))
    assert ref.stats.gaps == 0 and len(cap.diffs) > K + AFTER + 2
    _CAPTURES[market] = cap
    return cap


def _placement(cap: Capture, where: str) -> tuple[int, int]:
    """(lastUpdateId, the diff whose book the snapshot holds) for one placement."""
    d, before = cap.diffs[K], cap.diffs[K - 1]
    if where == "at_end_of_previous":  # L == u of the diff before K (futures: K's pu)
        return before.last, K - 1
    if where == "in_hole_before":  # futures: pu < L < U, no update of this symbol there
        assert d.prev is not None and d.first - d.prev > 2
        return (d.prev + d.first) // 2, K - 1
    if where == "at_first":  # L == U
        return d.first, K - 1
    if where == "inside":  # U < L < u (diff K's absolute levels finish the job)
        assert d.last - d.first > 2
        return (d.first + d.last) // 2, K - 1
    if where == "at_last":  # L == u: the USD-M case that never built before
        return d.last, K
    if where == "past_buffer":  # newer than every buffered diff; later ones continue
        return cap.diffs[K + BEFORE].last, K + BEFORE
    raise AssertionError(where)


PLACEMENTS = ["at_end_of_previous", "at_first", "inside", "at_last", "past_buffer"]
CASES = [
    *[pytest.param(m, w, id=f"{m}-{w}") for m in MARKETS for w in PLACEMENTS],
    *[pytest.param(m, "in_hole_before", id=f"{m}-in_hole_before") for m in ("usdm", "coinm")],
]


def _feed(books: VenueBooks, cap: Capture, lo: int, hi: int) -> None:
    """Feed capture lines ``lo:hi``, less bookTickers stamped strictly inside diff K.

    Those describe the book part-way through diff K, which no snapshot here can hold
    (the reference book is known at diff boundaries only), so a snapshot placed inside
    diff K is stamped with an id whose true book we do not have.
    """
    inside = range(cap.diffs[K].first, cap.diffs[K].last)
    for line in cap.lines[lo:hi]:
        ts, _, raw = line.partition(b" ")
        if b"bookTicker" in raw and orjson.loads(raw)["data"]["u"] in inside:
            continue
        books.feed(raw, int(ts))


@pytest.mark.parametrize("order", ["snapshot_after_diffs", "snapshot_first"])
@pytest.mark.parametrize(("market", "where"), CASES)
def test_every_snapshot_placement_joins_the_diff_stream(
    market: str, where: str, order: str
) -> None:
    cap = _capture(market)
    update_id, holds = _placement(cap, where)
    books = VenueBooks(cap.adapter())
    start = cap.diffs[K - BEFORE].line
    joined = cap.diffs[K + BEFORE].line + 1  # buffered before the snapshot arrives
    end = cap.diffs[K + AFTER].line + 1
    if order == "snapshot_after_diffs":
        _feed(books, cap, start, joined)
        assert books.apply_snapshot(cap.snapshot(update_id, holds))
        _feed(books, cap, joined, end)
    else:
        assert books.apply_snapshot(cap.snapshot(update_id, holds))
        _feed(books, cap, start, end)
    symbol = cap.instrument.symbol
    st = books.stats
    assert (st.gaps, st.resyncs, st.rejected, st.bad_messages) == (0, 0, 0, 0), books.builders[
        symbol
    ].last_error
    book = books.book(symbol)
    assert book is not None
    bids, asks = book.snapshot()
    assert (tuple(bids), tuple(asks)) == cap.books[K + AFTER]
    assert books.builders[symbol].last_seq == cap.diffs[K + AFTER].last
    assert st.ticker_mismatches == 0


@pytest.mark.parametrize("order", ["snapshot_after_diffs", "snapshot_first"])
@pytest.mark.parametrize("market", list(MARKETS))
def test_a_snapshot_older_than_every_diff_is_refused_and_the_next_good_one_rebuilds(
    market: str, order: str
) -> None:
    cap = _capture(market)
    first = cap.diffs[K - BEFORE]
    # Older than the first diff fed: spot misses U - 1; futures miss the diff ending at pu.
    too_old = (first.first - 2) if first.prev is None else first.prev - 1
    books = VenueBooks(cap.adapter())
    symbol = cap.instrument.symbol
    joined = cap.diffs[K + BEFORE].line + 1
    if order == "snapshot_after_diffs":
        _feed(books, cap, first.line, joined)
        assert not books.apply_snapshot(cap.snapshot(too_old, K - BEFORE - 1))
    else:
        books.apply_snapshot(cap.snapshot(too_old, K - BEFORE - 1))
        _feed(books, cap, first.line, joined)
    assert books.book(symbol) is None and symbol in books.needs_snapshot
    assert books.stats.gaps == 1
    # The resync: a snapshot at the last diff seen; what is buffered behind it applies.
    update_id, holds = cap.diffs[K + BEFORE].last, K + BEFORE
    assert books.apply_snapshot(cap.snapshot(update_id, holds))
    _feed(books, cap, joined, cap.diffs[K + AFTER].line + 1)
    book = books.book(symbol)
    assert book is not None and symbol not in books.needs_snapshot
    bids, asks = book.snapshot()
    assert (tuple(bids), tuple(asks)) == cap.books[K + AFTER]

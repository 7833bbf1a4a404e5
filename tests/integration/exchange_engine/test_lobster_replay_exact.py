"""After every message of every shipped LOBSTER file, our book's top levels equal the
orderbook file's row (not a sample: every row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.book import L2Book
from core.events import BookDelta, TradePrint
from core.instruments import Instrument
from exchange.data import lobster_message_files
from exchange.engine import CollectingMarketData, CollectingReports, MatchingEngine
from exchange.replay import LobsterReplayer, ReplaySimulator, default_impact, load_day
from exchange.replay.check import mismatched_rows, record_top_levels
from exchange.replay.impact import DEFAULT_KIND

FILES = lobster_message_files()


def test_all_three_sample_files_are_shipped() -> None:
    assert len(FILES) == 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).parent.name)
def test_every_row_matches_from_the_open(path: Path) -> None:
    day = load_day(path)
    top = record_top_levels(day)
    assert top.bid_px.shape == (len(day), day.levels)
    bad = mismatched_rows(day, top)
    assert bad.size == 0, f"{bad.size} rows differ, first at row {bad[:5]}"
    # The comparison is not vacuous: the book moves, and it is two-sided throughout.
    assert np.unique(top.bid_px[:, 0]).size > 50
    assert bool((top.ask_sz[:, 0] > 0).all())


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).parent.name)
def test_every_row_matches_from_mid_day_seeds(path: Path) -> None:
    day = load_day(path)
    n = len(day)
    for start in (n // 7, n // 2, n - 500):
        top = record_top_levels(day, start, min(n, start + 15_000))
        bad = mismatched_rows(day, top, start)
        assert bad.size == 0, f"seed {start}: first bad rows {bad[:5]}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).parent.name)
def test_unperturbed_replay_needs_no_adaptation(path: Path) -> None:
    day = load_day(path)
    engine = MatchingEngine([Instrument(day.symbol)], CollectingReports())
    rp = LobsterReplayer(day, engine)
    rp.seed(0)
    rp.run_to(len(day))
    assert rp.stats.messages == len(day) - 1
    assert rp.stats.adapted == 0 and rp.stats.dropped_qty == 0 and rp.stats.displaced_qty == 0
    assert rp.book.problems() == []
    # Every visible and hidden execution after the seed row printed once, at its
    # (tick-rounded) price.
    m = day.day.messages
    trades = (m.event == 4) | (m.event == 5)
    trades[0] = False  # message 0 is part of the seed row
    assert len(rp.book.tape) == int(trades.sum())
    assert rp.book.tape.qty == m.size[trades].tolist()
    assert rp.book.tape.price == m.price[trades].tolist()
    assert rp.book.tape.aggressor == (-m.direction[trades]).tolist()


def test_published_market_data_rebuilds_the_book_and_prints_every_trade() -> None:
    path = next(p for p in FILES if "AMZN_2012-06-21_5" in str(p))
    day = load_day(path)
    top = record_top_levels(day, 0, 40_000, publish=True)
    assert mismatched_rows(day, top).size == 0
    md = CollectingMarketData()
    engine = MatchingEngine([Instrument(day.symbol)], CollectingReports(), md)
    rp = LobsterReplayer(day, engine)
    rp.seed(0)
    snap = engine.snapshot(day.symbol)
    mirror = L2Book(day.symbol)
    mirror.apply_snapshot(snap.bids, snap.asks)
    rp.run_to(40_000)
    seqs = [e.seq for e in md.events]
    assert seqs == list(range(snap.seq + 1, snap.seq + 1 + len(seqs)))
    prints = 0
    for ev in md.events:
        if isinstance(ev, BookDelta):
            mirror.apply_batch(ev.changes, ev.ts_ns)
        else:
            assert isinstance(ev, TradePrint)
            prints += 1
    assert mirror.snapshot() == rp.book.l2.snapshot()
    m = day.day.messages
    assert prints == int(((m.event[1:40_000] == 4) | (m.event[1:40_000] == 5)).sum())


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).parent.name)
def test_the_default_impact_model_without_agent_orders_stays_row_exact(path: Path) -> None:
    """The simulator as training and the exchange run it (square-root impact on), with
    no order of ours: after every timestamp its book equals the file's row."""
    day = load_day(path)
    sim = ReplaySimulator(day, impact=default_impact(DEFAULT_KIND, day.symbol))
    sim.reset(day.start_ns, day.end_ns)
    ts = day.ts
    last_of_ts = np.flatnonzero(np.diff(ts) != 0)  # the last row of each timestamp
    last_of_ts = last_of_ts[last_of_ts > 0]
    book = day.day.book
    l2 = sim.order_book.l2
    levels = day.levels
    for i in last_of_ts.tolist():
        sim.advance_to(int(ts[i]))
        bids = l2.bid_prices[-levels:][::-1]
        asks = l2.ask_prices[:levels]
        want_b = [int(p) for p in book.bid_px[i] if p > 0]
        want_a = [int(p) for p in book.ask_px[i] if p > 0]
        assert bids == want_b and asks == want_a, f"row {i}"
        assert [l2.bid_sizes[p] for p in bids] == book.bid_sz[i, : len(bids)].tolist()
        assert [l2.ask_sizes[p] for p in asks] == book.ask_sz[i, : len(asks)].tolist()
    assert sim.shifts == 0 and sim.offset == 0 and sim.stats.adapted == 0

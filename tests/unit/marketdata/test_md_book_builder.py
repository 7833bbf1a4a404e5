"""Book builder: snapshot + sequenced deltas, buffering, gaps and refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.events import BookDelta, BookSnapshot
from core.types import Side
from gateways.marketdata.book_builder import BookBuilder, Outcome
from gateways.marketdata.sequencing import PREV_ID, RANGE, Verdict

B, S = Side.BUY, Side.SELL


# ------------------------------------------------------------------ rules
@pytest.mark.parametrize(
    ("last_seq", "first", "last", "verdict"),
    [
        (10, 11, 11, Verdict.APPLY),  # contiguous
        (10, 9, 12, Verdict.APPLY),  # straddles (Binance spot first diff after snapshot)
        (10, 5, 10, Verdict.STALE),  # already reflected
        (10, 10, 10, Verdict.STALE),
        (10, 12, 12, Verdict.GAP),  # 11 missing
    ],
)
def test_range_rule(last_seq: int, first: int, last: int, verdict: Verdict) -> None:
    assert RANGE.check(last_seq, False, first, last, None) is verdict


@pytest.mark.parametrize(
    ("last_seq", "fresh", "first", "last", "prev", "verdict"),
    [
        (100, True, 95, 105, 90, Verdict.APPLY),  # straddles the snapshot id
        (100, True, 101, 105, 99, Verdict.APPLY),  # starts right after it
        (100, True, 102, 105, 101, Verdict.GAP),  # snapshot too old
        (100, True, 90, 99, 80, Verdict.STALE),  # u < L: dropped
        (100, True, 90, 100, 80, Verdict.APPLY),  # u == L: Binance applies it (futures)
        (100, True, 130, 140, 100, Verdict.APPLY),  # pu == L: chains onto the snapshot
        (100, True, 130, 140, 95, Verdict.APPLY),  # pu < L < U: L in a hole of the ids
        (100, True, 101, 140, None, Verdict.APPLY),  # no pu, contiguous
        (100, True, 103, 140, None, Verdict.GAP),  # no pu, not contiguous
        (100, False, 101, 110, 100, Verdict.APPLY),  # pu == last u
        (100, False, 103, 110, 102, Verdict.GAP),  # pu != last u
        (100, False, 101, 110, None, Verdict.GAP),  # no pu: cannot place it
    ],
)
def test_prev_id_rule(
    last_seq: int, fresh: bool, first: int, last: int, prev: int | None, verdict: Verdict
) -> None:
    assert PREV_ID.check(last_seq, fresh, first, last, prev) is verdict


# ---------------------------------------------------------------- builder
def _snap(seq: int = 10) -> BookSnapshot:
    return BookSnapshot("X", seq, 0, ((100, 5), (99, 3)), ((101, 4), (102, 6)))


def test_snapshot_then_contiguous_deltas() -> None:
    b = BookBuilder("X")
    assert b.on_snapshot(_snap()) is Outcome.APPLIED
    assert b.synced and b.last_seq == 10
    assert b.on_delta(BookDelta("X", 11, 1, ((B, 100, 7),))) is Outcome.APPLIED
    assert b.on_delta(BookDelta("X", 12, 2, ((S, 101, 0), (B, 98, 1)))) is Outcome.APPLIED
    assert b.book.best_bid_size == 7
    assert b.book.best_ask == 102
    assert b.book.level_count(B) == 3
    assert b.applied == 2


def test_deltas_before_the_snapshot_are_buffered_and_stale_ones_dropped() -> None:
    b = BookBuilder("X")
    assert b.on_delta(BookDelta("X", 9, 0, ((B, 100, 1),))) is Outcome.BUFFERED
    assert b.on_delta(BookDelta("X", 11, 0, ((B, 100, 8),))) is Outcome.BUFFERED
    assert b.buffered == 2
    assert b.on_snapshot(_snap(10)) is Outcome.APPLIED
    assert b.book.best_bid_size == 8  # 9 was stale (in the snapshot), 11 applied
    assert b.last_seq == 11 and b.stale == 1 and b.buffered == 0


def test_gap_drops_the_book_and_keeps_the_revealing_delta() -> None:
    b = BookBuilder("X")
    b.on_snapshot(_snap(10))
    assert b.on_delta(BookDelta("X", 12, 0, ((B, 100, 9),))) is Outcome.GAP
    assert not b.synced and b.gaps == 1
    assert b.book.best_bid is None  # dropped, never half-trusted
    assert "gap" in b.last_error
    assert b.on_delta(BookDelta("X", 13, 0, ((B, 100, 10),))) is Outcome.BUFFERED
    # A fresh snapshot at 12 makes the buffered 12 stale and applies 13.
    assert b.on_snapshot(_snap(12)) is Outcome.APPLIED
    assert b.book.best_bid_size == 10 and b.last_seq == 13


def test_snapshot_older_than_the_buffer_is_a_gap_and_keeps_the_buffer() -> None:
    b = BookBuilder("X")
    for seq in (20, 21, 22):
        b.on_delta(BookDelta("X", seq, 0, ((B, 100, seq),)))
    assert b.on_snapshot(_snap(10)) is Outcome.GAP  # 11..19 missing
    assert not b.synced and b.buffered == 3
    assert b.on_snapshot(_snap(19)) is Outcome.APPLIED
    assert b.book.best_bid_size == 22


def test_crossing_delta_is_refused_and_drops_the_book() -> None:
    b = BookBuilder("X")
    b.on_snapshot(_snap())
    assert b.on_delta(BookDelta("X", 11, 0, ((B, 101, 1),))) is Outcome.REJECTED
    assert not b.synced and b.rejected == 1 and "cross" in b.last_error


@pytest.mark.parametrize(
    "changes",
    [
        ((B, 100.5, 1),),
        ((B, 100, -1),),
        ((B, 0, 1),),
        ((B, "100", 1),),
        (("x", 100, 1),),
        ((B, 100),),
    ],
)
def test_malformed_delta_is_refused(changes: tuple) -> None:  # type: ignore[type-arg]
    b = BookBuilder("X")
    b.on_snapshot(_snap())
    assert b.apply(11, 11, None, changes) is Outcome.REJECTED
    assert not b.synced


def test_crossed_snapshot_is_refused() -> None:
    b = BookBuilder("X")
    bad = BookSnapshot("X", 5, 0, ((102, 1),), ((101, 1),))
    assert b.on_snapshot(bad) is Outcome.REJECTED
    assert not b.synced


def test_buffer_is_bounded() -> None:
    b = BookBuilder("X", max_buffer=3)
    for seq in range(1, 10):
        b.on_delta(BookDelta("X", seq, 0, ((B, 100, seq),)))
    assert b.buffered == 3


def test_prev_id_feed_with_binance_futures_numbers() -> None:
    b = BookBuilder("X", PREV_ID)
    b.on_snapshot(_snap(1000))
    assert b.apply(990, 1005, 985, ((B, 100, 1),)) is Outcome.APPLIED
    assert b.apply(1006, 1010, 1005, ((B, 100, 2),)) is Outcome.APPLIED
    assert b.apply(1012, 1020, 1011, ((B, 100, 3),)) is Outcome.GAP


# ---------------------------------------------------- model-based property
@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from([B, S]),
            st.integers(min_value=1, max_value=8),  # distance from the mid, in ticks
            st.integers(min_value=0, max_value=20),
            st.booleans(),  # delivered (False: lost on the way)
        ),
        min_size=1,
        max_size=60,
    )
)
def test_builder_never_applies_past_a_lost_delta(ops: list[tuple[Side, int, int, bool]]) -> None:
    """A reference book receives every delta; the builder only the delivered ones.
    Whenever the builder says it is synced, its book must equal the reference at the
    builder's sequence number; a loss followed by any delivery must be noticed."""
    ref = BookBuilder("X")
    got = BookBuilder("X")
    snap = BookSnapshot("X", 0, 0, ((100, 5),), ((110, 5),))
    ref.on_snapshot(snap)
    got.on_snapshot(snap)
    states = {0: ref.book.snapshot()}
    lost_seen = False
    for seq, (side, dist, size, delivered) in enumerate(ops, 1):
        price = 105 - dist if side is B else 105 + dist
        delta = BookDelta("X", seq, 0, ((side, price, size),))
        assert ref.on_delta(delta) is Outcome.APPLIED
        states[seq] = ref.book.snapshot()
        if not delivered:
            lost_seen = True
            continue
        outcome = got.on_delta(delta)
        if lost_seen:
            assert outcome is not Outcome.APPLIED
            assert not got.synced
        if got.synced:
            assert got.book.snapshot() == states[got.last_seq]
    first_lost = next((i for i, op in enumerate(ops) if not op[3]), None)
    noticed = first_lost is not None and any(op[3] for op in ops[first_lost:])
    assert got.gaps == (1 if noticed else 0)  # after the gap it only buffers


def test_apply_next_fast_path_and_its_fallbacks() -> None:
    b = BookBuilder("X")
    assert b.apply_next(1, B, 100, 1) is Outcome.BUFFERED  # no snapshot yet
    b.on_snapshot(_snap(10))
    assert b.apply_next(11, B, 100, 9) is Outcome.APPLIED
    assert b.book.best_bid_size == 9 and b.last_seq == 11
    assert b.apply_next(11, B, 100, 1) is Outcome.STALE
    assert b.apply_next(12, B, 102, 1) is Outcome.REJECTED  # would cross
    assert not b.synced
    b.on_snapshot(_snap(20))
    assert b.apply_next(22, B, 100, 1) is Outcome.GAP
    assert b.gaps == 1 and b.rejected == 1


def test_builder_follows_the_matching_engines_replay_output() -> None:
    """The engine's market data (LOBSTER replay, deltas and trades sharing one
    sequence) rebuilds the engine's own book exactly."""
    from decimal import Decimal

    from core.instruments import Instrument
    from exchange.data import lobster_message_file
    from exchange.engine import CollectingMarketData
    from exchange.replay import ReplaySimulator, load_day

    md = CollectingMarketData()
    day = load_day(lobster_message_file("AMZN", "2012-06-21", 5), Decimal("0.01"))
    sim = ReplaySimulator(day, instrument=Instrument("AMZN"), market_data=md)
    start = day.day.day_start_ns + 36_000 * 10**9
    sim.reset(start, start + 120 * 10**9)
    b = BookBuilder("AMZN")
    b.on_snapshot(sim.engine.snapshot("AMZN"))
    sim.advance_to(start + 120 * 10**9)
    assert len(md.events) > 1000
    for e in md.events:
        outcome = b.on_delta(e) if isinstance(e, BookDelta) else b.apply(e.seq, e.seq, None, ())
        assert outcome is Outcome.APPLIED
    assert b.book.snapshot() == sim.book.snapshot()

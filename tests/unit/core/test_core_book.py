"""L2 book: matches a naive reference on random deltas; refuses crossed/malformed updates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.book import L2Book
from core.errors import BookError
from core.types import Side


class NaiveBook:
    """The obviously-correct reference: two dicts, everything recomputed by sorting."""

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def would_cross(self, side: Side, price: int, size: int) -> bool:
        if size == 0:
            return False
        if side is Side.BUY:
            return bool(self.asks) and price >= min(self.asks)
        return bool(self.bids) and price <= max(self.bids)

    def apply(self, side: Side, price: int, size: int) -> None:
        levels = self.bids if side is Side.BUY else self.asks
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)

    def depth(self, side: Side, n: int) -> list[tuple[int, int]]:
        if side is Side.BUY:
            return sorted(self.bids.items(), reverse=True)[:n]
        return sorted(self.asks.items())[:n]


def book_with(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> L2Book:
    b = L2Book("AMZN")
    b.apply_snapshot(bids, asks)
    return b


def test_snapshot_and_top_of_book_queries() -> None:
    b = book_with([(100, 5), (99, 7), (98, 1)], [(102, 3), (103, 4)])
    assert (b.best_bid, b.best_ask, b.spread, b.mid) == (100, 102, 2, 101.0)
    assert (b.best_bid_size, b.best_ask_size) == (5, 3)
    assert b.depth(Side.BUY, 2) == [(100, 5), (99, 7)]
    assert b.depth(Side.SELL, 5) == [(102, 3), (103, 4)]
    assert b.imbalance(1) == pytest.approx((5 - 3) / 8)
    assert b.imbalance(2) == pytest.approx((12 - 7) / 19)
    # microprice leans toward the ask when the bid is heavier
    assert b.microprice() == pytest.approx((100 * 3 + 102 * 5) / 8)
    assert b.cost_to_fill(Side.BUY, 5) == (5, 3 * 102 + 2 * 103)
    assert b.cost_to_fill(Side.SELL, 100) == (13, 5 * 100 + 7 * 99 + 98)


def test_empty_book_queries_are_none_or_zero() -> None:
    b = L2Book()
    assert b.best_bid is None and b.best_ask is None
    assert b.spread is None and b.mid is None and b.microprice() is None
    assert b.imbalance(5) == 0.0
    assert b.depth(Side.BUY, 3) == []


def test_delta_removes_level_and_next_best_takes_over() -> None:
    b = book_with([(100, 5), (99, 7)], [(102, 3)])
    b.apply_delta(Side.BUY, 100, 0)
    assert b.best_bid == 99
    b.apply_delta(Side.BUY, 42, 0)  # removing an absent level is a no-op
    assert b.level_count(Side.BUY) == 1


@pytest.mark.parametrize(
    ("side", "price", "size", "match"),
    [
        (Side.BUY, 102, 1, "would cross best ask 102"),
        (Side.BUY, 105, 1, "would cross"),
        (Side.SELL, 100, 1, "would cross best bid 100"),
        (Side.BUY, 99, -1, "must be >= 0"),
        (Side.BUY, 0, 1, "must be > 0 ticks"),
        (Side.SELL, 101, 1.5, "must be an integer"),
        (Side.SELL, 101.0, 1, "integer number of ticks"),
    ],
)
def test_bad_delta_is_refused_and_book_unchanged(
    side: Side, price: int, size: int, match: str
) -> None:
    b = book_with([(100, 5)], [(102, 3)])
    before = b.snapshot()
    with pytest.raises(BookError, match=match):
        b.apply_delta(side, price, size)
    assert b.snapshot() == before


def test_crossed_or_malformed_snapshot_is_refused() -> None:
    b = book_with([(100, 5)], [(102, 3)])
    with pytest.raises(BookError, match="snapshot is crossed"):
        b.apply_snapshot([(103, 1)], [(102, 1)])
    with pytest.raises(BookError, match="appears twice"):
        b.apply_snapshot([(99, 1), (99, 2)], [(102, 1)])
    with pytest.raises(BookError, match="not \\(price, size\\)"):
        b.apply_snapshot([(99,)], [])  # type: ignore[list-item]
    assert b.snapshot() == ([(100, 5)], [(102, 3)])


def test_batch_may_cross_midway_but_not_at_the_end() -> None:
    b = book_with([(100, 5)], [(102, 3)])
    # moving the market up: the new bid crosses the old ask until the ask moves
    b.apply_batch([(Side.BUY, 102, 4), (Side.SELL, 102, 0), (Side.SELL, 104, 2)])
    assert (b.best_bid, b.best_ask) == (102, 104)
    before = b.snapshot()
    with pytest.raises(BookError, match="nothing applied"):
        b.apply_batch([(Side.SELL, 105, 9), (Side.BUY, 104, 1)])
    assert b.snapshot() == before


delta = st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(90, 110), st.integers(0, 50))


@settings(max_examples=300, deadline=None)
@given(st.lists(delta, max_size=120))
def test_random_deltas_match_naive_reference_at_every_step(
    deltas: list[tuple[Side, int, int]],
) -> None:
    book, ref = L2Book(), NaiveBook()
    for side, price, size in deltas:
        if ref.would_cross(side, price, size):
            with pytest.raises(BookError):
                book.apply_delta(side, price, size)
        else:
            book.apply_delta(side, price, size)
            ref.apply(side, price, size)
        for s in (Side.BUY, Side.SELL):
            assert book.depth(s, 100) == ref.depth(s, 100)
        assert book.best_bid == (max(ref.bids) if ref.bids else None)
        assert book.best_ask == (min(ref.asks) if ref.asks else None)
        assert book.volume(Side.BUY, 3) == sum(s for _, s in ref.depth(Side.BUY, 3))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(delta, min_size=1, max_size=6), max_size=40))
def test_random_batches_are_atomic(batches: list[list[tuple[Side, int, int]]]) -> None:
    book, ref = L2Book(), NaiveBook()
    for batch in batches:
        trial = NaiveBook()
        trial.bids, trial.asks = dict(ref.bids), dict(ref.asks)
        for d in batch:
            trial.apply(*d)
        crossed = bool(trial.bids and trial.asks and max(trial.bids) >= min(trial.asks))
        if crossed:
            with pytest.raises(BookError):
                book.apply_batch(batch)
        else:
            book.apply_batch(batch)
            ref = trial
        assert book.snapshot(200) == (ref.depth(Side.BUY, 200), ref.depth(Side.SELL, 200))

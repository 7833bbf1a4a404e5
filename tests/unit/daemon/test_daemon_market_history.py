"""A live parent's features start from the market's last ``lookback`` intervals, sampled
at the times the training environment samples them (``policies.env``): the intervals
``start - (lookback - k) x interval``, each interval's trades fed before its sample."""

from __future__ import annotations

import random

import pytest

from core.book import L2Book
from core.events import TradePrint
from core.types import Side
from daemon.market_history import MarketHistory
from policies.market_state import MarketState

S = 1_000_000_000
INTERVAL = 5 * S
LOOKBACK = 4


def _market_tape(
    seed: int, t0: int, t1: int
) -> tuple[list[tuple[int, int, int]], list[TradePrint]]:
    """Book changes (time, bid, ask) and trades at random times between t0 and t1."""
    rng = random.Random(seed)
    books, trades = [], []
    t, bid = t0, 10_000
    while t < t1:
        t += rng.randrange(1, 3 * S)
        bid += rng.choice((-1, 0, 1))
        books.append((t, bid, bid + rng.choice((1, 2))))
        if rng.random() < 0.6:
            side = rng.choice((Side.BUY, Side.SELL))
            price = bid + 1 if side is Side.BUY else bid
            trades.append(TradePrint("AMZN", len(trades), t, price, rng.randrange(1, 300), side))
    return books, trades


def _state(market: MarketState, book: L2Book) -> tuple[float, ...]:
    return (
        market.mean_spread(book),
        market.mean_depth(book),
        market.realized_vol_ticks(book),
        market.volume_rate(),
        market.signed_fraction(),
    )


def _feed(
    history: MarketHistory, books: list[tuple[int, int, int]], trades: list[TradePrint]
) -> L2Book:
    book = L2Book("AMZN")
    events = [(t, 0, (b, a)) for t, b, a in books] + [(tp.ts_ns, 1, tp) for tp in trades]
    for t, kind, what in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            bid, ask = what  # type: ignore[misc]
            book.apply_snapshot([(bid, 100 + bid % 7)], [(ask, 90 + ask % 5)], t)
            history.on_book(book)
        else:
            history.on_trade(what)  # type: ignore[arg-type]
    return book


def _reference(
    books: list[tuple[int, int, int]], trades: list[TradePrint], now: int
) -> MarketState:
    """The environment's way: the market replayed to each sample time, then sampled."""
    market = MarketState(INTERVAL, LOOKBACK)
    start = now - LOOKBACK * INTERVAL
    for k in range(1, LOOKBACK + 1):
        t_k = start + k * INTERVAL
        for tp in trades:
            if t_k - INTERVAL < tp.ts_ns <= t_k or (k == 1 and tp.ts_ns == start):
                market.on_trade(tp.price, tp.qty, tp.aggressor)
        book = L2Book("AMZN")
        seen = [(t, b, a) for t, b, a in books if t <= t_k]
        if seen:
            _, bid, ask = seen[-1]
            book.apply_snapshot([(bid, 100 + bid % 7)], [(ask, 90 + ask % 5)], t_k)
        market.sample(book)
    return market


@pytest.mark.parametrize("seed", range(5))
def test_a_parent_starts_with_the_market_statistics_the_environment_would_have_sampled(
    seed: int,
) -> None:
    now = 200 * S
    books, trades = _market_tape(seed, 0, now)
    history = MarketHistory("AMZN", keep_ns=120 * S)
    book = _feed(history, books, trades)
    warmed = MarketState(INTERVAL, LOOKBACK)

    sampled = history.warm(warmed, now, INTERVAL, LOOKBACK)

    assert sampled == LOOKBACK
    assert _state(warmed, book) == pytest.approx(_state(_reference(books, trades, now), book))


def test_a_node_that_watched_the_market_only_briefly_warms_with_the_whole_intervals_it_saw() -> (
    None
):
    now = 100 * S
    books, trades = _market_tape(7, now - 12 * S, now)  # 12 s: two whole 5 s intervals
    history = MarketHistory("AMZN", keep_ns=120 * S)
    _feed(history, books, trades)

    assert history.warm(MarketState(INTERVAL, LOOKBACK), now, INTERVAL, LOOKBACK) == 2


def test_a_node_that_saw_no_book_does_not_warm() -> None:
    assert MarketHistory("AMZN", S).warm(MarketState(INTERVAL, LOOKBACK), 10 * S, INTERVAL, 4) == 0


def test_the_history_forgets_what_is_older_than_it_keeps_but_not_the_book_in_force() -> None:
    history = MarketHistory("AMZN", keep_ns=10 * S)
    book = L2Book("AMZN")
    book.apply_snapshot([(100, 5)], [(101, 5)], 1 * S)
    history.on_book(book)
    book.apply_snapshot([(99, 5)], [(101, 5)], 50 * S)
    history.on_book(book)

    assert history.top_at(45 * S) == (100, 5, 101, 5)  # still the book in force then
    assert history.top_at(55 * S) == (99, 5, 101, 5)


def test_a_history_that_keeps_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="keep_ns"):
        MarketHistory("AMZN", 0)

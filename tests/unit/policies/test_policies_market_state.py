"""Market statistics kept incrementally equal, bit for bit, the statistics recomputed from
the raw samples (the features a policy was trained on must not move)."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from core.book import L2Book
from core.types import Side
from policies.market_state import MarketState

IV = 5_000_000_000


def _book(bid: int, ask: int, bsz: int, asz: int, one_sided: bool) -> L2Book:
    b = L2Book("X")
    b.apply_snapshot([(bid, bsz)], [] if one_sided else [(ask, asz)])
    return b


def _reference(
    history: list[L2Book], now: L2Book, trades: list[list[tuple[int, int, Side]]], lookback: int
) -> tuple[float, float, float, float]:
    """The statistics recomputed from scratch the way the features define them."""
    mids = [b.mid for b in history if b.mid is not None][-(lookback + 1) :]
    spreads = [sp for b in history if (sp := b.spread) is not None][-lookback:]
    vols = [sum(q for _, q, _ in iv) for iv in trades[:-1]][-lookback:]
    signed = [sum(q if a is Side.BUY else -q for _, q, a in iv) for iv in trades[:-1]][-lookback:]
    open_vol = sum(q for _, q, _ in trades[-1])
    open_signed = sum(q if a is Side.BUY else -q for _, q, a in trades[-1])
    pts = mids + ([now.mid] if now.mid is not None else [])
    acc = 0.0
    for a, b in itertools.pairwise(pts):
        acc += (b - a) * (b - a)
    vol = math.sqrt(acc / (len(pts) - 1)) if len(pts) >= 2 else 0.0
    total = sum(vols) + open_vol
    rate = total / ((len(vols) + 1) * IV / 1e9)
    frac = (sum(signed) + open_signed) / total if total else 0.0
    spread = (
        max(1.0, sum(spreads) / len(spreads))
        if spreads
        else (float(now.spread) if now.spread else 1.0)
    )
    return vol, rate, frac, spread


books = st.builds(
    _book,
    st.integers(1000, 1010),
    st.integers(1011, 1030),
    st.integers(1, 900),
    st.integers(1, 900),
    st.sampled_from([False, False, False, True]),  # sometimes one-sided: no mid
)
trade = st.tuples(
    st.integers(990, 1040), st.integers(1, 500), st.sampled_from([Side.BUY, Side.SELL])
)


@settings(max_examples=60, deadline=None)
@given(
    lookback=st.integers(2, 6),
    steps=st.lists(st.tuples(books, st.lists(trade, max_size=4)), min_size=1, max_size=20),
    now=books,
    open_trades=st.lists(trade, max_size=4),
)
def test_incremental_statistics_equal_the_recomputed_ones(
    lookback: int,
    steps: list[tuple[L2Book, list[tuple[int, int, Side]]]],
    now: L2Book,
    open_trades: list[tuple[int, int, Side]],
) -> None:
    ms = MarketState(IV, lookback)
    history: list[L2Book] = []
    trades: list[list[tuple[int, int, Side]]] = []
    for book, iv in steps:
        for price, qty, aggressor in iv:
            ms.on_trade(price, qty, aggressor)
        ms.sample(book)
        history.append(book)
        trades.append(iv)
    for price, qty, aggressor in open_trades:
        ms.on_trade(price, qty, aggressor)
    trades.append(open_trades)
    vol, rate, frac, spread = _reference(history, now, trades, lookback)
    assert ms.realized_vol_ticks(now) == vol
    assert ms.volume_rate() == rate
    assert ms.signed_fraction() == frac
    assert ms.mean_spread(now) == spread
    assert ms.traded_at == _traded_at(open_trades)


def _traded_at(iv: list[tuple[int, int, Side]]) -> dict[tuple[Side, int], int]:
    out: dict[tuple[Side, int], int] = {}
    for price, qty, aggressor in iv:
        key = (aggressor.opposite, price)
        out[key] = out.get(key, 0) + qty
    return out

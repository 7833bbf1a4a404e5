"""The market without us: the mid path of the replay with none of our orders in it.

A LOBSTER replay that carries no orders of ours reproduces the orderbook file row for
row (tests/integration/exchange_engine/test_lobster_replay_exact.py), so the
counterfactual mid at any time is simply the file's: the touch after the last message at
or before that time. Impact cost is measured against this path, not against an impact
model's own idea of what it added, so it covers everything our orders did to the book
(the model's shift, the liquidity we took, the quotes we improved).

The same file gives the conditions each parent order arrived into (spread, volatility,
touch depth over the minutes before it), which the report breaks costs down by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from exchange.replay.prepared import PreparedDay

NS_PER_S = 1_000_000_000
REGIME_LOOKBACK_S = 300  # minutes of market before an order that describe its conditions
REGIME_GRID_S = 5  # sampling step of that look back


@dataclass(frozen=True, slots=True)
class ArrivalConditions:
    """The market an order arrived into, over the look back before its start."""

    spread_ticks: float  # mean quoted spread
    volatility_bps: float  # mid volatility, bps per square root of a minute
    depth: float  # mean size at the touch, average of bid and ask, shares


class FileMidPath:
    """Mids of a LOBSTER day at any time, as the replay alone shows them."""

    def __init__(self, day: PreparedDay) -> None:
        book = day.day.book
        ask = book.ask_px[:, 0].astype(np.float64)
        bid = book.bid_px[:, 0].astype(np.float64)
        ok = (ask > 0) & (bid > 0)
        if not ok.any():
            raise ValueError(f"{day.day.name}: the orderbook file never shows a two-sided book")
        # a one-sided row carries the last two-sided mid forward (the first ones the
        # first two-sided mid), as a trader's screen would
        idx = np.where(ok, np.arange(len(ok)), 0)
        np.maximum.accumulate(idx, out=idx)
        first = int(np.argmax(ok))
        idx[: first + 1] = first
        self._ts = day.ts
        self._mid = ((ask + bid) / 2.0)[idx]
        self._spread = (ask - bid)[idx]
        self._depth = ((book.ask_sz[:, 0] + book.bid_sz[:, 0]) / 2.0)[idx]

    def _rows(self, ts_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        """The orderbook row in force at each time: after every message at or before it."""
        rows = np.searchsorted(self._ts, ts_ns, side="right") - 1
        return np.maximum(rows, 0)

    def mid_at(self, ts_ns: int) -> float:
        return float(self._mid[self._rows(np.asarray([ts_ns], dtype=np.int64))[0]])

    def conditions(self, start_ns: int, day_open_ns: int) -> ArrivalConditions:
        """Spread, volatility and depth over the look back before ``start_ns`` (shorter
        near the open: never before ``day_open_ns``)."""
        lo = max(day_open_ns, start_ns - REGIME_LOOKBACK_S * NS_PER_S)
        step = REGIME_GRID_S * NS_PER_S
        grid = np.arange(lo, start_ns + 1, step, dtype=np.int64)
        if len(grid) < 2:
            grid = np.asarray([lo, start_ns], dtype=np.int64)
        rows = self._rows(grid)
        ret = np.diff(np.log(self._mid[rows])) * 1e4
        seconds = float(grid[-1] - grid[0]) / NS_PER_S
        vol = math.sqrt(float(np.sum(ret**2)) / seconds * 60.0) if seconds > 0 else 0.0
        return ArrivalConditions(
            spread_ticks=float(np.mean(self._spread[rows])),
            volatility_bps=vol,
            depth=float(np.mean(self._depth[rows])),
        )

"""Rolling market statistics sampled at decision times, fed by trades and the book.

Both the environment and the daemon feed every public trade to :meth:`on_trade` and
call :meth:`sample` once per decision with the current book. Statistics are kept over
the last ``lookback`` decision intervals, so they mean the same thing whether a
decision saw three book updates or three hundred: that is what lets a policy trained
in the replay serve live unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections import deque

from core.book import L2Book
from core.types import Side


class MarketState:
    __slots__ = (
        "_iv_signed",
        "_iv_volume",
        "_mids",
        "_samples_depth",
        "_samples_signed",
        "_samples_spread",
        "_samples_volume",
        "cum_volume",
        "interval_ns",
        "lookback",
        "traded_at",
    )

    def __init__(self, interval_ns: int, lookback: int = 12) -> None:
        if interval_ns <= 0 or lookback < 2:
            raise ValueError(
                f"need interval_ns > 0 and lookback >= 2, got {interval_ns}, {lookback}"
            )
        self.interval_ns = interval_ns
        self.lookback = lookback
        self.cum_volume = 0  # every unit the market traded since reset
        self._iv_volume = 0
        self._iv_signed = 0
        # volume that traded against resting orders at each (resting side, price) since
        # the last sample: what moves a queue position forward
        self.traded_at: dict[tuple[Side, int], int] = {}
        self._mids: deque[float] = deque(maxlen=lookback + 1)
        self._samples_volume: deque[int] = deque(maxlen=lookback)
        self._samples_signed: deque[int] = deque(maxlen=lookback)
        self._samples_spread: deque[int] = deque(maxlen=lookback)
        self._samples_depth: deque[float] = deque(maxlen=lookback)

    def on_trade(self, price: int, qty: int, aggressor: Side) -> None:
        self.cum_volume += qty
        self._iv_volume += qty
        self._iv_signed += qty if aggressor is Side.BUY else -qty
        key = (aggressor.opposite, price)
        self.traded_at[key] = self.traded_at.get(key, 0) + qty

    def sample(self, book: L2Book) -> None:
        """Close the current interval; call once per decision, after features are built."""
        mid = book.mid
        if mid is not None:
            self._mids.append(mid)
            spread = book.spread
            self._samples_spread.append(spread if spread is not None else 1)
            self._samples_depth.append((book.best_bid_size + book.best_ask_size) / 2)
        self._samples_volume.append(self._iv_volume)
        self._samples_signed.append(self._iv_signed)
        self._iv_volume = 0
        self._iv_signed = 0
        self.traded_at.clear()

    # ------------------------------------------------------------ statistics
    def mean_spread(self, book: L2Book) -> float:
        """Average spread in ticks over the lookback (the current one when no history)."""
        if self._samples_spread:
            return max(1.0, sum(self._samples_spread) / len(self._samples_spread))
        s = book.spread
        return float(s) if s else 1.0

    def mean_depth(self, book: L2Book) -> float:
        if self._samples_depth:
            return max(1.0, sum(self._samples_depth) / len(self._samples_depth))
        return max(1.0, (book.best_bid_size + book.best_ask_size) / 2)

    def realized_vol_ticks(self, book: L2Book) -> float:
        """RMS mid change per decision interval, ticks, including the move to now."""
        mids = list(self._mids)
        mid = book.mid
        if mid is not None:
            mids.append(mid)
        if len(mids) < 2:
            return 0.0
        acc = 0.0
        for a, b in itertools.pairwise(mids):
            acc += (b - a) * (b - a)
        return math.sqrt(acc / (len(mids) - 1))

    def volume_rate(self) -> float:
        """Units per second over the lookback, the open interval included."""
        n = len(self._samples_volume)
        vol = sum(self._samples_volume) + self._iv_volume
        return vol / ((n + 1) * self.interval_ns / 1e9)

    def signed_fraction(self) -> float:
        """(buyer-initiated - seller-initiated) / total volume over the lookback, in [-1, 1]."""
        vol = sum(self._samples_volume) + self._iv_volume
        if vol == 0:
            return 0.0
        return (sum(self._samples_signed) + self._iv_signed) / vol

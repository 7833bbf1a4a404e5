"""Rolling market statistics sampled at decision times, fed by trades and the book.

Both the environment and the daemon feed every public trade to :meth:`on_trade` and
call :meth:`sample` once per decision with the current book. Statistics are kept over
the last ``lookback`` decision intervals, so they mean the same thing whether a
decision saw three book updates or three hundred: that is what lets a policy trained
in the replay serve live unchanged.
"""

from __future__ import annotations

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
        "_sq_moves",
        "_sum_signed",
        "_sum_spread",
        "_sum_volume",
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
        self._sq_moves: deque[float] = deque(maxlen=lookback)  # between consecutive mids
        self._samples_volume: deque[int] = deque(maxlen=lookback)
        self._samples_signed: deque[int] = deque(maxlen=lookback)
        self._samples_spread: deque[int] = deque(maxlen=lookback)
        self._samples_depth: deque[float] = deque(maxlen=lookback)
        # running sums of the integer samples (exact), so a decision does not re-add them
        self._sum_volume = 0
        self._sum_signed = 0
        self._sum_spread = 0

    def on_trade(self, price: int, qty: int, aggressor: Side) -> None:
        self.cum_volume += qty
        self._iv_volume += qty
        if aggressor is Side.BUY:
            self._iv_signed += qty
            key = (Side.SELL, price)  # the resting side it traded against
        else:
            self._iv_signed -= qty
            key = (Side.BUY, price)
        traded_at = self.traded_at
        traded_at[key] = traded_at.get(key, 0) + qty

    def sample(self, book: L2Book) -> None:
        """Close the current interval; call once per decision, after features are built."""
        mid = book.mid
        if mid is not None:
            mids = self._mids
            if mids:
                d = mid - mids[-1]
                self._sq_moves.append(d * d)  # drops the oldest move with the oldest mid
            mids.append(mid)
            spread = book.spread
            self._sum_spread += _push(self._samples_spread, spread if spread is not None else 1)
            self._samples_depth.append((book.best_bid_size + book.best_ask_size) / 2)
        self._sum_volume += _push(self._samples_volume, self._iv_volume)
        self._sum_signed += _push(self._samples_signed, self._iv_signed)
        self._iv_volume = 0
        self._iv_signed = 0
        self.traded_at.clear()

    # ------------------------------------------------------------ statistics
    def mean_spread(self, book: L2Book) -> float:
        """Average spread in ticks over the lookback (the current one when no history)."""
        if self._samples_spread:
            return max(1.0, self._sum_spread / len(self._samples_spread))
        s = book.spread
        return float(s) if s else 1.0

    def mean_depth(self, book: L2Book) -> float:
        if self._samples_depth:
            return max(1.0, sum(self._samples_depth) / len(self._samples_depth))
        return max(1.0, (book.best_bid_size + book.best_ask_size) / 2)

    def realized_vol_ticks(self, book: L2Book) -> float:
        """RMS mid change per decision interval, ticks, including the move to now."""
        mids = self._mids
        mid = book.mid
        n = len(mids) + (mid is not None)
        if n < 2:
            return 0.0
        # the squared sampled moves, oldest first, then the move to now: the same sum,
        # added in the same order, as over the pairs of the mids
        acc = sum(self._sq_moves, 0.0)
        if mid is not None:
            d = mid - mids[-1]
            acc += d * d
        return math.sqrt(acc / (n - 1))

    def volume_rate(self) -> float:
        """Units per second over the lookback, the open interval included."""
        n = len(self._samples_volume)
        vol = self._sum_volume + self._iv_volume
        return vol / ((n + 1) * self.interval_ns / 1e9)

    def signed_fraction(self) -> float:
        """(buyer-initiated - seller-initiated) / total volume over the lookback, in [-1, 1]."""
        vol = self._sum_volume + self._iv_volume
        if vol == 0:
            return 0.0
        return (self._sum_signed + self._iv_signed) / vol


def _push(window: deque[int], value: int) -> int:
    """Append to a bounded window; returns the change of its sum."""
    out = window[0] if len(window) == window.maxlen else 0
    window.append(value)
    return value - out

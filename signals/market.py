"""What the models see of one symbol's market, kept up to date quote by quote.

One tracker per symbol. Training replays a LOBSTER day through it (the orderbook
file's touch after each message, the executions as trades); the daemon feeds it every
book frame and every public print. Everything the signal, volatility, regime and
anomaly models read comes from here, so what was trained on is what is served.

Statistics decay with *time*, not with the number of updates (exponentially weighted
over a time constant ``tau``): a burst of a hundred quotes in a millisecond weighs what
one quote held for that millisecond weighs. That is what lets a model fitted on one
feed's update rate serve on another's. Prices are integer ticks; every feature is in
units that transfer between tickers (mean spreads, mean touch depths, basis points).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from core.book import L2Book

NS_PER_S = 1_000_000_000
F64 = npt.NDArray[np.float64]

# time constants, seconds
TAU_OFI_FAST = 1.0
TAU_OFI_SLOW = 10.0
TAU_FLOW = 5.0
TAU_MID_FAST = 5.0
TAU_MID_SLOW = 60.0
TAU_LAST_MOVE = 2.0
TAU_SPREAD = 60.0  # the "mean spread" every price feature is measured in
TAU_DEPTH = 60.0
TAU_DEPTH_LONG = 1800.0
TAU_VOLUME_LONG = 300.0
TAU_CANCEL = 5.0
TAU_CANCEL_LONG = 300.0

RV_WINDOW_S = 1800  # per-second mid history kept for realised variance
RV_TRACKED_S = (60, 300, 1800)  # windows whose realised variance is kept as running sums
_RV_RESUM_EVERY = 3600  # recompute the running sums exactly this often (seconds)
LOG_FLOOR = 1e-6  # keeps log() of a zero size or rate finite


class MarketTracker:
    """Rolling, time-decayed statistics of one symbol's touch, trades and cancels.

    Feed :meth:`on_trade` before :meth:`on_quote` when both come from one venue
    message (a LOBSTER execution, or a frame carrying a print and the book it left), so
    a shrinking queue is not mistaken for a cancel.
    """

    def __init__(self) -> None:
        self.ts_ns = 0  # time of the last update
        self.started_ns = 0
        self.bid = 0
        self.ask = 0
        self.bid_size = 0
        self.ask_size = 0
        self.quotes = 0
        # event sums, decayed to ts_ns
        self._ofi_fast = 0.0
        self._ofi_slow = 0.0
        self._signed_vol = 0.0
        self._vol_fast = 0.0
        self._vol_long = 0.0
        self._cancel_fast = 0.0
        self._cancel_long = 0.0
        # time-weighted means, decayed to ts_ns
        self._spread = 0.0
        self._depth = 0.0
        self._depth_long = 0.0
        self._mid_fast = 0.0
        self._mid_slow = 0.0
        self._last_move = 0.0  # sign of the last mid change, decayed
        # trades since the last quote, per resting side, at the then best price
        self._traded_bid = 0
        self._traded_ask = 0
        # the mid at each whole second (the value that held at the boundary)
        self._sec_mid = np.zeros(RV_WINDOW_S + 1, dtype=np.float64)
        self._sec_count = 0  # seconds recorded so far
        self._sec_next = 0  # the next whole second, ns
        # squared one-second log returns (bps^2) and their running sums per tracked window
        self._sec_r2 = np.zeros(RV_WINDOW_S, dtype=np.float64)
        self._rv_sums = dict.fromkeys(RV_TRACKED_S, 0.0)

    # ------------------------------------------------------------------ feeds
    def on_trade(self, ts_ns: int, price: int, qty: int, aggressor_buy: bool) -> None:
        """A public print: ``aggressor_buy`` when a buyer crossed (it hit the ask)."""
        self._decay_events(ts_ns)
        self._signed_vol += qty if aggressor_buy else -qty
        self._vol_fast += qty
        self._vol_long += qty
        if aggressor_buy:
            if price == self.ask:
                self._traded_ask += qty
        elif price == self.bid:
            self._traded_bid += qty

    def on_book(self, book: L2Book, ts_ns: int) -> None:
        """The daemon's entry: the touch of a book after a frame (one-sided books skip)."""
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:
            return
        self.on_quote(ts_ns, bid, book.best_bid_size, ask, book.best_ask_size)

    def on_quote(self, ts_ns: int, bid: int, bid_size: int, ask: int, ask_size: int) -> None:
        """The touch after an update (prices in ticks, sizes in units)."""
        if self.quotes == 0:
            self._first_quote(ts_ns, bid, bid_size, ask, ask_size)
            return
        self._decay_events(ts_ns)
        pb, pbs, pa, pas = self.bid, self.bid_size, self.ask, self.ask_size
        if bid == pb and ask == pa and bid_size == pbs and ask_size == pas:
            return
        # order-flow imbalance at the touch (Cont, Kukanov & Stoikov 2014)
        e = 0
        if bid >= pb:
            e += bid_size
        if bid <= pb:
            e -= pbs
        if ask <= pa:
            e -= ask_size
        if ask >= pa:
            e += pas
        depth = self._depth if self._depth > 1.0 else 1.0
        self._ofi_fast += e / depth
        self._ofi_slow += e / depth
        # cancels: touch size that left without trading
        gone = 0
        if bid == pb:
            gone += max(0, pbs - bid_size - self._traded_bid)
        elif bid < pb:
            gone += max(0, pbs - self._traded_bid)
        if ask == pa:
            gone += max(0, pas - ask_size - self._traded_ask)
        elif ask > pa:
            gone += max(0, pas - self._traded_ask)
        if gone:
            self._cancel_fast += gone
            self._cancel_long += gone
        self._traded_bid = self._traded_ask = 0
        old_mid2 = pb + pa
        mid2 = bid + ask
        if mid2 != old_mid2:
            self._last_move = 1.0 if mid2 > old_mid2 else -1.0
        self.bid, self.bid_size, self.ask, self.ask_size = bid, bid_size, ask, ask_size
        self.quotes += 1

    def _first_quote(self, ts_ns: int, bid: int, bid_size: int, ask: int, ask_size: int) -> None:
        self.ts_ns = self.started_ns = ts_ns
        self.bid, self.bid_size, self.ask, self.ask_size = bid, bid_size, ask, ask_size
        mid = (bid + ask) / 2
        self._spread = float(ask - bid)
        self._depth = self._depth_long = (bid_size + ask_size) / 2
        self._mid_fast = self._mid_slow = mid
        self._sec_next = (ts_ns // NS_PER_S + 1) * NS_PER_S
        self.quotes = 1

    def _decay_events(self, ts_ns: int) -> None:
        """Bring every statistic forward to ``ts_ns`` under the quote that held until then."""
        dt_ns = ts_ns - self.ts_ns
        if dt_ns <= 0 or self.quotes == 0:
            return
        if ts_ns >= self._sec_next:
            self._record_seconds(ts_ns)
        dt = dt_ns / NS_PER_S
        exp = math.exp
        d_ofi_fast = exp(-dt / TAU_OFI_FAST)
        self._ofi_fast *= d_ofi_fast
        self._ofi_slow *= exp(-dt / TAU_OFI_SLOW)
        d_flow = exp(-dt / TAU_FLOW)
        self._signed_vol *= d_flow
        self._vol_fast *= d_flow
        self._vol_long *= exp(-dt / TAU_VOLUME_LONG)
        self._cancel_fast *= exp(-dt / TAU_CANCEL)
        self._cancel_long *= exp(-dt / TAU_CANCEL_LONG)
        self._last_move *= exp(-dt / TAU_LAST_MOVE)
        mid = (self.bid + self.ask) / 2
        d60 = exp(-dt / TAU_SPREAD)  # TAU_SPREAD == TAU_DEPTH == TAU_MID_SLOW
        self._spread = (self.ask - self.bid) + (self._spread - (self.ask - self.bid)) * d60
        depth = (self.bid_size + self.ask_size) / 2
        self._depth = depth + (self._depth - depth) * d60
        self._depth_long = depth + (self._depth_long - depth) * exp(-dt / TAU_DEPTH_LONG)
        self._mid_fast = mid + (self._mid_fast - mid) * exp(-dt / TAU_MID_FAST)
        self._mid_slow = mid + (self._mid_slow - mid) * d60
        self.ts_ns = ts_ns

    def _record_seconds(self, ts_ns: int) -> None:
        """The mid held at each whole second passed since the last update."""
        n = (ts_ns - self._sec_next) // NS_PER_S + 1
        mid = (self.bid + self.ask) / 2
        ring = self._sec_mid
        size = ring.shape[0]
        for _ in range(min(n, size)):
            if self._sec_count:
                prev = ring[(self._sec_count - 1) % size]
                r = math.log(mid / prev) * 1e4 if prev > 0 and mid > 0 else 0.0
                self._push_return(r * r)
            ring[self._sec_count % size] = mid
            self._sec_count += 1
        if n > size:  # a gap longer than the window: only flat seconds remain in it
            self._sec_count += n - size
            self._sec_r2[:] = 0.0
            self._rv_sums = dict.fromkeys(RV_TRACKED_S, 0.0)
        self._sec_next += n * NS_PER_S

    def _push_return(self, r2: float) -> None:
        """One more second's squared return into the ring and every running sum."""
        k = self._sec_count - 1  # returns recorded before this one
        r2s = self._sec_r2
        size = r2s.shape[0]
        sums = self._rv_sums
        for w in RV_TRACKED_S:
            sums[w] += r2 - (r2s[(k - w) % size] if k >= w else 0.0)
        r2s[k % size] = r2
        if (k + 1) % _RV_RESUM_EVERY == 0:
            self._resum(k + 1)

    def _resum(self, count: int) -> None:
        """Recompute the running sums exactly from the last ``count`` returns' ring
        (against rounding drift)."""
        r2s = self._sec_r2
        size = r2s.shape[0]
        for w in RV_TRACKED_S:
            k = min(w, count)
            idx = np.arange(count - k, count) % size
            self._rv_sums[w] = float(r2s[idx].sum())

    def advance(self, ts_ns: int) -> None:
        """Bring the statistics to ``ts_ns`` without a new quote (read-outs call it)."""
        if ts_ns > self.ts_ns:
            self._decay_events(ts_ns)

    # -------------------------------------------------------------- read-outs
    @property
    def ready(self) -> bool:
        """Quotes on both sides seen; statistics may still be warming up."""
        return self.quotes > 0

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2

    @property
    def mean_spread(self) -> float:
        """Time-weighted spread over ~``TAU_SPREAD`` s, ticks (at least one tick)."""
        return self._spread if self._spread > 1.0 else 1.0

    @property
    def mean_depth(self) -> float:
        return self._depth if self._depth > 1.0 else 1.0

    @property
    def warmed_up_s(self) -> float:
        return (self.ts_ns - self.started_ns) / NS_PER_S

    def signal_features(self, out: F64) -> F64:
        """The short-horizon signal's inputs (:data:`SIGNAL_FEATURES`), into ``out``."""
        bs, az = self.bid_size, self.ask_size
        tot = bs + az
        imb = (bs - az) / tot if tot else 0.0
        spread = self.ask - self.bid
        ms = self.mean_spread
        md = self.mean_depth
        mid = (self.bid + self.ask) / 2
        vol_fast = self._vol_fast
        out[0] = imb
        out[1] = imb * spread / (2 * ms)  # (microprice - mid) / mean spread
        out[2] = math.log(max(spread, 1) / ms)
        out[3] = self._ofi_fast
        out[4] = self._ofi_slow
        out[5] = self._signed_vol / vol_fast if vol_fast > 1e-9 else 0.0
        fast_rate = vol_fast / TAU_FLOW
        slow_rate = self._vol_long / TAU_VOLUME_LONG
        out[6] = math.log((fast_rate + LOG_FLOOR) / (slow_rate + LOG_FLOOR))
        out[7] = math.log(max(bs, 1) / md)
        out[8] = math.log(max(az, 1) / md)
        out[9] = (mid - self._mid_fast) / ms
        out[10] = (mid - self._mid_slow) / ms
        out[11] = self._last_move
        return out

    # -- per-second history: realised variance in basis points squared
    def second_mids(self, seconds: int) -> F64:
        """The mid at each of the last ``seconds`` whole seconds (oldest first; fewer
        if not yet recorded)."""
        ring = self._sec_mid
        size = ring.shape[0]
        n = min(seconds, self._sec_count, size)
        end = self._sec_count % size
        idx = (np.arange(end - n, end)) % size
        return ring[idx]

    def realized_variance(self, seconds: int) -> float:
        """Sum of squared one-second log mid returns over the last ``seconds`` s, bps^2
        (a running sum for the windows in :data:`RV_TRACKED_S`)."""
        tracked = self._rv_sums.get(seconds)
        if tracked is not None:
            return tracked if tracked > 0.0 else 0.0
        mids = self.second_mids(seconds + 1)
        if mids.shape[0] < 2:
            return 0.0
        r = np.diff(np.log(mids)) * 1e4
        return float(r @ r)

    def move_bps(self, seconds: int) -> float:
        """The mid's log change over the last ``seconds`` whole seconds, bps."""
        mids = self.second_mids(seconds + 1)
        if mids.shape[0] < 2:
            return 0.0
        return float(math.log(mids[-1] / mids[0]) * 1e4)

    def spread_bps(self) -> float:
        """Mean spread over the mid, bps."""
        mid = self.mid
        return self.mean_spread / mid * 1e4 if mid > 0 else 0.0

    def depth_ratio(self) -> float:
        """Touch depth over ~1 min against its ~30 min mean (1 = as usual)."""
        long = self._depth_long if self._depth_long > 1.0 else 1.0
        return self.mean_depth / long

    def spread_ratio(self) -> float:
        """The spread now against its ~1 min mean."""
        return max(self.ask - self.bid, 1) / self.mean_spread

    def touch_depth_ratio(self) -> float:
        """The thinner side of the touch now against the ~1 min mean touch depth."""
        return min(self.bid_size, self.ask_size) / self.mean_depth

    def cancel_ratio(self) -> float:
        """Cancelled touch volume over ~5 s against its ~5 min rate (1 = as usual)."""
        fast = self._cancel_fast / TAU_CANCEL
        slow = self._cancel_long / TAU_CANCEL_LONG
        return (fast + LOG_FLOOR) / (slow + LOG_FLOOR)


SIGNAL_FEATURES: tuple[str, ...] = (
    "imbalance_1",
    "microprice_offset",
    "spread_rel_log",
    "ofi_fast",
    "ofi_slow",
    "trade_flow",
    "trade_intensity_log",
    "bid_queue_log",
    "ask_queue_log",
    "mid_dev_fast",
    "mid_dev_slow",
    "last_move",
)

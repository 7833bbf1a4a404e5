"""A LOBSTER day replayed through a :class:`~signals.market.MarketTracker`, sampled.

One pass over the day feeds the tracker exactly what the daemon's feed would give it
(the touch after each message, each execution as a print) and samples it on two
grids over the whole session:

* every :data:`SIGNAL_STEP_S` (0.5 s): the signal's features, the mid and the mean
  spread, for the short-horizon model;
* every :data:`STATE_STEP_S` (10 s): the volatility model's inputs and the regime
  model's market state.

Targets (what happened next) are taken from the same grids afterwards, never fed
back: a sample at ``t`` only holds what the tracker knew at ``t``. The split's windows
pick samples out of the day; a sample whose target would reach past its window's end
is left out, so nothing crosses from training into validation hours.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from exchange.replay.prepared import PreparedDay, load_day
from signals.data import CLOSE_S, OPEN_S, WARMUP_S, DaySplit, SignalDataError, Window
from signals.market import NS_PER_S, SIGNAL_FEATURES, MarketTracker
from signals.regime import REGIME_FEATURES, regime_features
from signals.volatility import HAR_WINDOWS_S, har_inputs

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
SIGNAL_STEP_S = 0.5
STATE_STEP_S = 10
_EXEC_VISIBLE, _EXEC_HIDDEN, _HALT = 4, 5, 7


@dataclass(frozen=True, slots=True, eq=False)
class DaySamples:
    """One ticker-day on both grids. Times are seconds after midnight."""

    name: str
    ticker: str
    signal_tod: F64  # [n] time of day of each signal sample
    signal_x: F64  # [n, len(SIGNAL_FEATURES)]
    mid: F64  # [n] ticks
    mean_spread: F64  # [n] ticks
    state_tod: F64  # [m]
    har_x: F64  # [m, len(HAR_WINDOWS_S)] realised variance per minute over each window
    regime_x: F64  # [m, len(REGIME_FEATURES)]
    second_mid: F64  # [k] the mid at each whole second from the first sample on (ticks)
    day_start_ns: int = 0  # midnight of the day, exchange time, epoch ns

    @property
    def first_second(self) -> float:
        return float(self.signal_tod[0])


class TouchTape:
    """A LOBSTER day as a tracker hears it: each execution as a print, then the touch
    after each message (what the daemon's feed gives it, frame by frame)."""

    __slots__ = ("ask_px", "ask_sz", "bid_px", "bid_sz", "direction", "event", "price", "size", "ts")  # fmt: skip

    def __init__(self, prepared: PreparedDay) -> None:
        m, b = prepared.day.messages, prepared.day.book
        self.ts: list[int] = m.ts_ns.tolist()
        self.event: list[int] = m.event.tolist()
        self.price: list[int] = m.price.tolist()
        self.size: list[int] = m.size.tolist()
        self.direction: list[int] = m.direction.tolist()
        self.bid_px, self.bid_sz = b.bid_px[:, 0].tolist(), b.bid_sz[:, 0].tolist()
        self.ask_px, self.ask_sz = b.ask_px[:, 0].tolist(), b.ask_sz[:, 0].tolist()

    def index_at(self, ts_ns: int) -> int:
        """The first message at or after ``ts_ns``."""
        return bisect.bisect_left(self.ts, ts_ns)

    def feed(self, tracker: MarketTracker, i: int, until_ns: int) -> int:
        """Messages ``i`` on, strictly before ``until_ns``, into ``tracker``; the next index."""
        ts, event, price, size, direction = (
            self.ts,
            self.event,
            self.price,
            self.size,
            self.direction,
        )
        bid_px, bid_sz, ask_px, ask_sz = self.bid_px, self.bid_sz, self.ask_px, self.ask_sz
        n = len(ts)
        while i < n and ts[i] < until_ns:
            ev = event[i]
            if ev in (_EXEC_VISIBLE, _EXEC_HIDDEN):
                tracker.on_trade(ts[i], price[i], size[i], direction[i] < 0)
            if ev != _HALT and bid_px[i] > 0 and ask_px[i] > bid_px[i]:
                tracker.on_quote(ts[i], bid_px[i], bid_sz[i], ask_px[i], ask_sz[i])
            i += 1
        return i


@functools.lru_cache(maxsize=4)
def replay_day(message_file: Path) -> DaySamples:
    """Replay one day (cached per process: it takes a few seconds)."""
    try:
        prepared = load_day(message_file)
    except (OSError, ValueError) as exc:
        raise SignalDataError(f"{message_file}: {exc}") from None
    day = prepared.day
    tape = TouchTape(prepared)
    day0 = day.day_start_ns
    step_ns = int(SIGNAL_STEP_S * NS_PER_S)
    first = day0 + (OPEN_S + WARMUP_S) * NS_PER_S
    last = day0 + CLOSE_S * NS_PER_S
    grid = list(range(first, last, step_ns))
    state_every = int(STATE_STEP_S / SIGNAL_STEP_S)
    n_feat = len(SIGNAL_FEATURES)
    sig_x = np.zeros((len(grid), n_feat))
    mids = np.zeros(len(grid))
    spreads = np.zeros(len(grid))
    har_rows: list[F64] = []
    reg_rows: list[F64] = []
    state_t: list[int] = []
    tracker = MarketTracker()
    i = 0
    for k, g in enumerate(grid):
        i = tape.feed(tracker, i, g)  # what happened strictly before the sample time
        if not tracker.ready:
            raise SignalDataError(f"{day.name}: no two-sided quote before the first sample")
        tracker.advance(g)
        tracker.signal_features(sig_x[k])
        mids[k] = tracker.mid
        spreads[k] = tracker.mean_spread
        if k % state_every == 0:
            har_rows.append(har_inputs(tracker))
            reg_rows.append(regime_features(tracker))
            state_t.append(g)
    tod = (np.asarray(grid, dtype=np.float64) - day0) / NS_PER_S
    whole = np.isclose(tod % 1.0, 0.0)
    return DaySamples(
        name=day.name,
        ticker=day.ticker,
        signal_tod=tod,
        signal_x=sig_x,
        mid=mids,
        mean_spread=spreads,
        state_tod=(np.asarray(state_t, dtype=np.float64) - day0) / NS_PER_S,
        har_x=np.asarray(har_rows).reshape(-1, len(HAR_WINDOWS_S)),
        regime_x=np.asarray(reg_rows).reshape(-1, len(REGIME_FEATURES)),
        second_mid=mids[whole],
        day_start_ns=day0,
    )


def samples_for(split: DaySplit) -> DaySamples:
    return replay_day(split.message_file.resolve())


def in_windows(tod: F64, windows: tuple[Window, ...], horizon_s: float) -> npt.NDArray[np.bool_]:
    """Samples at or after a window's start whose target ends by the window's end."""
    mask = np.zeros(tod.shape[0], dtype=bool)
    for lo, hi in windows:
        mask |= (tod >= lo) & (tod + horizon_s <= hi)
    return mask

"""The feature builder: the one function that turns market + parent state into numbers.

Used by the environment, the backtest and the daemon alike, so a policy sees in
production exactly what it saw in training. Every feature of the current set (v2) is
in units that mean the same on any ticker, price level, spread regime and data feed:
fractions of the horizon and the parent, spreads in units of their own recent mean,
volatility and price moves in mean spreads, sizes in units of the book's own touch
depth or the market's own volume rate; never ticks, prices or share counts (the
population stability test, ``tests/integration/policies/test_policies_feature_shift.py``,
checks it on every shipped ticker and synthetic regime). Set v1, which had a spread in
ticks and a five-level imbalance, is still computed for artifacts trained on it. Each
feature is signed by the parent's
side so that a positive value always means "the market is moving against us"
(buying pressure when we buy, selling pressure when we sell): a buy and a sell then
look alike to the policy, which halves what it has to learn.

Raw features are standardised with the mean and standard deviation measured on the
training split only (saved in the artifact) and clipped to +-``CLIP``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.book import L2Book
from core.orders import ChildOrder
from core.parent import ParentOrder
from core.reconciler import resting_view
from core.types import Side
from execution.driver import MarketSignal
from policies.context import F32, NS_PER_S, DecisionContext, Observation
from policies.market_state import MarketState
from policies.queue_estimate import QueueEstimator

FEATURES_V1: tuple[str, ...] = (
    "time_left",  # fraction of the horizon still to run, [0, 1]
    "inventory_left",  # fraction of the parent still to execute, [0, 1]
    "schedule_gap",  # inventory_left - time_left: > 0 behind a straight-line schedule
    "spread_ticks_log",  # log(spread in ticks)
    "spread_rel",  # spread / its mean over the lookback
    "imbalance_1",  # side-signed (bid - ask) / (bid + ask) at the touch
    "imbalance_5",  # the same over five levels (= touch on level-1 data)
    "microprice_offset",  # side-signed (microprice - mid) / spread
    "realized_vol",  # RMS mid move per interval over the lookback, in mean spreads
    "signed_volume",  # side-signed aggressor imbalance of recent trades, [-1, 1]
    "need_participation_log",  # log1p(remaining / (market rate x time left))
    "drift_spreads",  # side-signed (mid - arrival mid) / mean spread
    "has_resting",  # 1 when a passive child rests
    "resting_offset_ticks",  # our best resting price vs our touch, ticks (+ = inside)
    "queue_ahead_frac",  # estimated units ahead / displayed size at our price
    "queue_ahead_depth",  # estimated units ahead / mean touch depth
    "order_age_log",  # log1p(age of our resting child in decision intervals)
    "resting_frac",  # resting units / remaining units
)
# Version 2 (issue 15): nothing in ticks or in a level count that depends on the data
# feed. ``spread_ticks_log`` (a 28-tick spread on one ticker is a 15-tick spread on
# another) and ``imbalance_5`` (the touch again on level-1 data) are gone; the resting
# offset is in mean spreads; the order's remainder and the far touch are in units of
# the book's own mean touch depth. Heavy-tailed ratios are log-scaled (signed for the
# drift) so that a trending or thin market stretches them without leaving the range
# the normaliser was fitted on (tests/integration/policies/test_policies_feature_shift.py).
FEATURES_V2: tuple[str, ...] = (
    "time_left",  # fraction of the horizon still to run, [0, 1]
    "inventory_left",  # fraction of the parent still to execute, [0, 1]
    "schedule_gap",  # inventory_left - time_left: > 0 behind a straight-line schedule
    "spread_rel",  # spread / its mean over the lookback
    "imbalance_1",  # side-signed (bid - ask) / (bid + ask) at the touch
    "microprice_offset",  # side-signed (microprice - mid) / spread
    "realized_vol",  # RMS mid move per interval over the lookback, in mean spreads
    "signed_volume",  # side-signed aggressor imbalance of recent trades, [-1, 1]
    "need_participation_log",  # log1p(remaining / (market rate x time left))
    "drift_spreads_log",  # signed log1p(|side-signed (mid - arrival mid) / mean spread|)
    "has_resting",  # 1 when a passive child rests
    "resting_offset_spreads",  # our best resting price vs our touch, mean spreads (+ = inside)
    "queue_ahead_frac",  # estimated units ahead / displayed size at our price
    "queue_ahead_depth_log",  # log1p(estimated units ahead / mean touch depth)
    "order_age_log",  # log1p(age of our resting child in decision intervals)
    "resting_frac",  # resting units / remaining units
    "remaining_depth_log",  # log1p(remaining / mean touch depth)
    "far_depth_log",  # log1p(displayed size at the far touch / mean touch depth)
)
# Version 3 (issue 19): v2 plus the short-horizon signal, side-signed (+ = the mid is
# expected to move against us over the next few seconds), in mean spreads. A spec of v3
# pins the signal artifact's digest (``FeatureSpec.signal``); the builder must be given
# that model's feed (``execution.driver.MarketSignal``), or it refuses to build.
FEATURES_V3: tuple[str, ...] = (*FEATURES_V2, "signal")
FEATURE_SETS: dict[int, tuple[str, ...]] = {1: FEATURES_V1, 2: FEATURES_V2, 3: FEATURES_V3}
SIGNAL_VERSIONS = frozenset({3})  # feature sets that read the short-horizon signal
FEATURE_VERSION = 2  # what training writes; the builder computes every version in the table
FEATURE_NAMES = FEATURE_SETS[FEATURE_VERSION]
N_FEATURES = len(FEATURE_NAMES)
CLIP = 5.0


def check_spec_names(names: tuple[str, ...], version: int) -> None:
    """Raise ValueError unless (names, version) is a feature set this code computes."""
    if FEATURE_SETS.get(version) != names:
        known = ", ".join(f"v{v} {list(n)}" for v, n in FEATURE_SETS.items())
        raise ValueError(
            f"feature spec v{version} {list(names)} differs from this code's feature sets ({known})"
        )


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    names: tuple[str, ...] = FEATURE_NAMES
    version: int = FEATURE_VERSION
    lookback: int = 12  # decision intervals of market history
    decision_interval_s: float = 5.0
    clip: float = CLIP
    # the short-horizon signal artifact's digest when the set reads it (v3), else None;
    # written to the manifest only when set, so older artifacts' specs read as before
    signal: str | None = None

    def __post_init__(self) -> None:
        wants = self.version in SIGNAL_VERSIONS
        if wants != (self.signal is not None):
            raise ValueError(
                f"feature set v{self.version} "
                + ("reads the short-horizon signal: its artifact digest is missing"
                   if wants else f"has no signal feature, yet pins signal {self.signal!r}")
            )  # fmt: skip
        if self.signal is not None and (
            len(self.signal) != 64 or any(c not in "0123456789abcdef" for c in self.signal)
        ):
            raise ValueError(f"signal digest {self.signal!r} is not a sha256 in hex")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "names": list(self.names),
            "version": self.version,
            "lookback": self.lookback,
            "decision_interval_s": self.decision_interval_s,
            "clip": self.clip,
        }
        if self.signal is not None:
            out["signal"] = self.signal
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        try:
            signal = data.get("signal")
            return cls(
                names=tuple(str(n) for n in data["names"]),
                version=int(data["version"]),
                lookback=int(data["lookback"]),
                decision_interval_s=float(data["decision_interval_s"]),
                clip=float(data["clip"]),
                signal=None if signal is None else str(signal),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"feature spec is malformed: {exc!r}") from exc

    @property
    def interval_ns(self) -> int:
        return round(self.decision_interval_s * NS_PER_S)

    @classmethod
    def of_version(cls, version: int, **kw: Any) -> FeatureSpec:
        """The spec of a known feature set (v1 serves artifacts trained before issue 15)."""
        names = FEATURE_SETS.get(version)
        if names is None:
            raise ValueError(f"no feature set v{version}; this code has {sorted(FEATURE_SETS)}")
        return cls(names=names, version=version, **kw)


@dataclass(frozen=True, slots=True)
class Normaliser:
    mean: F32
    std: F32
    clip: float = CLIP

    @classmethod
    def identity(cls, n: int = N_FEATURES) -> Normaliser:
        return cls(np.zeros(n, np.float32), np.ones(n, np.float32))

    @classmethod
    def fit(cls, raw: np.ndarray[Any, Any], clip: float = CLIP) -> Normaliser:
        """Statistics of raw feature rows (training split only); constant columns get std 1."""
        if raw.ndim != 2 or raw.shape[0] < 2:
            raise ValueError(f"need a 2-D array of at least two rows, got shape {raw.shape}")
        mean = raw.mean(axis=0).astype(np.float32)
        std = raw.std(axis=0).astype(np.float32)
        std[std < 1e-6] = 1.0
        return cls(mean, std, clip)

    def __call__(self, raw: F32) -> F32:
        # (raw - mean) / std clipped to +-clip, as float32: one new array and in-place
        # ufuncs (np.clip's Python wrapper costs more than the arithmetic at this size;
        # min(max(x, -c), c) is what clip computes, NaN included)
        out: F32 = np.subtract(raw, self.mean)
        np.divide(out, self.std, out=out)
        np.maximum(out, -self.clip, out=out)
        np.minimum(out, self.clip, out=out)
        if out.dtype != np.float32:
            out = out.astype(np.float32)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": [float(x) for x in self.mean],
            "std": [float(x) for x in self.std],
            "clip": self.clip,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], n: int) -> Normaliser:
        try:
            mean = np.asarray(data["mean"], dtype=np.float32)
            std = np.asarray(data["std"], dtype=np.float32)
            clip = float(data["clip"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"normalisation is malformed: {exc!r}") from exc
        if mean.shape != (n,) or std.shape != (n,):
            raise ValueError(
                f"normalisation has {mean.shape}/{std.shape} entries, features need {n}"
            )
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std <= 0).any():
            raise ValueError("normalisation holds non-finite or non-positive statistics")
        return cls(mean, std, clip)


class FeatureBuilder:
    """Per parent order: market state, queue estimates and the normaliser, one call per decision.

    ``signal``: the short-horizon signal's feed for the parent's symbol, required by (and
    only by) a feature set that reads it, and it must be the model the spec pins."""

    __slots__ = (
        "_interval_ns",
        "_v1",
        "last_raw",
        "market",
        "normaliser",
        "queue",
        "signal",
        "spec",
    )

    def __init__(
        self,
        spec: FeatureSpec | None = None,
        normaliser: Normaliser | None = None,
        *,
        signal: MarketSignal | None = None,
    ) -> None:
        self.spec = spec or FeatureSpec()
        check_spec_names(self.spec.names, self.spec.version)
        pinned = self.spec.signal
        if pinned is None:
            signal = None  # a set without the signal never reads one
        elif signal is None:
            raise ValueError(
                f"feature set v{self.spec.version} reads the short-horizon signal "
                f"{pinned[:12]}, and no signal feed was given for it"
            )
        elif signal.digest != pinned:
            raise ValueError(
                f"the signal feed serves model {signal.digest[:12]}, the policy was trained "
                f"with {pinned[:12]}"
            )
        self.signal = signal
        self.normaliser = normaliser or Normaliser.identity(len(self.spec.names))
        self._v1 = self.spec.version == 1
        self._interval_ns = self.spec.interval_ns
        self.market = MarketState(self._interval_ns, self.spec.lookback)
        self.queue = QueueEstimator()
        self.last_raw = np.zeros(len(self.spec.names), np.float32)

    def reset(self) -> None:
        self.market = MarketState(self._interval_ns, self.spec.lookback)
        self.queue.reset()

    def observe(
        self,
        book: L2Book,
        parent: ParentOrder,
        live: Sequence[ChildOrder],
        now_ns: int,
        *,
        market_volume: int,
        time_of_day_s: float,
        lot_size: int = 1,
    ) -> Observation:
        """Build the observation for this decision and close the market interval."""
        market = self.market
        self.queue.update(book, live, market.traded_at, now_ns)
        raw = self.raw(book, parent, live, now_ns)
        self.last_raw = raw
        rate = market.volume_rate()
        market.sample(book)
        ctx = DecisionContext(
            now_ns=now_ns,
            start_ns=parent.start_ns,
            end_ns=parent.end_ns,
            side=parent.side,
            qty=parent.qty,
            filled=parent.filled_qty,
            decision_interval_ns=self._interval_ns,
            market_volume=market_volume,
            time_of_day_s=time_of_day_s,
            market_rate=rate,
            lot_size=lot_size,
        )
        return Observation(self.normaliser(raw), ctx)

    def raw(
        self, book: L2Book, parent: ParentOrder, live: Iterable[ChildOrder], now_ns: int
    ) -> F32:
        """Unnormalised features (for fitting the normaliser and for tests)."""
        side = parent.side
        sgn = side.sign
        ms = self.market
        end_ns = parent.end_ns
        time_left = min(1.0, max(0.0, (end_ns - now_ns) / (end_ns - parent.start_ns)))
        remaining = parent.remaining_qty
        inv_left = remaining / parent.qty

        spread = book.spread or 1
        mean_spread = ms.mean_spread(book)
        b1, a1 = book.best_bid_size, book.best_ask_size
        mid = book.mid
        micro = book.microprice()
        rate = ms.volume_rate()
        secs_left = max(1e-9, (end_ns - now_ns) / NS_PER_S)
        need = remaining / (rate * secs_left) if rate > 0 else (10.0 if remaining else 0.0)
        arrival = parent.arrival_mid

        resting_units = 0
        for order in live:
            view = resting_view(order)
            if view is not None:
                resting_units += view[1]
        best = self.queue.best_resting(side)
        mean_depth = ms.mean_depth(book)
        if best is None or resting_units == 0:
            has_resting = offset = ahead_frac = ahead_depth = age = 0.0
        else:
            price, ahead, since = best
            touch = book.best(side)
            level = book.size_at(side, price)
            has_resting = 1.0
            offset = max(-10.0, min(10.0, (price - touch) * sgn)) if touch is not None else 0.0
            ahead_frac = ahead / level if level > 0 else 0.0
            ahead_depth = ahead / mean_depth
            age = math.log1p(max(0, now_ns - since) / self._interval_ns)
        imbalance_1 = sgn * ((b1 - a1) / (b1 + a1) if b1 + a1 else 0.0)
        micro_offset = (
            sgn * (micro - mid) / spread if micro is not None and mid is not None else 0.0
        )
        vol = ms.realized_vol_ticks(book) / mean_spread
        signed = sgn * ms.signed_fraction()
        need_log = math.log1p(min(need, 1e3))
        drift = sgn * (mid - arrival) / mean_spread if mid is not None and arrival > 0 else 0.0
        resting_frac = resting_units / remaining if remaining else 0.0
        if self._v1:
            b5, a5 = book.volume(Side.BUY, 5), book.volume(Side.SELL, 5)
            return np.array(
                [
                    time_left,
                    inv_left,
                    inv_left - time_left,
                    math.log(max(1, spread)),
                    spread / mean_spread,
                    imbalance_1,
                    sgn * ((b5 - a5) / (b5 + a5) if b5 + a5 else 0.0),
                    micro_offset,
                    vol,
                    signed,
                    need_log,
                    drift,
                    has_resting,
                    offset,
                    ahead_frac,
                    ahead_depth,
                    age,
                    resting_frac,
                ],
                dtype=np.float32,
            )
        far = a1 if side is Side.BUY else b1
        v2 = np.array(
            [
                time_left,
                inv_left,
                inv_left - time_left,
                spread / mean_spread,
                imbalance_1,
                micro_offset,
                vol,
                signed,
                need_log,
                math.copysign(math.log1p(abs(drift)), drift),
                has_resting,
                max(-3.0, min(3.0, offset / mean_spread)),
                ahead_frac,
                math.log1p(ahead_depth),
                age,
                resting_frac,
                math.log1p(remaining / mean_depth),
                math.log1p(far / mean_depth),
            ],
            dtype=np.float32,
        )
        if self.signal is None:
            return v2
        return np.append(v2, np.float32(sgn * self.signal.value(now_ns)))

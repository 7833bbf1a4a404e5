"""Short-horizon signal: the mid's move over the next few seconds, in mean spreads.

A gradient-boosted regression tree ensemble (scikit-learn's
``GradientBoostingRegressor``, Huber loss) on the touch's features
(:data:`~signals.market.SIGNAL_FEATURES`: order-flow imbalance, microprice offset,
queue sizes, trade flow, recent mid drift). Why boosted trees and why this library:

* the relations are non-linear and interact (an imbalance means more on a one-tick
  spread than on a wide one); shallow trees learn that from ~25k samples without the
  tuning a neural network needs, and a Huber loss keeps a few jumps from steering them;
* scikit-learn's fitted trees are public arrays (``tree_.children_left``, ``feature``,
  ``threshold``, ``value``), so the artifact stores plain numbers and the daemon serves
  them with a few numpy operations: no scikit-learn, no pickle, ~tens of microseconds a
  call (``bench/signal_bench.py``), inside the tick-to-order budget. LightGBM would fit
  faster but adds a native library and its own model format for no gain at this size.

The target is ``(mid[t + h] - mid[t]) / mean_spread[t]`` so one model serves tickers
whose spreads differ in ticks. The number of trees is chosen on the validation hours
(the information coefficient of the staged predictions); the test hours are only ever
evaluated (:mod:`signals.evaluation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from signals import artifact
from signals.market import SIGNAL_FEATURES

if TYPE_CHECKING:
    from signals.dataset import DaySamples
    from signals.market import MarketTracker

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
KIND = "short-horizon-signal"
DEFAULT_HORIZON_S = 5.0
SPEC = {"model": "gbrt-huber", "features": list(SIGNAL_FEATURES), "target": "mid move / mean spread",
        "version": 1}  # fmt: skip
# fit settings: shallow trees, slow learning rate, subsampling against the day's noise
MAX_TREES = 300
MAX_DEPTH = 3
LEARNING_RATE = 0.05
SUBSAMPLE = 0.7
MIN_SAMPLES_LEAF = 200
_LEAF = -1


def move_target(samples: DaySamples, horizon_s: float) -> F64:
    """The mid's move over ``horizon_s`` after each sample, in that sample's mean spreads.

    NaN where the day ends first. ``horizon_s`` must be a whole number of sample steps.
    """
    steps = _steps(samples, horizon_s)
    out = np.full(samples.mid.shape[0], np.nan)
    out[:-steps] = (samples.mid[steps:] - samples.mid[:-steps]) / samples.mean_spread[:-steps]
    return out


def past_move(samples: DaySamples, horizon_s: float) -> F64:
    """The mid's move over the ``horizon_s`` before each sample, in mean spreads (NaN
    at the start): what the persistence baseline predicts will happen again."""
    steps = _steps(samples, horizon_s)
    out = np.full(samples.mid.shape[0], np.nan)
    out[steps:] = (samples.mid[steps:] - samples.mid[:-steps]) / samples.mean_spread[steps:]
    return out


def _steps(samples: DaySamples, horizon_s: float) -> int:
    step = float(samples.signal_tod[1] - samples.signal_tod[0])
    steps = round(horizon_s / step)
    if steps < 1 or abs(steps * step - horizon_s) > 1e-9:
        raise ValueError(f"horizon {horizon_s} s is not a whole number of {step} s sample steps")
    return steps


@dataclass(frozen=True, slots=True)
class TreeEnsemble:
    """Regression trees of one depth ``D`` in heap layout: tree ``t``'s split ``i`` has
    children ``2i + 1`` (the feature is <= the threshold) and ``2i + 2``; its ``2^D``
    leaves follow the ``2^D - 1`` splits. A branch that ends early in the fitted tree
    is padded with splits that always go left (threshold +inf) down to its leaf value,
    so every prediction is the same ``D`` steps of integer arithmetic for all trees at
    once: a handful of numpy calls, whatever the number of trees."""

    feature: I64  # [n_trees, 2^D - 1]
    threshold: F64  # [n_trees, 2^D - 1]
    value: F64  # [n_trees, 2^D] leaf values already scaled by the learning rate
    base: float
    depth: int
    # flat views and offsets for the serving call, made once
    _feat: I64 = field(init=False, repr=False, compare=False)
    _thr: F64 = field(init=False, repr=False, compare=False)
    _val: F64 = field(init=False, repr=False, compare=False)
    _offs: I64 = field(init=False, repr=False, compare=False)
    _leaf0: I64 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n_trees, n_split = self.feature.shape
        offs = np.arange(n_trees, dtype=np.int64) * n_split
        for name, v in (("_feat", np.ascontiguousarray(self.feature).ravel()),
                        ("_thr", np.ascontiguousarray(self.threshold).ravel()),
                        ("_val", np.ascontiguousarray(self.value).ravel()), ("_offs", offs),
                        ("_leaf0", offs + np.arange(n_trees) - n_split)):  # fmt: skip
            object.__setattr__(self, name, v)

    @classmethod
    def from_sklearn(cls, gbr: Any, n_trees: int) -> TreeEnsemble:
        depth = int(gbr.max_depth)
        n_split, n_leaf = 2**depth - 1, 2**depth
        feature = np.zeros((n_trees, n_split), dtype=np.int64)
        threshold = np.full((n_trees, n_split), np.inf)
        value = np.zeros((n_trees, n_leaf))
        for t, est in enumerate(gbr.estimators_[:n_trees]):
            tree = est[0].tree_
            stack = [(0, 0)]  # (sklearn node, heap position)
            while stack:
                node, pos = stack.pop()
                if pos >= n_split:  # a leaf at full depth
                    value[t, pos - n_split] = tree.value[node, 0, 0] * gbr.learning_rate
                elif tree.children_left[node] == _LEAF:  # an early leaf: always go left
                    stack.append((node, 2 * pos + 1))
                    stack.append((node, 2 * pos + 2))  # unreachable, filled for tidiness
                else:
                    feature[t, pos] = tree.feature[node]
                    threshold[t, pos] = tree.threshold[node]
                    stack.append((tree.children_left[node], 2 * pos + 1))
                    stack.append((tree.children_right[node], 2 * pos + 2))
        base = float(gbr.init_.predict(np.zeros((1, gbr.n_features_in_)))[0])
        return cls(feature, threshold, value, base, depth)

    @property
    def n_trees(self) -> int:
        return int(self.feature.shape[0])

    def predict(self, x: F64) -> F64:
        """One prediction per row of ``x`` ``[n, n_features]``."""
        x = np.atleast_2d(x)
        n_split = self.feature.shape[1]
        cond = x[:, self.feature.ravel()] <= self.threshold.ravel()  # [n, trees * splits]
        offs = np.arange(self.n_trees) * n_split
        node = np.zeros((x.shape[0], self.n_trees), dtype=np.int64)
        for _ in range(self.depth):
            node = 2 * node + 2 - np.take_along_axis(cond, offs + node, axis=1)
        leaf = np.arange(self.n_trees) * (n_split + 1) + node - n_split
        out: F64 = self.base + self.value.ravel()[leaf].sum(axis=1)
        return out

    def predict_one(self, x: F64) -> float:
        """The serving call for one feature vector: every split compared at once, then
        ``depth`` gathers to walk all trees down together."""
        cond = (x[self._feat] <= self._thr).view(np.int8)
        offs = self._offs
        node = 2 - cond[offs].astype(np.int64)  # after the root: 1 went left, 2 right
        for _ in range(self.depth - 1):
            node = 2 * node + 2 - cond[offs + node]
        return self.base + float(self._val[self._leaf0 + node].sum())

    def arrays(self) -> dict[str, F64]:
        return {"feature": self.feature.astype(np.float64), "threshold": self.threshold,
                "value": self.value, "base": np.array([self.base]),
                "depth": np.array([float(self.depth)])}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SignalModel:
    """The fitted ensemble, its horizon, and the manifest it is stored with."""

    trees: TreeEnsemble
    horizon_s: float
    manifest: dict[str, Any]

    @classmethod
    def fit(cls, x_train: F64, y_train: F64, x_val: F64, y_val: F64, *, horizon_s: float,
            seed: int = 0, manifest: dict[str, Any] | None = None) -> SignalModel:  # fmt: skip
        """Fit on the training rows; keep the number of trees that scores best on the
        validation rows (Spearman information coefficient)."""
        from scipy.stats import spearmanr
        from sklearn.ensemble import GradientBoostingRegressor  # fit time only

        gbr = GradientBoostingRegressor(
            loss="huber", n_estimators=MAX_TREES, max_depth=MAX_DEPTH,
            learning_rate=LEARNING_RATE, subsample=SUBSAMPLE,
            min_samples_leaf=MIN_SAMPLES_LEAF, random_state=seed,
        )  # fmt: skip
        gbr.fit(x_train, y_train)
        best_n, best_ic = 1, -np.inf
        for n, pred in enumerate(gbr.staged_predict(x_val), start=1):
            if n % 10 and n != MAX_TREES:
                continue
            ic = float(spearmanr(pred, y_val).statistic)
            if ic > best_ic:
                best_n, best_ic = n, ic
        body = {"trees_chosen_on_validation": best_n, "validation_ic": best_ic, **(manifest or {})}
        return cls(TreeEnsemble.from_sklearn(gbr, best_n), horizon_s, body)

    def predict(self, x: F64) -> F64:
        """Expected move over the horizon, mean spreads, per row of features."""
        return self.trees.predict(x)

    # ----------------------------------------------------------- artifact
    def save(self, path: str | Path) -> str:
        body = {"spec": SPEC, "horizon_s": self.horizon_s, **self.manifest}
        return artifact.save(path, KIND, self.trees.arrays(), body)

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> SignalModel:
        art = artifact.load(path, KIND, expected_sha256)
        artifact.check_spec(art, "spec", SPEC)
        horizon = art.field("horizon_s")
        if not isinstance(horizon, int | float) or not 0 < horizon <= 600:
            raise artifact.ArtifactRefused(art.path, f"horizon_s {horizon!r} is not 0-600 s")
        depth = art.array("depth", (1,))[0]
        if depth != round(depth) or not 1 <= depth <= 12:
            raise artifact.ArtifactRefused(art.path, f"depth {depth} is not 1-12")
        feat = art.arrays.get("feature")
        if feat is None or feat.ndim != 2 or feat.shape[1] != 2 ** int(depth) - 1:
            raise artifact.ArtifactRefused(art.path, "array 'feature' is missing or not [trees, 2^depth - 1]")  # fmt: skip
        n_trees, n_split = feat.shape
        feat = art.array("feature", (n_trees, n_split))
        if (feat != np.round(feat)).any() or (feat < 0).any() or (feat >= len(SIGNAL_FEATURES)).any():  # fmt: skip
            raise artifact.ArtifactRefused(art.path, "a tree splits on a feature this code lacks")
        thr = art.arrays.get("threshold")
        if thr is None or thr.shape != (n_trees, n_split) or np.isnan(thr).any():
            raise artifact.ArtifactRefused(art.path, "array 'threshold' is missing, misshapen or NaN")  # fmt: skip
        trees = TreeEnsemble(
            feat.astype(np.int64), thr, art.array("value", (n_trees, n_split + 1)),
            float(art.array("base", (1,))[0]), int(depth),
        )  # fmt: skip
        return cls(trees, float(horizon), art.manifest)


class SignalServer:
    """The decision-time call: the tracker's features now -> expected move in mean
    spreads. One per symbol; its feature buffer is reused, so a call allocates little."""

    __slots__ = ("_buf", "model")

    def __init__(self, model: SignalModel) -> None:
        self.model = model
        self._buf = np.zeros(len(SIGNAL_FEATURES))

    @property
    def horizon_s(self) -> float:
        return self.model.horizon_s

    def predict(self, tracker: MarketTracker, now_ns: int | None = None) -> float:
        """Expected mid move over the horizon, in mean spreads (0.0 before any quote).

        ``now_ns`` (the decision's clock) decays the tracker's statistics to the moment
        of the decision, as training sampled them; without it they stand at the last update.
        """
        if not tracker.ready:
            return 0.0
        if now_ns is not None:
            tracker.advance(now_ns)
        return self.model.trees.predict_one(tracker.signal_features(self._buf))

    def predict_ticks(self, tracker: MarketTracker, now_ns: int | None = None) -> float:
        return self.predict(tracker, now_ns) * tracker.mean_spread

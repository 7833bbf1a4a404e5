"""Market regime: calm, volatile, thin or trending, from the last minute's market state.

An unsupervised model: a Gaussian mixture of four components over four numbers of
the market's state (volatility, spread, touch depth against its own half-hour norm,
and how directional the last minute's move was), fitted on the training hours with
scikit-learn. The components carry no names by themselves; each is named after its
mean by the one assignment of the four names that fits best (the most volatile
component is *volatile*, the one with the thinnest book and widest spread *thin*, the
most directional *trending*, the quietest *calm*), and the names are stored in the
artifact. Serving is a few lines of numpy over the stored parameters (no
scikit-learn at run time), identical to scikit-learn's posterior (tested).

Used by the risk posture to tighten limits in a volatile or thin market.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from signals import artifact

if TYPE_CHECKING:
    from signals.market import MarketTracker

F64 = npt.NDArray[np.float64]
KIND = "regime"
WINDOW_S = 60
RV_FLOOR = 0.01  # bps^2 per minute, as the volatility model's
REGIME_FEATURES: tuple[str, ...] = ("log_rv_1m", "log_spread_bps", "log_depth_ratio", "trend")
SPEC = {"model": "gaussian-mixture", "features": list(REGIME_FEATURES), "window_s": WINDOW_S,
        "version": 1}  # fmt: skip


class Regime(StrEnum):
    CALM = "calm"
    VOLATILE = "volatile"
    THIN = "thin"
    TRENDING = "trending"


REGIMES = tuple(Regime)


def regime_features(tracker: MarketTracker) -> F64:
    """The market state of the last minute, from the tracker."""
    rv = tracker.realized_variance(WINDOW_S)
    move = tracker.move_bps(WINDOW_S)
    return np.array(
        [
            math.log(rv + RV_FLOOR),
            math.log(max(tracker.spread_bps(), 1e-3)),
            math.log(max(tracker.depth_ratio(), 1e-3)),
            abs(move) / math.sqrt(rv + RV_FLOOR),
        ]
    )


def _name_components(means: F64) -> list[Regime]:
    """The assignment of names to components (standardised means) that fits best."""
    vol, spread, depth, trend = means.T
    score = {
        Regime.VOLATILE: vol,
        Regime.THIN: spread - depth,
        Regime.TRENDING: trend,
        Regime.CALM: -(vol + spread + trend) + depth,
    }
    best: tuple[float, tuple[Regime, ...]] | None = None
    for perm in itertools.permutations(REGIMES):
        total = float(sum(score[name][c] for c, name in enumerate(perm)))
        if best is None or total > best[0]:
            best = (total, perm)
    assert best is not None
    return list(best[1])


@dataclass(frozen=True, slots=True)
class RegimeModel:
    """The mixture in standardised feature space, and a name per component."""

    center: F64  # [4] feature means on the training hours
    scale: F64  # [4] feature standard deviations
    weights: F64  # [k]
    means: F64  # [k, 4]
    prec_chol: F64  # [k, 4, 4] Cholesky factors of the precision matrices
    names: tuple[Regime, ...]
    manifest: dict[str, Any]
    # per component: log weight + log det - d/2 log 2 pi, and mean @ precision factor
    _const: F64 = field(init=False, repr=False, compare=False)
    _mean_prec: F64 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        d = self.means.shape[1]
        log_det = np.log(np.diagonal(self.prec_chol, axis1=1, axis2=2)).sum(axis=1)
        const = np.log(self.weights) + log_det - 0.5 * d * math.log(2 * math.pi)
        object.__setattr__(self, "_const", const)
        object.__setattr__(self, "_mean_prec", np.einsum("kd,kde->ke", self.means, self.prec_chol))

    @classmethod
    def fit(cls, x: F64, *, seed: int = 0, manifest: dict[str, Any] | None = None) -> RegimeModel:
        from sklearn.mixture import GaussianMixture  # fit time only: not a serving dependency

        center, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        z = (x - center) / scale
        gm = GaussianMixture(len(REGIMES), covariance_type="full", n_init=8, random_state=seed)
        gm.fit(z)
        names = tuple(_name_components(gm.means_))
        return cls(center, scale, gm.weights_, gm.means_, gm.precisions_cholesky_, names,
                   manifest or {})  # fmt: skip

    def posterior(self, x: F64) -> F64:
        """P(component | state) per row: [n, k] (scikit-learn's formula, all components
        in one einsum)."""
        z = (np.atleast_2d(x) - self.center) / self.scale
        y = np.matmul(z, self.prec_chol) - self._mean_prec[:, None, :]  # [k, n, d]
        log_p = self._const - 0.5 * (y * y).sum(axis=2).T
        log_p -= log_p.max(axis=1, keepdims=True)
        p = np.exp(log_p)
        out: F64 = p / p.sum(axis=1, keepdims=True)
        return out

    def regime_probs(self, x: F64) -> dict[Regime, float]:
        """P(regime | one state), by name."""
        p = self.posterior(x)[0]
        return {name: float(p[c]) for c, name in enumerate(self.names)}

    def regime_probs_of(self, tracker: MarketTracker) -> dict[Regime, float]:
        """The serving call for the posture: P(regime | the market now), by name."""
        return self.regime_probs(regime_features(tracker))

    def label(self, x: F64) -> list[Regime]:
        """The likeliest regime per row."""
        return [self.names[c] for c in self.posterior(x).argmax(axis=1)]

    def classify(self, tracker: MarketTracker) -> tuple[Regime, float]:
        """The serving call: the likeliest regime now and its probability."""
        p = self.posterior(regime_features(tracker))[0]
        c = int(p.argmax())
        return self.names[c], float(p[c])

    # ----------------------------------------------------------- artifact
    def save(self, path: str | Path) -> str:
        arrays = {"center": self.center, "scale": self.scale, "weights": self.weights,
                  "means": self.means, "prec_chol": self.prec_chol}  # fmt: skip
        body = {"spec": SPEC, "component_names": [n.value for n in self.names], **self.manifest}
        return artifact.save(path, KIND, arrays, body)

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> RegimeModel:
        art = artifact.load(path, KIND, expected_sha256)
        artifact.check_spec(art, "spec", SPEC)
        d, k = len(REGIME_FEATURES), len(REGIMES)
        names_raw = art.field("component_names")
        try:
            names = tuple(Regime(n) for n in names_raw)
        except (TypeError, ValueError):
            raise artifact.ArtifactRefused(art.path, f"component_names {names_raw!r} are not regimes") from None  # fmt: skip
        if sorted(names) != sorted(REGIMES):
            raise artifact.ArtifactRefused(art.path, f"component_names {names_raw!r} must name each regime once")  # fmt: skip
        weights = art.array("weights", (k,))
        scale = art.array("scale", (d,))
        prec = art.array("prec_chol", (k, d, d))
        if (weights <= 0).any() or not math.isclose(weights.sum(), 1.0, rel_tol=1e-6):
            raise artifact.ArtifactRefused(art.path, "weights are not a probability vector")
        if (scale <= 0).any() or (np.diagonal(prec, axis1=1, axis2=2) <= 0).any():
            raise artifact.ArtifactRefused(art.path, "scale or precision factors are not positive")  # fmt: skip
        return cls(art.array("center", (d,)), scale, weights, art.array("means", (k, d)), prec,
                   names, art.manifest)  # fmt: skip

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

**Per-ticker standardisation.** The four numbers are in absolute units (bps, bps²), and
tickers differ in their ordinary levels: fitted on AMZN, a model read AAPL's lower
volatility and spread in bps as "calm" 99 % of the time. So each ticker's state is
standardised with its *own* mean and spread, measured on its training hours and stored in
the artifact per ticker; the mixture lives in that standardised space and a regime means
"volatile *for this ticker*". A loaded model classifies only once bound to a ticker
(:meth:`RegimeModel.for_ticker`); a ticker without statistics is refused
(:class:`RegimeRefused`) unless they are estimated from its own states
(:meth:`RegimeModel.with_ticker`); there is no cross-ticker default.

Used by the risk posture to tighten limits in a volatile or thin market.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
        "standardise": "per_ticker", "version": 2}  # fmt: skip
MIN_STATES = 60  # fewest state samples (10 minutes at 10 s) a ticker's statistics rest on


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


class RegimeRefused(ValueError):
    """The model cannot label this ticker's states (no statistics, too few states)."""


def _stats(x: F64) -> tuple[F64, F64]:
    center, scale = x.mean(axis=0), x.std(axis=0)
    return center, np.where(scale > 1e-9, scale, 1.0)


@dataclass(frozen=True, slots=True)
class RegimeModel:
    """The mixture in per-ticker standardised space, and a name per component.

    ``ticker_stats``: each known ticker's feature means and standard deviations on its
    training hours; ``ticker``: the ticker this instance labels (None: bind first)."""

    ticker_stats: dict[str, tuple[F64, F64]]
    weights: F64  # [k]
    means: F64  # [k, 4]
    prec_chol: F64  # [k, 4, 4] Cholesky factors of the precision matrices
    names: tuple[Regime, ...]
    manifest: dict[str, Any]
    ticker: str | None = None
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
    def fit(
        cls, by_ticker: Mapping[str, F64], *, seed: int = 0, manifest: dict[str, Any] | None = None
    ) -> RegimeModel:
        """Each ticker's states standardised with its own statistics, pooled, mixed."""
        from sklearn.mixture import GaussianMixture  # fit time only: not a serving dependency

        stats = {t: _stats(x) for t, x in by_ticker.items()}
        z = np.concatenate([(x - stats[t][0]) / stats[t][1] for t, x in by_ticker.items()])
        gm = GaussianMixture(len(REGIMES), covariance_type="full", n_init=8, random_state=seed)
        gm.fit(z)
        names = tuple(_name_components(gm.means_))
        return cls(stats, gm.weights_, gm.means_, gm.precisions_cholesky_, names, manifest or {})

    # ----------------------------------------------------------- tickers
    @property
    def tickers(self) -> list[str]:
        return sorted(self.ticker_stats)

    def for_ticker(self, ticker: str) -> RegimeModel:
        """This model labelling ``ticker``'s states; RegimeRefused if it has no statistics."""
        if ticker not in self.ticker_stats:
            raise RegimeRefused(
                f"the regime model has no market-state statistics for {ticker} (it knows "
                f"{', '.join(self.tickers) or 'none'}): estimate them from {ticker}'s own "
                f"states (with_ticker, at least {MIN_STATES}) rather than borrow another's"
            )
        return replace(self, ticker=ticker)

    def with_ticker(self, ticker: str, states: F64) -> RegimeModel:
        """This model labelling ``ticker``, its statistics estimated from its own ``states``
        (rows of :data:`REGIME_FEATURES`, e.g. its first minutes of the session)."""
        x = np.asarray(states, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(REGIME_FEATURES) or not np.isfinite(x).all():
            raise RegimeRefused(f"{ticker}: states must be finite rows of {len(REGIME_FEATURES)} features")  # fmt: skip
        if x.shape[0] < MIN_STATES:
            raise RegimeRefused(f"{ticker}: {x.shape[0]} states, at least {MIN_STATES} needed to estimate its statistics")  # fmt: skip
        return replace(self, ticker_stats={**self.ticker_stats, ticker: _stats(x)}, ticker=ticker)

    def _standardise(self, x: F64) -> F64:
        if self.ticker is None:
            raise RegimeRefused(
                "the regime model labels one ticker's states: bind it first (for_ticker)"
            )
        center, scale = self.ticker_stats[self.ticker]
        out: F64 = (np.atleast_2d(x) - center) / scale
        return out

    # ----------------------------------------------------------- serving
    def posterior(self, x: F64) -> F64:
        """P(component | state) per row: [n, k] (scikit-learn's formula, all components
        in one einsum)."""
        z = self._standardise(x)
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
        tickers = self.tickers
        arrays = {"ticker_center": np.stack([self.ticker_stats[t][0] for t in tickers]),
                  "ticker_scale": np.stack([self.ticker_stats[t][1] for t in tickers]),
                  "weights": self.weights, "means": self.means, "prec_chol": self.prec_chol}  # fmt: skip
        body = {"spec": SPEC, "component_names": [n.value for n in self.names],
                "tickers": tickers, **self.manifest}  # fmt: skip
        return artifact.save(path, KIND, arrays, body)

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> RegimeModel:
        """The model, not yet bound to a ticker (``for_ticker``)."""
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
        tickers = art.field("tickers")
        if (not isinstance(tickers, list) or not tickers or len(set(tickers)) != len(tickers)
                or not all(isinstance(t, str) and t for t in tickers)):  # fmt: skip
            raise artifact.ArtifactRefused(art.path, f"tickers {tickers!r} are not distinct names")  # fmt: skip
        weights = art.array("weights", (k,))
        center = art.array("ticker_center", (len(tickers), d))
        scale = art.array("ticker_scale", (len(tickers), d))
        prec = art.array("prec_chol", (k, d, d))
        if (weights <= 0).any() or not math.isclose(weights.sum(), 1.0, rel_tol=1e-6):
            raise artifact.ArtifactRefused(art.path, "weights are not a probability vector")
        if (scale <= 0).any() or (np.diagonal(prec, axis1=1, axis2=2) <= 0).any():
            raise artifact.ArtifactRefused(art.path, "scale or precision factors are not positive")  # fmt: skip
        stats = {t: (center[i], scale[i]) for i, t in enumerate(tickers)}
        return cls(stats, weights, art.array("means", (k, d)), prec, names, art.manifest)

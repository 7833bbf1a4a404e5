"""Realised-volatility forecast: how much the mid will move over the next minute.

A HAR model (Corsi 2009) on log realised variance, intraday: the next minute's
variance of one-second mid returns from the last minute's, the last 5 minutes' and the
last 30 minutes' (each per minute), fitted by least squares on the training hours.
HAR is the standard benchmark of realised-volatility forecasting: three coefficients,
no tuning, robust on little data (one day here), and it nests the naive forecast
(the last minute's variance again), against which it is judged.

Used by the risk posture: "a price move beyond k forecast sigmas" compares the
mid's move over a few seconds with ``sigma_bps(seconds)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from signals import artifact

if TYPE_CHECKING:
    from signals.market import MarketTracker

F64 = npt.NDArray[np.float64]
KIND = "volatility"
HAR_WINDOWS_S = (60, 300, 1800)
HORIZON_S = 60
# variance floor, bps^2 per minute: a minute with no mid move is "very calm", not -inf
RV_FLOOR = 0.01
SPEC = {"model": "har-log", "windows_s": list(HAR_WINDOWS_S), "horizon_s": HORIZON_S,
        "return_step_s": 1, "floor_bps2": RV_FLOOR, "version": 1}  # fmt: skip


def har_inputs(tracker: MarketTracker) -> F64:
    """Realised variance per minute (bps^2) over each HAR window, from the tracker."""
    return np.array([tracker.realized_variance(w) * 60.0 / w for w in HAR_WINDOWS_S])


def har_design(rv_per_min: F64) -> F64:
    """[1, log rv_1m, log rv_5m, log rv_30m] rows."""
    logs = np.log(np.maximum(rv_per_min, 0.0) + RV_FLOOR)
    return np.column_stack([np.ones(logs.shape[0]), logs])


def next_minute_rv(second_mid: F64, first_second: float, at_tod: F64) -> F64:
    """Realised variance of the minute after each time (NaN where the day ends first)."""
    r2 = np.concatenate([[0.0], np.diff(np.log(second_mid)) * 1e4]) ** 2
    csum = np.concatenate([[0.0], np.cumsum(r2)])
    idx = np.round(at_tod - first_second).astype(np.int64)
    out = np.full(at_tod.shape[0], np.nan)
    ok = (idx >= 0) & (idx + HORIZON_S < second_mid.shape[0])
    j = idx[ok]
    out[ok] = csum[j + HORIZON_S + 1] - csum[j + 1]
    return out


@dataclass(frozen=True, slots=True)
class VolatilityModel:
    """HAR-log coefficients and the bias correction from log to variance."""

    coef: F64  # [4]: intercept, last minute, 5 minutes, 30 minutes
    resid_var: float  # of log rv on the training hours: E[rv] = exp(mean + var / 2)
    manifest: dict[str, Any]

    @classmethod
    def fit(cls, rv_inputs: F64, rv_next: F64, manifest: dict[str, Any] | None = None) -> VolatilityModel:  # fmt: skip
        x = har_design(rv_inputs)
        y = np.log(rv_next + RV_FLOOR)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        return cls(np.asarray(coef, dtype=np.float64), float(resid.var()), manifest or {})

    def forecast_log(self, rv_inputs: F64) -> F64:
        """Forecast of log(rv + floor) of the next minute, per row of inputs."""
        return har_design(np.atleast_2d(rv_inputs)) @ self.coef

    def forecast(self, rv_inputs: F64) -> F64:
        """Expected realised variance of the next minute, bps^2."""
        return np.maximum(np.exp(self.forecast_log(rv_inputs) + self.resid_var / 2) - RV_FLOOR, 0.0)  # fmt: skip

    def variance_per_s(self, tracker: MarketTracker) -> float:
        """The serving call: forecast variance per second for the next minute, bps^2."""
        h = har_inputs(tracker)
        logs = [math.log(max(v, 0.0) + RV_FLOOR) for v in h]
        c = self.coef
        z = c[0] + c[1] * logs[0] + c[2] * logs[1] + c[3] * logs[2] + self.resid_var / 2
        return max(math.exp(z) - RV_FLOOR, 0.0) / HORIZON_S

    def sigma_bps(self, tracker: MarketTracker, seconds: float) -> float:
        """Forecast standard deviation of the mid's move over ``seconds``, bps."""
        return math.sqrt(self.variance_per_s(tracker) * seconds)

    # ----------------------------------------------------------- artifact
    def save(self, path: str | Path) -> str:
        arrays = {"coef": self.coef, "resid_var": np.array([self.resid_var])}
        return artifact.save(path, KIND, arrays, {"spec": SPEC, **self.manifest})

    @classmethod
    def load(cls, path: str | Path, expected_sha256: str | None = None) -> VolatilityModel:
        art = artifact.load(path, KIND, expected_sha256)
        artifact.check_spec(art, "spec", SPEC)
        resid_var = float(art.array("resid_var", (1,))[0])
        if resid_var < 0:
            raise artifact.ArtifactRefused(art.path, "resid_var is negative")
        return cls(art.array("coef", (4,)), resid_var, art.manifest)

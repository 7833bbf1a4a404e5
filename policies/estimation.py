"""Market statistics the baselines need, estimated from the training part of the data only.

Everything is in intraday units that transfer between tickers:

* time in seconds;
* prices as basis points of the mid (so a $585 and a $223 stock compare);
* quantities in *seconds of market volume* (``u``: shares / the market's average
  volume rate), so a participation rate is a plain fraction.

Almgren-Chriss in these units: trading at rate ``v`` (u/s, i.e. participation) costs
``eps + eta * v`` bps per unit temporarily, moves the mid permanently by ``gamma``
bps per unit traded, and the mid diffuses with ``sigma`` bps/sqrt(s). Minimising
E[cost] + lambda Var[cost] gives x(t) = X sinh(kappa (T - t)) / sinh(kappa T) with
kappa^2 = lambda sigma^2 / (eta - gamma tau / 2) (tau the decision interval).

How each parameter is measured (:func:`estimate_almgren_chriss`):

* ``sigma``: standard deviation of mid log-returns over ``sample_s``-second steps,
  scaled to one second (sampling every 30 s damps bid-ask bounce);
* ``eps``: the mean half-spread;
* ``eta``: the cost of taking ``n`` units at once is read off the displayed book: the
  average depth slope (bps of price per unit of depth, over every visible level; on
  level-1 data the next level is assumed one spread behind the touch) times ``n / 2``;
  a child of participation ``v`` over one decision interval ``tau`` is ``n = v tau``,
  so ``eta = slope * tau / 2``;
* ``gamma``: least-squares slope of the mid change (bps) on signed market volume (u)
  over ``sample_s`` steps, Kyle's lambda;
* ``risk_aversion`` is a preference, not a market fact: it is calibrated on training
  episodes (see :mod:`policies.evaluate`) or given.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
NS_PER_S = 1_000_000_000
DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class MarketArrays:
    """The columns estimation needs, for one ticker-day restricted to the training split.

    ``ts_ns``/``mid``/``spread`` are per book event; the book depth columns are
    ``[rows, levels]``; ``trade_*`` are the executions (visible and hidden).
    """

    ts_ns: I64
    mid: F64  # ticks
    spread: I64  # ticks
    bid_px: I64
    bid_sz: I64
    ask_px: I64
    ask_sz: I64
    trade_ts_ns: I64
    trade_qty: I64
    trade_sign: I64  # +1 buyer-initiated, -1 seller-initiated
    day_start_ns: int

    @property
    def seconds(self) -> float:
        return max(1e-9, (int(self.ts_ns[-1]) - int(self.ts_ns[0])) / NS_PER_S)


@dataclass(frozen=True, slots=True)
class AlmgrenChrissParams:
    sigma_bps_sqrt_s: float
    eps_bps: float
    eta_bps: float  # bps per unit participation
    gamma_bps_per_u: float
    volume_rate: float  # shares per second (the unit u's scale, for reports)
    risk_aversion: float = 1e-4  # per (bps x u)

    def kappa(self, tau_s: float) -> float:
        """Urgency in 1/s; 0 means the straight-line (TWAP) trajectory."""
        eta_t = max(1e-9, self.eta_bps - 0.5 * self.gamma_bps_per_u * tau_s)
        k2 = self.risk_aversion * self.sigma_bps_sqrt_s**2 / eta_t
        return math.sqrt(max(0.0, k2))

    def with_risk_aversion(self, value: float) -> AlmgrenChrissParams:
        d = asdict(self)
        d["risk_aversion"] = value
        return AlmgrenChrissParams(**d)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AlmgrenChrissParams:
        return cls(**{k: float(data[k]) for k in cls.__dataclass_fields__})


MAX_LINE = 50.0  # kappa T beyond which a line is all done within its first decisions


def checked_urgency(value: Any, where: str) -> float:
    """``value`` as a line's urgency (a finite kappa T in [0, MAX_LINE]), or ValueError
    naming ``where``: the one check for the passive tactic's line, the action table's
    and the daemon's configured one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: catch-up urgency must be a number, got {value!r}")
    if not math.isfinite(value) or not 0.0 <= value <= MAX_LINE:
        raise ValueError(
            f"{where}: catch-up urgency must be a kappa T in [0, {MAX_LINE:g}], got {value!r}"
        )
    return float(value)


def front_loaded_done(urgency: float, elapsed: float) -> float:
    """Share of a parent done at ``elapsed`` (a share of its horizon) on the
    Almgren-Chriss line of dimensionless urgency k = kappa T: 1 - sinh(k (1 - s)) / sinh(k).

    Why dimensionless: the same k front-loads every order by the same share whatever its
    ticker, price or horizon, so a policy reading only the elapsed and done shares knows
    where the line is (the dimensional kappa would need the horizon in seconds too)."""
    return 1.0 - ac_holdings(1.0, urgency, 1.0, elapsed)


def ac_holdings(x0: float, kappa: float, horizon_s: float, t_s: float) -> float:
    """Almgren-Chriss holdings x(t) = X sinh(kappa (T - t)) / sinh(kappa T), exact.

    Small kappa T falls back to the limit X (1 - t/T) without dividing by ~0.
    """
    if horizon_s <= 0:
        return 0.0
    t = min(max(t_s, 0.0), horizon_s)
    kt = kappa * horizon_s
    if kt < 1e-8:
        return x0 * (1.0 - t / horizon_s)
    if kt > 700:  # sinh overflows; the ratio tends to exp(-kappa t)
        return x0 * math.exp(-kappa * t)
    return x0 * math.sinh(kappa * (horizon_s - t)) / math.sinh(kt)


def estimate_almgren_chriss(
    data: list[MarketArrays], *, tau_s: float, sample_s: float = 30.0, risk_aversion: float = 1e-4
) -> AlmgrenChrissParams:
    """Pool every training ticker-day (each in its own units, so pooling is fair)."""
    if not data:
        raise ValueError("no training data to estimate Almgren-Chriss parameters from")
    sig2, eps, slopes, gammas, rates, weights = [], [], [], [], [], []
    for d in data:
        if len(d.ts_ns) < 10:
            continue
        rate = max(1e-9, float(d.trade_qty.sum()) / d.seconds)
        grid = np.arange(int(d.ts_ns[0]), int(d.ts_ns[-1]), int(sample_s * NS_PER_S))
        if len(grid) < 3:
            continue
        idx = np.searchsorted(d.ts_ns, grid, side="right") - 1
        idx = np.clip(idx, 0, len(d.ts_ns) - 1)
        mids = d.mid[idx]
        ret_bps = np.diff(np.log(mids)) * 1e4
        sig2.append(float(np.mean(ret_bps**2)) / sample_s)
        eps.append(float(np.mean(d.spread / d.mid)) * 1e4 / 2)
        slopes.append(_depth_slope_bps_per_u(d, rate))
        # Kyle's lambda on the same grid
        tidx = np.searchsorted(d.trade_ts_ns, grid, side="right")
        signed = np.cumsum(np.concatenate([[0], d.trade_qty * d.trade_sign]))[tidx]
        flow_u = np.diff(signed) / rate
        if np.var(flow_u) > 0:
            gammas.append(max(0.0, float(np.cov(flow_u, ret_bps)[0, 1] / np.var(flow_u))))
        rates.append(rate)
        weights.append(d.seconds)
    if not sig2:
        raise ValueError("training data too short to estimate Almgren-Chriss parameters")
    w = np.asarray(weights) / sum(weights)
    slope = float(np.dot(w, slopes))
    return AlmgrenChrissParams(
        sigma_bps_sqrt_s=math.sqrt(float(np.dot(w, sig2))),
        eps_bps=float(np.dot(w, eps)),
        eta_bps=slope * tau_s / 2,
        gamma_bps_per_u=float(np.mean(gammas)) if gammas else 0.0,
        volume_rate=float(np.dot(w, rates)),
        risk_aversion=risk_aversion,
    )


def _depth_slope_bps_per_u(d: MarketArrays, rate: float) -> float:
    """Average (price distance from mid, bps) / (depth to reach it, u) over visible levels."""
    mid = d.mid[:, None]
    levels = d.ask_px.shape[1]
    if levels >= 2:
        ask_dist = (d.ask_px[:, 1:] - mid) / mid * 1e4
        bid_dist = (mid - d.bid_px[:, 1:]) / mid * 1e4
        ask_depth = np.cumsum(d.ask_sz, axis=1)[:, :-1] / rate
        bid_depth = np.cumsum(d.bid_sz, axis=1)[:, :-1] / rate
        ok_a = (d.ask_px[:, 1:] > 0) & (ask_depth > 0)
        ok_b = (d.bid_px[:, 1:] > 0) & (bid_depth > 0)
        vals = np.concatenate(
            [
                (ask_dist / np.where(ok_a, ask_depth, 1))[ok_a],
                (bid_dist / np.where(ok_b, bid_depth, 1))[ok_b],
            ]
        )
    else:
        # level 1 only: assume the next level sits one spread behind the touch
        half = d.spread / d.mid * 1e4 / 2
        depth = (d.ask_sz[:, 0] + d.bid_sz[:, 0]) / 2 / rate
        ok = depth > 0
        vals = (3 * half[ok]) / depth[ok]
    vals = vals[np.isfinite(vals)]
    return float(np.median(vals)) if len(vals) else 0.0


# --------------------------------------------------------------- volume profile


@dataclass(frozen=True, slots=True)
class VolumeProfile:
    """Share of a day's volume per time-of-day bucket, from the training data only.

    Buckets the training data never covered get the mean covered rate: with one
    day of data and a chronological split, the test hours fall there and the VWAP
    schedule is straight-line over them (documented in docs/policies.md).
    """

    bucket_s: int
    start_s: int  # first bucket's time of day (seconds after midnight)
    rate: tuple[float, ...]  # relative volume rate per bucket (mean 1 over covered buckets)
    covered: tuple[bool, ...]

    def cumulative(self, tod_s: float) -> float:
        """Integral of the relative rate from ``start_s`` to ``tod_s`` (bucket-seconds)."""
        x = (tod_s - self.start_s) / self.bucket_s
        n = len(self.rate)
        if x <= 0:
            return x * (self.rate[0] if n else 1.0) * self.bucket_s
        k = min(int(x), n)
        acc = sum(self.rate[:k])
        if k < n:
            acc += (x - k) * self.rate[k]
        else:
            acc += (x - n) * (self.rate[-1] if n else 1.0)
        return acc * self.bucket_s

    def to_json(self) -> dict[str, Any]:
        return {
            "bucket_s": self.bucket_s,
            "start_s": self.start_s,
            "rate": list(self.rate),
            "covered": list(self.covered),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VolumeProfile:
        return cls(
            int(data["bucket_s"]),
            int(data["start_s"]),
            tuple(float(x) for x in data["rate"]),
            tuple(bool(x) for x in data["covered"]),
        )

    @classmethod
    def flat(cls, start_s: int = 34_200, end_s: int = 57_600, bucket_s: int = 900) -> VolumeProfile:
        n = -(-(end_s - start_s) // bucket_s)
        return cls(bucket_s, start_s, (1.0,) * n, (False,) * n)


def estimate_volume_profile(
    data: list[MarketArrays],
    *,
    bucket_s: int = 900,
    session_start_s: int = 34_200,
    session_end_s: int = 57_600,
) -> VolumeProfile:
    """Per-bucket volume rate, each ticker-day normalised to its own mean, then averaged."""
    n = -(-(session_end_s - session_start_s) // bucket_s)
    totals = np.zeros(n)
    counts = np.zeros(n)
    for d in data:
        if len(d.trade_ts_ns) == 0:
            continue
        tod = (d.trade_ts_ns - d.day_start_ns) / NS_PER_S
        b = np.clip(((tod - session_start_s) // bucket_s).astype(int), 0, n - 1)
        vol = np.bincount(b, weights=d.trade_qty.astype(float), minlength=n)
        # seconds of each bucket this ticker-day covers
        lo = (int(d.ts_ns[0]) - d.day_start_ns) / NS_PER_S
        hi = (int(d.ts_ns[-1]) - d.day_start_ns) / NS_PER_S
        edges = session_start_s + np.arange(n + 1) * bucket_s
        cover = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None)
        ok = cover >= bucket_s / 2
        if not ok.any():
            continue
        rate = np.where(ok, vol / np.where(ok, cover, 1), 0.0)
        rate /= rate[ok].mean()
        totals += rate
        counts += ok
    covered = counts > 0
    rates = np.where(covered, totals / np.where(covered, counts, 1), 0.0)
    fill = rates[covered].mean() if covered.any() else 1.0
    rates = np.where(covered, rates, fill)
    rates /= rates.mean()
    return VolumeProfile(
        bucket_s, session_start_s, tuple(float(r) for r in rates), tuple(bool(c) for c in covered)
    )

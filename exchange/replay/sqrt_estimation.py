"""Calibrates the square-root impact model (:mod:`exchange.replay.sqrt_impact`) from
one LOBSTER day of the ticker itself.

Everything comes from the public trades and the mid price of that file:

- ``sigma_daily_ticks``: the standard deviation of 1-minute mid changes, scaled to a
  6.5-hour day (the issue's and the literature's sigma);
- ``daily_volume``: visible plus hidden executed shares, scaled to a 6.5-hour day;
- ``y0``, the square-root coefficient of *unabsorbed* volume: least squares of each
  minute's mid change on ``sigma * sign(dV) sqrt(|dV| / V)``, ``dV`` the minute's
  signed public volume (the aggregate impact of Patzelt & Bouchaud 2018 read through
  the square root; over one minute the kernel below has barely relaxed). The binned
  exponent of the same data is kept as a check (``aggregate_delta``);
- the relaxation kernel ``G``: the propagator of the public market orders (executions
  grouped by timestamp and side), estimated by regressing each mid change between
  market orders on the signs of the previous ones in log-spaced lag bins (this
  accounts for the long memory of order signs, Bouchaud et al. 2004; Eisler,
  Bouchaud & Kockelkoren 2012), converted to seconds with the mean time between
  market orders and fitted as ``A * (permanent + (1 - permanent) (1 + tau/tau0)**-beta)``
  by least squares over a grid of ``(tau0, beta)``;
- diagnostics written next to the parameters: the sign autocorrelation exponent
  ``gamma`` (``C(l) ~ l**-gamma``; diffusive prices need ``beta ~ (1 - gamma)/2``),
  and ``touch_refill_s``: after an execution that empties the best level, the median
  time until that side's best price is back (the pace at which displayed liquidity
  refills, which the replay reproduces from the recorded messages).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from exchange.replay.prepared import PreparedDay

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
DAY_S = 23_400.0  # 09:30-16:00
MINUTE_S = 60.0
MAX_LAG = 1500  # market orders: 25 min (AAPL) to 70 min (AMZN) on the shipped days
TAU0_GRID_S = tuple(float(x) for x in np.geomspace(0.5, 1800.0, 48))
BETA_GRID = tuple(round(float(x), 3) for x in np.arange(0.05, 1.01, 0.025))


@dataclass(frozen=True, slots=True)
class MarketOrders:
    t_s: F64  # seconds since the first message
    sign: F64  # +1 buyer-initiated, -1 seller-initiated
    mid: F64  # mid (ticks) just before the market order


def _mid(day: PreparedDay) -> F64:
    b = day.day.book
    two_sided = (b.bid_px[:, 0] > 0) & (b.ask_px[:, 0] > 0)
    mid = np.where(two_sided, (b.bid_px[:, 0] + b.ask_px[:, 0]) / 2.0, np.nan)
    ok = ~np.isnan(mid)
    idx = np.where(ok, np.arange(mid.size), 0)
    np.maximum.accumulate(idx, out=idx)
    filled: F64 = mid[idx]
    return filled  # a leading one-sided stretch stays NaN


def _span_s(day: PreparedDay) -> float:
    ts = day.day.messages.ts_ns
    return max(1.0, (int(ts[-1]) - int(ts[0])) / 1e9)


def market_orders(day: PreparedDay) -> MarketOrders:
    m = day.day.messages
    trade = np.flatnonzero((m.event == 4) | (m.event == 5))
    sign = -m.direction[trade].astype(np.float64)
    ts = m.ts_ns[trade]
    new = np.ones(trade.size, dtype=bool)
    new[1:] = (ts[1:] != ts[:-1]) | (sign[1:] != sign[:-1])
    first = trade[new]
    mid = _mid(day)
    before = np.concatenate([[mid[0]], mid[:-1]])[first]
    t = (m.ts_ns[first] - int(m.ts_ns[0])) / 1e9
    return MarketOrders(t.astype(np.float64), sign[new], before)


def daily_volume(day: PreparedDay) -> float:
    m = day.day.messages
    traded = float(m.size[(m.event == 4) | (m.event == 5)].sum())
    return traded * DAY_S / _span_s(day)


def minute_series(day: PreparedDay) -> tuple[F64, F64]:
    """Per minute: the mid change (ticks) and the signed executed volume (shares)."""
    m = day.day.messages
    ts = m.ts_ns
    t0 = int(ts[0])
    edges = t0 + np.arange(0, int(_span_s(day) // MINUTE_S) + 1) * int(MINUTE_S * 1e9)
    mid = _mid(day)
    last = np.searchsorted(ts, edges, side="right") - 1
    dm = np.diff(mid[np.clip(last, 0, None)])
    trade = (m.event == 4) | (m.event == 5)
    signed = np.where(trade, -m.direction.astype(np.float64) * m.size, 0.0)
    cum = np.concatenate([[0.0], np.cumsum(signed)])
    dv = np.diff(cum[np.searchsorted(ts, edges, side="left")])
    ok = np.isfinite(dm)
    return dm[ok], dv[ok]


def daily_sigma_ticks(dm: F64) -> float:
    return float(np.std(dm) * math.sqrt(DAY_S / MINUTE_S))


def aggregate_impact(dm: F64, dv: F64, sigma: float, volume: float) -> tuple[float, float]:
    """(y0, delta): the square-root coefficient of each minute's mid change on its
    signed volume, and the exponent of the binned means (eight quantile bins)."""
    x = np.sign(dv) * np.sqrt(np.abs(dv) / volume) * sigma
    y0 = float(x @ dm / (x @ x))
    r = np.abs(dv) / volume
    y = dm * np.sign(dv) / sigma
    qs = np.quantile(r, np.linspace(0.0, 1.0, 9))
    bins = np.clip(np.searchsorted(qs, r, side="right") - 1, 0, 7)
    xs, ys = [], []
    for i in range(8):
        sel = bins == i
        if sel.any() and float(y[sel].mean()) > 0 and float(r[sel].mean()) > 0:
            xs.append(math.log(float(r[sel].mean())))
            ys.append(math.log(float(y[sel].mean())))
    delta = float(np.polyfit(xs, ys, 1)[0]) if len(xs) >= 3 else float("nan")
    return y0, delta


def sign_gamma(sign: F64, max_lag: int = 1000) -> float:
    """Exponent of the sign autocorrelation ``C(l) ~ l**-gamma`` (lags 1 to ``max_lag``
    where C is positive)."""
    e = sign - sign.mean()
    var = float(e @ e) / e.size
    lags = np.unique(np.round(np.geomspace(1, min(max_lag, e.size // 4), 24)).astype(int))
    c = np.array([float(e[:-k] @ e[k:]) / (e.size - k) / var for k in lags])
    ok = c > 0
    if ok.sum() < 3:
        return float("nan")
    return float(-np.polyfit(np.log(lags[ok]), np.log(c[ok]), 1)[0])


def lag_edges(max_lag: int = MAX_LAG) -> I64:
    edges: I64 = np.unique(np.round(np.geomspace(1, max_lag, 25)).astype(np.int64))
    return np.concatenate([[0], edges]).astype(np.int64)


def propagator(mo: MarketOrders, max_lag: int = MAX_LAG) -> tuple[I64, F64]:
    """``G(l)`` at the upper edges of log-spaced lag bins (ticks after ``l`` market
    orders per unit sign), by regressing mid changes on binned past signs."""
    edges = lag_edges(max_lag)
    dm = np.diff(mo.mid)
    n = dm.size
    cum = np.concatenate([[0.0], np.cumsum(mo.sign[:n])])
    t = np.arange(n)
    cols = []
    for a, b in itertools.pairwise(edges.tolist()):
        lo = np.clip(t - b + 1, 0, None)
        hi = np.clip(t - a + 1, 0, None)
        cols.append((cum[hi] - cum[lo]) / (b - a))
    x = np.stack(cols, axis=1)
    ok = np.isfinite(dm) & (t >= edges[-1])
    if ok.sum() < 4 * x.shape[1]:
        raise ValueError(f"{int(ok.sum())} market orders are too few to estimate impact")
    coef = np.linalg.lstsq(x[ok], dm[ok], rcond=None)[0]
    return edges[1:], np.cumsum(coef)


def fit_kernel(tau_s: F64, g: F64) -> dict[str, float]:
    """``A * (permanent + (1 - permanent) * (1 + tau/tau0)**-beta)`` fitted to ``g``:
    ``(tau0, beta)`` on a grid, ``A`` and ``permanent`` by non-negative least squares."""
    best: tuple[float, float, float, float, float] | None = None
    for tau0 in TAU0_GRID_S:
        for beta in BETA_GRID:
            h = (1.0 + tau_s / tau0) ** -beta
            a, b = _two_nonneg(h, g)  # g ~ a + b h
            sse = float(((g - a - b * h) ** 2).sum())
            if b > 0 and (best is None or sse < best[0]):
                best = (sse, tau0, beta, a, b)
    if best is None:
        raise ValueError("the propagator does not decay: no kernel fits")
    sse, tau0, beta, a, b = best
    ss = float(((g - g.mean()) ** 2).sum())
    return {
        "amplitude_ticks": a + b,
        "permanent": a / (a + b),
        "tau0_s": tau0,
        "beta": beta,
        "r2": 1.0 - sse / ss if ss > 0 else 0.0,
    }


def _two_nonneg(h: F64, g: F64) -> tuple[float, float]:
    """Least squares ``g ~ a + b h`` with ``a, b >= 0``."""
    x = np.stack([np.ones_like(h), h], axis=1)
    a, b = (float(v) for v in np.linalg.lstsq(x, g, rcond=None)[0])
    if a >= 0 and b >= 0:
        return a, b
    only_b = max(0.0, float(h @ g / (h @ h)))
    only_a = max(0.0, float(g.mean()))
    sse_b = float(((g - only_b * h) ** 2).sum())
    sse_a = float(((g - only_a) ** 2).sum())
    return (0.0, only_b) if sse_b <= sse_a else (only_a, 0.0)


def touch_refill_s(day: PreparedDay, cap_s: float = 60.0) -> float:
    """Median time for a side's best price to come back after an execution emptied it."""
    m, b = day.day.messages, day.day.book
    ts = m.ts_ns
    waits: list[float] = []
    for side_px, sign in ((b.bid_px[:, 0], 1), (b.ask_px[:, 0], -1)):
        prev = np.concatenate([[side_px[0]], side_px[:-1]])
        hit = np.flatnonzero((m.event == 4) & (m.direction == sign) & (side_px != prev))
        # the best price is back when it is at least as good as before (sign-adjusted)
        for i in hit[:: max(1, hit.size // 2000)]:
            old = prev[i] * sign
            end = np.searchsorted(ts, ts[i] + int(cap_s * 1e9))
            back = np.flatnonzero(side_px[i:end] * sign >= old)
            waits.append((int(ts[i + back[0]]) - int(ts[i])) / 1e9 if back.size else cap_s)
    return float(np.median(waits)) if waits else float("nan")


def estimate_sqrt(day: PreparedDay) -> dict[str, Any]:
    """The ``sqrt`` block of impact_params.json for one ticker-day."""
    dm, dv = minute_series(day)
    sigma = daily_sigma_ticks(dm)
    volume = daily_volume(day)
    y0, delta = aggregate_impact(dm, dv, sigma, volume)
    mo = market_orders(day)
    lags, g = propagator(mo)
    interval = float(np.mean(np.diff(mo.t_s)))
    kernel = fit_kernel(lags.astype(np.float64) * interval, g)
    return {
        "y0": round(y0, 4),
        "sigma_daily_ticks": round(sigma, 2),
        "daily_volume": round(volume),
        "kernel": {k: round(v, 4) for k, v in kernel.items() if k != "amplitude_ticks"},
        "diagnostics": {
            "aggregate_delta": round(delta, 3),
            "market_orders": int(mo.t_s.size),
            "mean_interval_s": round(interval, 3),
            "sign_gamma": round(sign_gamma(mo.sign), 3),
            "propagator_lags": [int(v) for v in lags],
            "propagator_ticks": [round(float(v), 4) for v in g],
            "kernel_amplitude_ticks": round(kernel["amplitude_ticks"], 4),
            "touch_refill_s": round(touch_refill_s(day), 3),
        },
    }

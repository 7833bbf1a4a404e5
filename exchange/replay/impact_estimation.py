"""Estimates the impact models' parameters from LOBSTER data.

Method (a distributed-lag price-response regression, in the spirit of Bouchaud et
al.'s response function): cut the day into buckets of ``bucket_s`` seconds; per
bucket take the signed traded volume ``Q`` (visible and hidden executions, sign of the
aggressor) and the change of the mid price ``dm`` in ticks. Regress

    dm[j] = sum_{l < lags} b[l] * f(Q[j - l]),   f(Q) = sign(Q) * |Q| ** beta

by least squares. The cumulative response ``K(l) = b[0] + ... + b[l]`` is the mid
price move ``l`` buckets after one unit of ``f(Q)``; it is the (discretised)
propagator kernel.

- ``permanent.gamma`` (ticks per share): with ``beta = 1``, the mean of ``K`` over the
  last ten lags: what is left of the response at the horizon.
- ``transient`` (kappa, decay_s, beta): ``beta`` is the grid value with the best R^2
  (the square-root law shows as beta near 0.5); ``kappa * exp(-t / decay_s)`` is
  fitted to ``K`` by least squares over a grid of decay times. If ``K`` does not
  decay within the horizon the fit lands on the grid's upper bound, which the JSON
  records as ``decay_at_bound``.

Caveat, stated in the JSON too: ``f`` is applied to each bucket's net volume, while
the simulator applies it to each agent trade; for ``beta < 1`` per-trade kicks of a
child order sliced finer than a bucket add up to more than one bucket's kick.

- ``sqrt`` (the square-root model, the default): see
  :mod:`exchange.replay.sqrt_estimation`.

A ticker the shipped file does not hold gets the same estimates from its own data
when a model is built for it (:func:`estimate_cached`); there is no cross-ticker
default.

Run ``python -m exchange.replay.impact_estimation`` to regenerate the shipped
``impact_params.json`` from the shipped data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from exchange.replay.impact import PARAMS_FILE
from exchange.replay.prepared import PreparedDay, load_day
from exchange.replay.sqrt_estimation import estimate_sqrt

F64 = npt.NDArray[np.float64]
BETAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
DECAYS_S = tuple(float(x) for x in np.geomspace(1.0, 3600.0, 60))


@dataclass(frozen=True, slots=True)
class Response:
    beta: float
    kernel: F64  # K(l), ticks per unit of f(Q), l = 0 .. lags - 1
    r2: float
    buckets: int


def bucket_series(day: PreparedDay, bucket_s: float) -> tuple[F64, F64]:
    """Per-bucket signed traded volume and mid change (ticks)."""
    m, b = day.day.messages, day.day.book
    ts = m.ts_ns
    t0 = int(ts[0])
    width = round(bucket_s * 1e9)
    n = int((int(ts[-1]) - t0) // width) + 1
    idx = (ts - t0) // width
    trade = (m.event == 4) | (m.event == 5)
    signed = (-m.direction.astype(np.int64) * m.size).astype(np.float64)
    q = np.bincount(idx[trade], weights=signed[trade], minlength=n).astype(np.float64)
    two_sided = (b.bid_px[:, 0] > 0) & (b.ask_px[:, 0] > 0)
    mid = np.where(two_sided, (b.bid_px[:, 0] + b.ask_px[:, 0]) / 2.0, np.nan)
    mid = _ffill(mid)
    last = np.searchsorted(ts, t0 + (np.arange(n) + 1) * width, side="right") - 1
    mid_end = mid[last]
    dm = np.diff(mid_end, prepend=mid[0])
    return q, np.nan_to_num(dm)


def _ffill(x: F64) -> F64:
    ok = ~np.isnan(x)
    idx = np.where(ok, np.arange(x.size), 0)
    np.maximum.accumulate(idx, out=idx)
    return x[idx]


def response(q: F64, dm: F64, lags: int, beta: float) -> Response:
    f = np.sign(q) * np.abs(q) ** beta
    n = f.size
    if n <= 2 * lags:
        raise ValueError(f"{n} buckets are too few for {lags} lags")
    x = np.stack([f[lags - lag : n - lag] for lag in range(lags)], axis=1)
    y = dm[lags:]
    coef = np.linalg.solve(x.T @ x, x.T @ y)  # normal equations: 120 lags, fast
    resid = y - x @ coef
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss if ss > 0 else 0.0
    return Response(beta, np.cumsum(coef), r2, int(y.size))


def fit_decay(kernel: F64, bucket_s: float) -> tuple[float, float, bool]:
    """(kappa, decay_s, at_bound) of ``kappa * exp(-t / decay_s)`` fitted to ``kernel``."""
    t = np.arange(kernel.size) * bucket_s
    best = (float("inf"), 0.0, DECAYS_S[-1])
    for tau in DECAYS_S:
        e = np.exp(-t / tau)
        kappa = float(kernel @ e / (e @ e))
        sse = float(((kernel - kappa * e) ** 2).sum())
        if sse < best[0]:
            best = (sse, kappa, tau)
    return best[1], best[2], best[2] == DECAYS_S[-1]


def estimate(day: PreparedDay, bucket_s: float = 1.0, lags: int = 120) -> dict[str, Any]:
    q, dm = bucket_series(day, bucket_s)
    linear = response(q, dm, lags, 1.0)
    gamma = float(linear.kernel[-10:].mean())
    fits = [response(q, dm, lags, beta) for beta in BETAS]
    best = max(fits, key=lambda r: r.r2)
    kappa, decay_s, at_bound = fit_decay(best.kernel, bucket_s)
    return {
        "buckets": linear.buckets,
        "sqrt": estimate_sqrt(day),
        "permanent": {"gamma": gamma, "r2": round(linear.r2, 4)},
        "transient": {
            "kappa": kappa,
            "decay_s": round(decay_s, 3),
            "beta": best.beta,
            "r2": round(best.r2, 4),
            "decay_at_bound": at_bound,
        },
        "r2_by_beta": {str(r.beta): round(r.r2, 4) for r in fits},
        "kernel_beta1": [round(float(k), 6) for k in linear.kernel[:: max(1, lags // 24)]],
        "kernel_best_beta": [round(float(k), 5) for k in best.kernel[:: max(1, lags // 24)]],
    }


@functools.lru_cache(maxsize=8)
def estimate_cached(day: PreparedDay) -> dict[str, Any]:
    """Every model's parameters from ``day`` itself (once per day and process)."""
    return estimate(day)


def _relative(path: str) -> str:
    """``lobster/<day>/<file>``: where the file sits under the data root."""
    p = Path(path)
    return str(p.relative_to(p.parents[2]))


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build(paths: list[Path], bucket_s: float, lags: int) -> dict[str, Any]:
    days = [load_day(p) for p in paths]
    by_ticker: dict[str, PreparedDay] = {}
    for d in days:  # one file per ticker: the deepest (trades are the same in each)
        if d.symbol not in by_ticker or d.levels > by_ticker[d.symbol].levels:
            by_ticker[d.symbol] = d
    tickers = {sym: estimate(d, bucket_s, lags) for sym, d in sorted(by_ticker.items())}
    return {
        "produced_by": "python -m exchange.replay.impact_estimation",
        "produced_on": dt.date.today().isoformat(),
        "method": (__doc__ or "").split("Run ``python")[0].strip(),
        "units": "prices in ticks ($0.01), volumes in shares, times in seconds",
        "bucket_s": bucket_s,
        "lags": lags,
        "data": [
            {"file": _relative(d.day.message_path), "sha256": _sha256(d.day.message_path)}
            for d in by_ticker.values()
        ],
        "tickers": tickers,
    }


def main(argv: list[str] | None = None) -> int:
    from exchange.data import lobster_message_files

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("files", nargs="*", type=Path, help="LOBSTER message files (default: shipped)")
    ap.add_argument("--bucket-s", type=float, default=1.0)
    ap.add_argument("--lags", type=int, default=120)
    ap.add_argument("--out", type=Path, default=PARAMS_FILE)
    args = ap.parse_args(argv)
    paths = args.files or lobster_message_files()
    result = build(paths, args.bucket_s, args.lags)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for sym, t in result["tickers"].items():
        p, tr = t["permanent"], t["transient"]
        print(
            f"{sym}: permanent gamma={p['gamma']:.5f} ticks/share (R2 {p['r2']}); transient "
            f"kappa={tr['kappa']:.4f} decay={tr['decay_s']}s beta={tr['beta']} (R2 {tr['r2']})"
        )
        q = t["sqrt"]
        print(
            f"{sym}: sqrt y0={q['y0']} sigma={q['sigma_daily_ticks']} ticks/day "
            f"V={q['daily_volume']} kernel={q['kernel']}"
        )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

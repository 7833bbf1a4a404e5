"""Calibrates the zero-intelligence flow (:mod:`exchange.flow.model`) from LOBSTER.

Following Cont, Stoikov & Talreja (2010, section 3), from the message file and the
book *before* each message (the previous orderbook row):

- ``limit_rate[d]``: new limit orders (type 1) at distance ``d`` ticks from the
  opposite best quote, per second, averaged over both sides. A level-``L`` file only
  shows arrivals inside its window, so past the last distance observed at least half
  of the time the rates follow a power-law tail ``k / d**alpha`` (CST's form) fitted
  to the observed rates from their peak on (``alpha >= 1``);
- ``market_rate``: market orders per second per side; the executions (type 4) of one
  aggressive order share a timestamp and a direction, so they are grouped into one;
- ``cancel_rate[d]``: cancels and deletes (types 2, 3) at distance ``d`` per second,
  divided by the mean number of orders queued there (time-weighted mean depth at that
  distance over the mean limit order size): a per-order rate, as in CST;
- sizes: 64 quantiles of the limit order and market order sizes;
- ``depth_profile``: the time-weighted mean depth at each distance, the synthetic
  initial book.

``windows`` (seconds after midnight) restricts every count, rate, size and depth to
those hours, so a training split's synthetic regimes never see its test hours.

Run ``python -m exchange.flow.calibration`` to regenerate the shipped
``cst_params.json`` from the shipped data (the deepest file per ticker).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from exchange.flow.model import PARAMS_FILE, FlowParams
from exchange.replay.prepared import PreparedDay, load_day

DEPTH = 40
QUANTILES = 64
F64 = npt.NDArray[np.float64]


def _quantiles(sizes: npt.NDArray[np.int64]) -> tuple[int, ...]:
    if sizes.size == 0:
        return (100,)
    qs = np.quantile(sizes, (np.arange(QUANTILES) + 0.5) / QUANTILES, method="nearest")
    return tuple(int(max(1, q)) for q in qs)


def _power_tail(rate: F64, seen: npt.NDArray[np.bool_]) -> F64:
    """Extend the rates past the last well-observed distance with a power-law tail
    ``rate(d_last) * (d_last / d) ** alpha``; ``alpha`` is fitted (log-log least
    squares) to the observed rates from their peak on, and at least 1, so that the
    tail always thins out."""
    if seen.all() or not seen.any():
        return rate
    last = int(np.flatnonzero(seen)[-1])
    d = np.arange(1, rate.size + 1, dtype=np.float64)
    peak = int(np.argmax(np.where(seen, rate, -1.0)))
    alpha = 1.0
    tail = np.arange(peak, last + 1)
    if tail.size >= 3 and (rate[tail] > 0).all():
        slope = float(np.polyfit(np.log(d[tail]), np.log(rate[tail]), 1)[0])
        alpha = max(1.0, -slope)
    out = rate.copy()
    out[last + 1 :] = rate[last] * (d[last] / d[last + 1 :]) ** alpha
    return out


def _inside(
    ts: npt.NDArray[np.int64], day_start_ns: int, windows: Sequence[tuple[int, int]] | None
) -> npt.NDArray[np.bool_]:
    if windows is None:
        return np.ones(ts.size, dtype=bool)
    out = np.zeros(ts.size, dtype=bool)
    for lo, hi in windows:
        out |= (ts >= day_start_ns + lo * 1_000_000_000) & (ts < day_start_ns + hi * 1_000_000_000)
    return out


def calibrate(
    day: PreparedDay, depth: int = DEPTH, windows: Sequence[tuple[int, int]] | None = None
) -> FlowParams:
    m, b = day.day.messages, day.day.book
    ts = m.ts_ns
    inside = _inside(ts, day.day.day_start_ns, windows)
    n = int(inside.sum())
    if n < 10:
        raise ValueError(f"{day.day.message_path}: fewer than 10 messages inside {windows}")
    # seconds the windows cover in the data (the time from each message to the next)
    seconds = float((np.diff(ts).astype(np.float64) * inside[:-1]).sum()) / 1e9
    # Book before message i = orderbook row i - 1 (skip message 0).
    ask0 = b.ask_px[:-1, 0]
    bid0 = b.bid_px[:-1, 0]
    ev, side, price, size = m.event[1:], m.direction[1:], m.price[1:], m.size[1:]
    two_sided = (ask0 > 0) & (bid0 > 0) & inside[1:]
    dist = np.where(side > 0, ask0 - price, price - bid0)
    valid = two_sided & (dist >= 1) & (dist <= depth)

    def per_distance(mask: npt.NDArray[np.bool_]) -> F64:
        sel = mask & valid
        return np.bincount(dist[sel] - 1, minlength=depth)[:depth].astype(np.float64)

    limit_counts = per_distance(ev == 1)
    cancel_counts = per_distance((ev == 2) | (ev == 3))

    # Time-weighted mean depth at each distance from the opposite best quote.
    # row i holds from message i to i + 1; time outside the windows weighs nothing
    dt_s = np.diff(ts).astype(np.float64) / 1e9 * inside[:-1]
    depth_sum = np.zeros(depth)
    seen_time = np.zeros(depth)
    for px, sz, opp, sign in (
        (b.bid_px[:-1], b.bid_sz[:-1], b.ask_px[:-1, :1], 1),
        (b.ask_px[:-1], b.ask_sz[:-1], b.bid_px[:-1, :1], -1),
    ):
        d = (opp - px) * sign  # bids: ask - price; asks: price - bid
        ok = (px > 0) & (d >= 1) & (d <= depth)
        w = np.broadcast_to(dt_s[:, None], px.shape)
        np.add.at(depth_sum, d[ok] - 1, (sz * w)[ok])
        # Distances up to the worst visible level were observed (queue possibly empty).
        worst = np.where(px[:, -1] > 0, (opp[:, 0] - px[:, -1]) * sign, depth)
        for k in range(depth):
            seen_time[k] += float(dt_s[worst >= k + 1].sum())
    total_time = 2 * float(dt_s.sum())
    seen = seen_time >= 0.5 * total_time
    mean_depth = depth_sum / np.maximum(seen_time, 1e-9)

    limit_sizes = size[(ev == 1) & valid]
    mean_limit = float(limit_sizes.mean()) if limit_sizes.size else 100.0
    limit_rate = _power_tail(limit_counts / (2 * seconds), seen)
    mean_orders = np.maximum(mean_depth / mean_limit, 0.5)
    cancel_rate = cancel_counts / (2 * seconds) / mean_orders
    cancel_rate = np.where(seen, cancel_rate, cancel_rate[seen].mean() if seen.any() else 0.1)
    profile = np.where(seen, mean_depth, 0.0)
    profile = np.where(profile > 0, profile, mean_limit)

    # Market orders: executions sharing a timestamp and direction.
    ex = np.flatnonzero((m.event == 4) & inside)
    key_t, key_d = ts[ex], m.direction[ex]
    first = np.ones(ex.size, dtype=bool)
    first[1:] = (key_t[1:] != key_t[:-1]) | (key_d[1:] != key_d[:-1])
    group = np.cumsum(first) - 1
    market_sizes = (
        np.bincount(group, weights=m.size[ex]).astype(np.int64)
        if ex.size
        else np.zeros(0, np.int64)
    )
    market_rate = float(first.sum()) / (2 * seconds)

    quoted = (b.ask_px[:, 0] > 0) & (b.bid_px[:, 0] > 0) & inside
    mids = (b.ask_px[:, 0] + b.bid_px[:, 0])[quoted] // 2
    spreads = (b.ask_px[:, 0] - b.bid_px[:, 0])[quoted]
    where = (
        "" if windows is None else " in " + ",".join(f"{_hhmm(a)}-{_hhmm(c)}" for a, c in windows)
    )
    return FlowParams(
        symbol=day.symbol,
        limit_rate=tuple(round(float(x), 6) for x in limit_rate),
        cancel_rate=tuple(round(float(x), 6) for x in cancel_rate),
        market_rate=round(market_rate, 6),
        limit_sizes=_quantiles(limit_sizes),
        market_sizes=_quantiles(market_sizes),
        depth_profile=tuple(round(float(x)) for x in profile),
        start_price=int(np.median(mids)) if mids.size else 10_000,
        source=f"{Path(day.day.message_path).name}{where} ({n} messages, {seconds:.0f} s)",
        spread_ticks=float(np.median(spreads)) if spreads.size else 0.0,
    )


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def build(paths: list[Path], depth: int = DEPTH) -> dict[str, Any]:
    by_ticker: dict[str, PreparedDay] = {}
    for p in paths:
        d = load_day(p)
        if d.symbol not in by_ticker or d.levels > by_ticker[d.symbol].levels:
            by_ticker[d.symbol] = d
    return {
        "produced_by": "python -m exchange.flow.calibration",
        "produced_on": dt.date.today().isoformat(),
        "method": (__doc__ or "").split("Run ``python")[0].strip(),
        "units": "rates per second per side; sizes in shares; prices in ticks",
        "tickers": {s: calibrate(d, depth).to_json() for s, d in sorted(by_ticker.items())},
    }


def main(argv: list[str] | None = None) -> int:
    from exchange.data import lobster_message_files

    ap = argparse.ArgumentParser(description="Calibrate the synthetic order flow from LOBSTER.")
    ap.add_argument("files", nargs="*", type=Path, help="LOBSTER message files (default: shipped)")
    ap.add_argument("--depth", type=int, default=DEPTH)
    ap.add_argument("--out", type=Path, default=PARAMS_FILE)
    args = ap.parse_args(argv)
    result = build(args.files or lobster_message_files(), args.depth)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for sym, p in result["tickers"].items():
        print(
            f"{sym}: limit {[round(x, 3) for x in p['limit_rate'][:5]]}/s, market "
            f"{p['market_rate']:.3f}/s, cancel/order {[round(x, 3) for x in p['cancel_rate'][:5]]}/s"
        )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Market-impact benchmark: does the simulator obey the square-root law?

    python bench/impact_bench.py [--metaorders 120] [--horizons 600 1800] [--impact sqrt]

Reproduces issue 20's measurement through :class:`policies.env.ExecutionEnv` (the one
execution path) on every shipped ticker (AMZN level 5, AAPL level 1) and each horizon:
metaorders with random starts, both sides, Q/V log-uniform in 0.5-30 % of the
horizon's expected volume, each worked by aggressive TWAP (5 s decisions; also 1 s and
30 s for the slicing test), passive TWAP, and "wait, then let the end sweep do it".

- impact(t) = side * (mid with our orders - mid of the replay without them) at t; the
  replay alone reproduces the orderbook file row for row, so the counterfactual mid is
  the file's mid at t. In units of sigma_T (daily sigma from 1-minute mid changes,
  scaled to the horizon);
- Y and delta: ``impact(T) / sigma_T = Y (Q/V)**delta``; delta from a least-squares
  line through the log of the means of eight log-spaced Q/V bins, Y from least
  squares with delta = 0.5; 95 % bootstrap CIs (metaorders resampled);
- slicing: mean impact(T) of the same metaorders with 1, 5 and 30 s decisions;
- decay: mean impact at t = 1, 1.25, 1.5, 2, 3 horizons after the start, over its mean
  at the end (aggressive TWAP, nothing traded after the end);
- the end sweep's cost (fill prices against the counterfactual mid when it starts)
  by what it had to do in units of the displayed depth facing it;
- wait-then-sweep minus TWAP (aggressive and passive), paired, by Q/V band.

``--baselines N`` instead re-runs the schedule baselines and the random policy on the
committed policy's test split (N episodes per group, its evaluation settings) under
each impact model, and reports random minus TWAP paired per episode (issue 15 found
random cheaper than TWAP under linear permanent impact).

CPU: about 1 s per metaorder at 30 minutes and 0.4 s at 10 minutes (both tickers
and all runs); ``--metaorders`` sets the size. Writes bench/results/impact_bench.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.log import configure
from core.types import Side
from exchange.replay.sqrt_estimation import daily_sigma_ticks, minute_series
from policies.actions import WAIT, Action
from policies.baselines import ScheduleTactic, TwapSchedule
from policies.context import NS_PER_S, DecisionContext, Observation
from policies.data import CLOSE_S, OPEN_S, Source, load_source, repo_data
from policies.env import EnvConfig, EpisodeSpec, ExecutionEnv
from policies.features import FeatureSpec
from policies.protocol import Policy
from policies.rollout import run_episode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

FOLDERS = ("AMZN_2012-06-21_5", "AAPL_2012-06-21_1")
DECAY_AT = (1.0, 1.25, 1.5, 2.0, 3.0)  # multiples of the horizon after the start
QV_RANGE = (0.005, 0.30)
QV_BANDS = ((0.005, 0.02), (0.02, 0.05), (0.05, 0.10), (0.10, 0.20), (0.20, 0.30))
DEPTH_BANDS = ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, 20.0), (20.0, 1e9))
BOOT = 1000


class WaitThenSweep:
    """Never trades before the end: the environment's end sweep does everything."""

    name = "wait_then_sweep"

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        return None

    def act(self, obs: Observation) -> Action:
        return WAIT


@dataclass(slots=True)
class Metaorder:
    qv: float
    side: int
    impact: dict[str, float] = field(default_factory=dict)  # run -> impact(T) / sigma_T
    decay: list[float] = field(default_factory=list)  # aggressive TWAP, at DECAY_AT
    is_bps: dict[str, float] = field(default_factory=dict)
    cost_bps: dict[str, float] = field(default_factory=dict)  # against the counterfactual mid
    sweep_depth_ratio: float = float("nan")
    sweep_cost_sigma: float = float("nan")
    sweep_s: float = float("nan")  # from the end time to the sweep's last fill
    sweep_rate_x: float = float("nan")  # shares/s it absorbed, in units of the market's rate


class Counterfactual:
    """The file's own mid and displayed depth: the replay without our orders."""

    def __init__(self, src: Source) -> None:
        d = src.day.day
        b = d.book
        self.ts = d.messages.ts_ns
        ok = (b.bid_px[:, 0] > 0) & (b.ask_px[:, 0] > 0)
        self.mid = np.where(ok, (b.bid_px[:, 0] + b.ask_px[:, 0]) / 2.0, np.nan)
        self.ask_depth = np.where(b.ask_px > 0, b.ask_sz, 0).sum(axis=1)
        self.bid_depth = np.where(b.bid_px > 0, b.bid_sz, 0).sum(axis=1)

    def _row(self, ts_ns: int) -> int:
        return max(0, int(np.searchsorted(self.ts, ts_ns, side="right")) - 1)

    def mid_at(self, ts_ns: int) -> float:
        return float(self.mid[self._row(ts_ns)])

    def depth_facing(self, side: int, ts_ns: int) -> int:
        i = self._row(ts_ns)
        return int(self.ask_depth[i] if side > 0 else self.bid_depth[i])


def _cost_bps(env: ExecutionEnv, cf: Counterfactual, spec: EpisodeSpec) -> float:
    """What our fills paid against the mid of the replay without us at each fill, in bps
    of the arrival notional: implementation shortfall without the market's own drift
    (which would otherwise swamp the comparison of tactics that trade at other times)."""
    tape = env.simulator.tape
    paid = 0.0
    filled = 0
    for i in range(len(tape)):
        if tape.agent[i]:
            paid += (tape.price[i] - cf.mid_at(tape.ts_ns[i])) * tape.qty[i]
            filled += tape.qty[i]
    mid0 = env.parent.arrival_mid
    return spec.side.sign * paid / (filled * mid0) * 1e4 if filled else float("nan")


def _env(src: Source, horizon_s: float, interval_s: float, impact: str) -> ExecutionEnv:
    cfg = EnvConfig(
        horizon_s=(horizon_s, horizon_s),
        impact=impact,
        sweep_max_s=2 * horizon_s + 60,  # the window then covers the decay curve too
    )
    return ExecutionEnv([src], feature_spec=FeatureSpec(decision_interval_s=interval_s), config=cfg)


def _specs(src: Source, horizon_s: float, n: int, rng: np.random.Generator) -> list[EpisodeSpec]:
    horizon = int(horizon_s * NS_PER_S)
    lo = src.day_start_ns + (OPEN_S + 300) * NS_PER_S
    hi = src.day_start_ns + CLOSE_S * NS_PER_S - int(DECAY_AT[-1] * horizon) - 60 * NS_PER_S
    out = []
    for _ in range(n):
        start = int(rng.integers(lo, hi)) // 1_000_000 * 1_000_000
        qv = math.exp(rng.uniform(math.log(QV_RANGE[0]), math.log(QV_RANGE[1])))
        qty = max(1, round(qv * src.volume_rate * horizon_s))
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        out.append(EpisodeSpec(0, start, horizon, side, qty))
    return out


def _impact(env: ExecutionEnv, cf: Counterfactual, spec: EpisodeSpec, t_ns: int) -> float:
    sim = env.simulator
    if t_ns > sim.now_ns:
        sim.advance_to(t_ns)
    mid = sim.book.mid
    if mid is None:
        return float("nan")
    return spec.side.sign * (mid - cf.mid_at(sim.now_ns))


def run_ticker(
    src: Source, horizon_s: float, n: int, impact: str, seed: int
) -> tuple[list[Metaorder], dict[str, float]]:
    cf = Counterfactual(src)
    dm, _ = minute_series(src.day)
    sigma_t = daily_sigma_ticks(dm) * math.sqrt(horizon_s / 23_400)
    envs = {iv: _env(src, horizon_s, iv, impact) for iv in (1.0, 5.0, 30.0)}
    rng = np.random.default_rng(seed)
    out: list[Metaorder] = []
    for k, spec in enumerate(_specs(src, horizon_s, n, rng)):
        mo = Metaorder(spec.qty / (src.volume_rate * horizon_s), spec.side.sign)
        end = spec.start_ns + spec.horizon_ns
        runs: list[tuple[str, float, Any]] = [
            ("twap_aggressive", 5.0, ScheduleTactic(TwapSchedule(), aggressive=True)),
            ("twap_aggressive_1s", 1.0, ScheduleTactic(TwapSchedule(), aggressive=True)),
            ("twap_aggressive_30s", 30.0, ScheduleTactic(TwapSchedule(), aggressive=True)),
            ("twap", 5.0, ScheduleTactic(TwapSchedule())),
            ("wait_then_sweep", 5.0, WaitThenSweep()),
        ]
        for name, iv, pol in runs:
            env = envs[iv]
            res = run_episode(env, pol, seed=k, spec=spec)
            mo.is_bps[name] = res.is_bps
            mo.cost_bps[name] = _cost_bps(env, cf, spec)
            mo.impact[name] = _impact(env, cf, spec, end) / sigma_t
            if name == "twap_aggressive":
                peak = mo.impact[name]
                mo.decay = [peak] + [
                    _impact(env, cf, spec, spec.start_ns + round(f * spec.horizon_ns)) / sigma_t
                    for f in DECAY_AT[1:]
                ]
            if name == "wait_then_sweep":
                p = env.parent
                mid0 = cf.mid_at(end)
                mo.sweep_depth_ratio = spec.qty / max(1, cf.depth_facing(spec.side.sign, end))
                if p.filled_qty:
                    mo.sweep_cost_sigma = spec.side.sign * (p.avg_px - mid0) / sigma_t
                    tape = env.simulator.tape
                    last = max(t for t, a in zip(tape.ts_ns, tape.agent, strict=True) if a)
                    mo.sweep_s = max(0.0, (last - end) / NS_PER_S)
                    mo.sweep_rate_x = p.filled_qty / max(1.0, mo.sweep_s) / src.volume_rate
        out.append(mo)
    for env in envs.values():
        env.close()
    return out, {"sigma_t_ticks": sigma_t}


# ------------------------------------------------------------------ statistics
def _fit_y(x: np.ndarray, y: np.ndarray) -> float:
    s = np.sqrt(x)
    return float(s @ y / (s @ s))


def _fit_delta(x: np.ndarray, y: np.ndarray) -> float:
    edges = np.geomspace(QV_RANGE[0], QV_RANGE[1], 9)
    bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 7)
    lx, ly = [], []
    for i in range(8):
        sel = bins == i
        if sel.sum() >= 2 and float(y[sel].mean()) > 0:
            lx.append(math.log(float(x[sel].mean())))
            ly.append(math.log(float(y[sel].mean())))
    return float(np.polyfit(lx, ly, 1)[0]) if len(lx) >= 3 else float("nan")


def _boot(fn: Any, *cols: np.ndarray, seed: int = 1) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    n = cols[0].size
    vals = []
    for _ in range(BOOT):
        i = rng.integers(0, n, n)
        v = fn(*(c[i] for c in cols))
        if math.isfinite(v):
            vals.append(v)
    point = fn(*cols)
    lo, hi = np.percentile(vals, [2.5, 97.5]) if vals else (float("nan"),) * 2
    return point, float(lo), float(hi)


def _mean(v: np.ndarray) -> float:
    return float(v.mean())


def _ratio_of_means(a: np.ndarray, b: np.ndarray) -> float:
    return float(a.mean() / b.mean()) if b.mean() != 0 else float("nan")


def summarise(mos: list[Metaorder]) -> dict[str, Any]:
    ok = [m for m in mos if all(math.isfinite(v) for v in m.impact.values())]
    x = np.array([m.qv for m in ok])
    col = {k: np.array([m.impact[k] for m in ok]) for k in ok[0].impact}
    out: dict[str, Any] = {"metaorders": len(ok)}
    for name in ("twap_aggressive", "twap"):
        y = col[name]
        out[f"Y_{name}"] = _boot(_fit_y, x, y)
        out[f"delta_{name}"] = _boot(_fit_delta, x, y)
    base = col["twap_aggressive"]
    out["slicing"] = {
        f"{s}_over_5s": _boot(_ratio_of_means, col[f"twap_aggressive_{s}"], base)
        for s in ("1s", "30s")
    }
    out["slicing_mean_impact_sigma"] = {
        "1s": float(col["twap_aggressive_1s"].mean()),
        "5s": float(base.mean()),
        "30s": float(col["twap_aggressive_30s"].mean()),
    }
    decay = np.array([m.decay for m in ok if all(math.isfinite(v) for v in m.decay)])
    out["decay_curve"] = {
        f"{f:g}T": _boot(_ratio_of_means, decay[:, i], decay[:, 0]) for i, f in enumerate(DECAY_AT)
    }
    sweep = [m for m in ok if math.isfinite(m.sweep_cost_sigma)]
    r = np.array([m.sweep_depth_ratio for m in sweep])
    c = np.array([m.sweep_cost_sigma for m in sweep])
    out["sweep_cost_by_depth_ratio"] = {
        f"{lo:g}-{hi:g}": {"n": int(sel.sum()), "cost_sigma": float(c[sel].mean())}
        for lo, hi in DEPTH_BANDS
        if (sel := (r >= lo) & (r < hi)).any()
    }
    out["sweep_duration_s_median"] = float(np.median([m.sweep_s for m in sweep]))
    out["sweep_absorbed_rate_over_market_median"] = float(
        np.median([m.sweep_rate_x for m in sweep])
    )
    bands: dict[str, Any] = {}
    for lo, hi in QV_BANDS:
        band = [m for m in ok if lo <= m.qv < hi]
        if len(band) < 2:
            continue
        row: dict[str, Any] = {"n": len(band)}
        for tw in ("twap_aggressive", "twap"):
            d = np.array([m.cost_bps["wait_then_sweep"] - m.cost_bps[tw] for m in band])
            row[f"sweep_minus_{tw}_bps"] = _boot(_mean, d)
            raw = np.array([m.is_bps["wait_then_sweep"] - m.is_bps[tw] for m in band])
            row[f"sweep_minus_{tw}_is_bps"] = _boot(_mean, raw)
        for tactic in ("wait_then_sweep", "twap_aggressive", "twap"):
            row[f"{tactic}_cost_bps"] = float(np.mean([m.cost_bps[tactic] for m in band]))
        bands[f"{lo:.3g}-{hi:.3g}"] = row
    out["wait_then_sweep_vs_twap"] = bands
    return out


def baselines(episodes: int, kinds: list[str]) -> dict[str, Any]:
    """Paired random-minus-TWAP IS on the committed policy's test split, per model."""
    from dataclasses import replace

    from policies.baselines import RandomPolicy
    from policies.evaluate import run_group
    from policies.learned import load_policy

    art = Path(__file__).resolve().parents[1] / "policies" / "artifacts" / "ppo_amzn"
    pol = load_policy(art)
    man = pol.artifact.manifest
    h = man["data"]["hours"]
    from policies.data import default_split

    split = default_split(train=h["train"], val=h["val"], test=h["test"])
    base = EnvConfig.from_json(man["env"])
    tactics: list[Policy] = [
        ScheduleTactic(TwapSchedule()),
        ScheduleTactic(TwapSchedule(), aggressive=True),
        RandomPolicy(seed=0),
        pol,
    ]
    out: dict[str, Any] = {}
    for kind in kinds:
        for src in split.test:
            res = run_group(
                [src],
                tactics,
                episodes=episodes,
                seed=int(man["evaluation"]["seed"]),
                fspec=pol.artifact.feature_spec,
                normaliser=pol.artifact.normaliser,
                config=replace(base, impact=kind),
            )
            row: dict[str, Any] = {
                name: {"mean_bps": float(v.mean()), "se_bps": float(v.std(ddof=1) / v.size**0.5)}
                for name, v in res.items()
            }
            for other in ("twap", "twap_aggressive"):
                d = res["random"] - res[other]
                row[f"random_minus_{other}_bps"] = {
                    "mean": float(d.mean()),
                    "se": float(d.std(ddof=1) / d.size**0.5),
                    "random_cheaper_share": float((d < 0).mean()),
                }
            out[f"{kind}/{src.name}"] = row
            r = row["random_minus_twap_bps"]
            print(
                f"{kind:>9} {src.name}: random-TWAP {r['mean']:+.2f} +- {r['se']:.2f} bps "
                f"(random cheaper in {r['random_cheaper_share']:.0%})",
                file=sys.stderr,
            )
    return out


def goals(s: dict[str, Any]) -> dict[str, bool]:
    sl = s["slicing_mean_impact_sigma"]
    mean = sum(sl.values()) / 3
    late = [v for k, v in s["wait_then_sweep_vs_twap"].items() if float(k.split("-")[0]) >= 0.05]
    return {
        "delta_0.4_0.6": 0.4 <= s["delta_twap_aggressive"][0] <= 0.6,
        "Y_0.4_1.2": 0.4 <= s["Y_twap_aggressive"][0] <= 1.2,
        "slicing_within_20pct": all(abs(v / mean - 1) <= 0.2 for v in sl.values()),
        "decay_50_80pct_at_2T": 0.5 <= s["decay_curve"]["2T"][0] <= 0.8,
        "sweep_dearer_than_twap_qv_ge_5pct": all(
            b["sweep_minus_twap_bps"][0] > 0 and b["sweep_minus_twap_aggressive_bps"][0] > 0
            for b in late
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--metaorders", type=int, default=120, help="per ticker and horizon")
    ap.add_argument("--horizons", type=float, nargs="+", default=[600.0, 1800.0])
    ap.add_argument("--impact", default="sqrt", help="none | permanent | transient | sqrt")
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--tickers", nargs="+", default=list(FOLDERS), help="data folders")
    ap.add_argument("--baselines", type=int, default=0, help="episodes per group (see above)")
    args = ap.parse_args(argv)
    configure(level="ERROR")
    if args.baselines:
        kinds = ["permanent", "sqrt"]
        out = baselines(args.baselines, kinds)
        rows = [
            {
                "model/group": k,
                **{n: round(v["mean_bps"], 2) for n, v in r.items() if "mean_bps" in v},
                "random-TWAP": f"{r['random_minus_twap_bps']['mean']:+.2f} "
                f"+- {r['random_minus_twap_bps']['se']:.2f}",
            }
            for k, r in out.items()
        ]
        report("impact_baselines", rows, {"episodes_per_group": args.baselines, "results": out})
        return 0
    rows, detail = [], {}
    t0 = time.process_time()
    for folder in args.tickers:
        src = load_source(repo_data() / folder, [(OPEN_S, CLOSE_S)])
        for h in args.horizons:
            mos, meta = run_ticker(src, h, args.metaorders, args.impact, args.seed)
            s = summarise(mos)
            g = goals(s)
            key = f"{src.name}/{h / 60:g}min"
            detail[key] = {**meta, **s, "goals_met": g}
            late = s["wait_then_sweep_vs_twap"]
            rows.append(
                {
                    "ticker/horizon": key,
                    "n": s["metaorders"],
                    "Y [CI]": _ci(s["Y_twap_aggressive"]),
                    "delta [CI]": _ci(s["delta_twap_aggressive"]),
                    "Y passive": _ci(s["Y_twap"]),
                    "1s/5s": _ci(s["slicing"]["1s_over_5s"]),
                    "30s/5s": _ci(s["slicing"]["30s_over_5s"]),
                    "left at 2T": _ci(s["decay_curve"]["2T"]),
                    "sweep-TWAP bps by Q/V band": " ".join(
                        f"{k}:{v['sweep_minus_twap_bps'][0]:+.1f}" for k, v in late.items()
                    ),
                    "goals met": f"{sum(g.values())}/{len(g)}",
                }
            )
            print(f"{key}: done ({time.process_time() - t0:.0f} s CPU)", file=sys.stderr)
    extra = {
        "impact_model": args.impact,
        "metaorders_per_ticker_horizon": args.metaorders,
        "seed": args.seed,
        "cpu_s": round(time.process_time() - t0, 1),
        "results": detail,
    }
    report("impact_bench", rows, extra)
    return 0


def _ci(t: tuple[float, float, float]) -> str:
    return f"{t[0]:.2f} [{t[1]:.2f}, {t[2]:.2f}]"


if __name__ == "__main__":
    raise SystemExit(main())

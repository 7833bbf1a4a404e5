"""The passive tactic's cost-risk frontier: does working a parent passively along a
*front-loaded* line reach the corner issue 15's gate asks for (cheaper than TWAP, no
riskier than it) that the straight-line tactic cannot?

    python bench/passive_frontier_bench.py [--split train|val] [--episodes 512]

Why: along a straight line the passive-with-catch-up tactic buys every basis point it
saves with timing risk (docs/results.md, "Issue 15": tolerance 0 is TWAP, each larger
tolerance cheaper and riskier). Its risk comes from lagging the line on the orders whose
market runs away. An Almgren-Chriss line holds less inventory all along, so the same
lag leaves less exposed; if resting still earns the spread on that line, the tactic
moves down in risk without giving back its saving. This bench measures that grid:
schedule urgency times catch-up tolerance (0 = cross whatever is behind: TWAP or the
line's own schedule tactic). The urgency is either the Almgren-Chriss risk aversion
with the training split's AC parameters (``--lines ac``, the first measurement) or the
dimensionless kappa T of the line the tactic now works and training tunes
(``--lines kappa``, :class:`~policies.baselines.schedules.FrontLoadedSchedule`).

Every configuration runs the same paired episodes (one seed list) of the time-forward
fold's training split, or its validation split (``--split val``); never the test split,
which only ``rlexec gate`` reads. The Almgren-Chriss parameters (sigma, eta, gamma) are
estimated on the training split, as ``rlexec train`` does. Reported per configuration:
mean IS and timing risk (standard deviation of IS) in bps, the risk against TWAP's in
per cent, the paired difference to TWAP and to the straight-line passive tactic at
tolerance 0.2 (the fold's tuned value) with its standard error, and the share left to
the end time (``sweep_share``). CPU: about 35 ms an episode; 16 configurations (20 with
``--lines kappa``) x 512 episodes is about 5 (6) minutes.
Writes bench/results/passive_frontier_bench_<split>.json (``--lines kappa``:
passive_frontier_bench_kappa_<split>.json).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

from core.log import configure
from policies.baselines.passive import (
    URGENCY_GRID,
    PassiveCatchUp,
    catchup_line,
    tactic_figures,
)
from policies.baselines.schedules import AlmgrenChrissSchedule, Schedule
from policies.data import Source
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.evaluate import estimate_baselines
from policies.features import FeatureSpec
from policies.rollout import run_episode
from policies.train import build_parser, load_split

URGENCY = {
    "ac": (0.0, 1e-4, 3e-4, 1e-3),  # Almgren-Chriss risk aversion; 0: the straight line
    "kappa": URGENCY_GRID,  # kappa T of the front-loaded line (what training tunes)
}
TOLERANCE = (0.0, 0.1, 0.2, 0.3)
REFERENCE = (0.0, 0.2)  # the straight-line passive tactic at the fold's tuned tolerance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("train", "val"), default="train")
    ap.add_argument("--episodes", type=int, default=512, help="paired episodes per configuration")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lines", choices=("ac", "kappa"), default="kappa")
    args = ap.parse_args()
    if args.episodes < 2:
        ap.error("--episodes must be at least 2 (a timing risk needs two)")
    configure(level="ERROR")
    train_args = build_parser().parse_args(["--fold", "time-forward"])
    split, _ = load_split(train_args)
    fspec = FeatureSpec(decision_interval_s=train_args.decision_interval)
    recorded_train = [s for s in split.train if isinstance(s, Source)]
    ac = estimate_baselines(recorded_train, fspec).ac
    sources = recorded_train if args.split == "train" else list(split.val)
    env = ExecutionEnv(
        sources, feature_spec=fspec, config=EnvConfig(participation=train_args.participation)
    )
    seeds = episode_seeds(args.seed + 31, args.episodes)
    costs: dict[tuple[float, float], np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    t0 = time.time()
    try:
        for urgency in URGENCY[args.lines]:
            for tol in TOLERANCE:
                schedule: Schedule = (
                    AlmgrenChrissSchedule(ac.with_risk_aversion(urgency))
                    if urgency and args.lines == "ac"
                    else catchup_line(urgency)
                )
                runs = [run_episode(env, PassiveCatchUp(tol, schedule), seed=s) for s in seeds]
                costs[(urgency, tol)] = np.asarray([r.is_bps for r in runs])
                kind = "AC" if args.lines == "ac" else "kappa T"
                label = "straight line" if urgency == 0.0 else f"{kind} {urgency:g}"
                rows.append({"schedule": label, "tolerance": tol, **tactic_figures(runs)})
    finally:
        env.close()
    twap, ref = costs[(0.0, 0.0)], costs[REFERENCE]
    n = len(seeds)
    for row, key in zip(rows, costs, strict=True):
        c = costs[key]
        for label, base in (("twap", twap), ("passive_0.2", ref)):
            d = c - base
            row[f"vs_{label}_bps"] = float(d.mean())
            row[f"vs_{label}_se"] = float(d.std(ddof=1) / np.sqrt(n))
        row["risk_vs_twap_pct"] = 100 * (row["timing_risk_bps"] / float(twap.std(ddof=1)) - 1)
    print(
        f"time-forward {args.split} split, {n} paired episodes a configuration, "
        f"AC parameters from the training split (sigma {ac.sigma_bps_sqrt_s:.3f} bp/sqrt(s), "
        f"eta {ac.eta_bps:.2f} bp); {time.time() - t0:.0f} s"
    )
    stem = "passive_frontier_bench" + ("_kappa" if args.lines == "kappa" else "")
    report(
        f"{stem}_{args.split}",
        rows,
        {
            "split": args.split,
            "fold": "time-forward",
            "episodes": n,
            "seed": args.seed,
            "ac": ac.to_json(),
            "lines": args.lines,
            "urgency_grid": list(URGENCY[args.lines]),
            "tolerance_grid": list(TOLERANCE),
        },
    )


if __name__ == "__main__":
    main()

"""Evaluation: the learned policy against every baseline, on data it never saw.

Each policy runs the *same* episodes (same seeds: same ticker-day window, start, side,
size and horizon) through the same environment, engine, risk overlay and sweep, so
the comparison is paired: the market's drift over an episode, which dominates any
single implementation shortfall, cancels in the per-episode difference. Reported per
data group (held-out hours of the training ticker; each unseen ticker):

* mean, median and standard error of implementation shortfall (bps, positive = cost);
* per baseline, the mean paired difference learned - baseline, its standard error,
  t statistic and the share of episodes where the learned policy cost less.

Baseline parameters (VWAP profile, Almgren-Chriss sigma/eta/gamma and risk aversion)
are estimated on the training split only. Run::

    python -m policies.evaluate --artifact policies/artifacts/ppo_amzn --episodes 200
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from policies.baselines import (
    AlmgrenChrissSchedule,
    PovSchedule,
    RandomPolicy,
    ScheduleTactic,
    TwapSchedule,
    VwapSchedule,
)
from policies.data import AnySource, DataSplit, default_split, training_arrays
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.estimation import (
    AlmgrenChrissParams,
    VolumeProfile,
    estimate_almgren_chriss,
    estimate_volume_profile,
)
from policies.features import FeatureSpec, Normaliser
from policies.protocol import Policy
from policies.rollout import run_episode

AC_RISK_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True, slots=True)
class BaselineParams:
    profile: VolumeProfile
    ac: AlmgrenChrissParams

    def to_json(self) -> dict[str, Any]:
        return {"vwap_profile": self.profile.to_json(), "almgren_chriss": self.ac.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaselineParams:
        return cls(
            VolumeProfile.from_json(data["vwap_profile"]),
            AlmgrenChrissParams.from_json(data["almgren_chriss"]),
        )


def estimate_baselines(
    train: Sequence[AnySource],
    fspec: FeatureSpec,
    *,
    calibrate_episodes: int = 0,
    config: EnvConfig | None = None,
    seed: int = 0,
) -> BaselineParams:
    """VWAP profile and AC parameters from the training split; risk aversion calibrated
    there too (the grid value with the lowest mean IS) when ``calibrate_episodes`` > 0."""
    arrays = training_arrays(train)
    profile = estimate_volume_profile(arrays)
    ac = estimate_almgren_chriss(arrays, tau_s=fspec.decision_interval_s)
    if calibrate_episodes > 0:
        env = ExecutionEnv(train, feature_spec=fspec, config=config)
        seeds = episode_seeds(seed + 17, calibrate_episodes)
        best = (math.inf, ac.risk_aversion)
        for lam in AC_RISK_GRID:
            pol = ScheduleTactic(AlmgrenChrissSchedule(ac.with_risk_aversion(lam)))
            mean = float(np.mean([run_episode(env, pol, seed=s).is_bps for s in seeds]))
            best = min(best, (mean, lam))
        env.close()
        ac = ac.with_risk_aversion(best[1])
    return BaselineParams(profile, ac)


def baseline_policies(params: BaselineParams, *, aggressive: bool = True) -> list[Policy]:
    out: list[Policy] = [
        ScheduleTactic(TwapSchedule()),
        ScheduleTactic(VwapSchedule(params.profile)),
        ScheduleTactic(PovSchedule()),
        ScheduleTactic(AlmgrenChrissSchedule(params.ac)),
        RandomPolicy(seed=0),
    ]
    if aggressive:
        out.append(ScheduleTactic(TwapSchedule(), aggressive=True))
    return out


def run_group(
    sources: Sequence[AnySource],
    policies: list[Policy],
    *,
    episodes: int,
    seed: int,
    fspec: FeatureSpec,
    normaliser: Normaliser,
    config: EnvConfig | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    env = ExecutionEnv(sources, feature_spec=fspec, normaliser=normaliser, config=config)
    seeds = episode_seeds(seed, episodes)
    out: dict[str, np.ndarray] = {}
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=episodes * len(policies), desc=",".join(s.name for s in sources), leave=False
        )
    for pol in policies:
        vals = []
        for s in seeds:
            vals.append(run_episode(env, pol, seed=s).is_bps)
            if bar is not None:
                bar.update(1)
        out[pol.name] = np.asarray(vals)
    if bar is not None:
        bar.close()
    env.close()
    return out


def summarise(results: dict[str, np.ndarray], learned: str | None) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name, v in results.items():
        table[name] = {
            "mean_bps": float(v.mean()),
            "median_bps": float(np.median(v)),
            "se_bps": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan"),
            "episodes": len(v),
        }
    paired: dict[str, Any] = {}
    if learned is not None and learned in results:
        lv = results[learned]
        for name, v in results.items():
            if name == learned:
                continue
            d = lv - v
            se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")
            paired[name] = {
                "mean_diff_bps": float(d.mean()),
                "se_diff_bps": se,
                "t": float(d.mean() / se) if se and se > 0 else float("nan"),
                "learned_cheaper_share": float((d < 0).mean()),
            }
    return {"policies": table, "paired_vs_learned": paired}


def format_table(group: str, summary: dict[str, Any]) -> str:
    lines = [
        f"\n== {group}",
        f"{'policy':<24} {'mean':>8} {'median':>8} {'se':>6}   {'learned-minus':>14} {'se':>6} {'t':>6} {'win':>5}",
    ]
    paired = summary["paired_vs_learned"]
    for name, row in summary["policies"].items():
        p = paired.get(name)
        extra = (
            f"   {p['mean_diff_bps']:>14.2f} {p['se_diff_bps']:>6.2f} {p['t']:>6.2f} {p['learned_cheaper_share']:>5.2f}"
            if p
            else ""
        )
        lines.append(
            f"{name:<24} {row['mean_bps']:>8.2f} {row['median_bps']:>8.2f} {row['se_bps']:>6.2f}{extra}"
        )
    return "\n".join(lines)


def evaluate(
    learned: Policy | None,
    split: DataSplit,
    params: BaselineParams,
    *,
    episodes: int,
    seed: int,
    fspec: FeatureSpec,
    normaliser: Normaliser,
    which: str = "test",
    config: EnvConfig | None = None,
    progress: bool = False,
    workers: int = 2,
    extra: list[Policy] | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Per data group of the chosen split: every policy over the same seeded episodes
    (groups run in parallel worker processes when ``workers`` > 1)."""
    policies: list[Policy] = ([learned] if learned is not None else []) + baseline_policies(params)
    if extra is not None:
        policies += extra
    if only is not None:
        policies = [p for p in policies if p is learned or p.name in only]
    groups: dict[str, list[AnySource]] = {}
    for src in getattr(split, which):
        groups.setdefault(src.name, []).append(src)
    jobs = list(groups.items())

    def one(k: int) -> dict[str, np.ndarray]:
        return run_group(
            jobs[k][1],
            policies,
            episodes=episodes,
            seed=seed,
            fspec=fspec,
            normaliser=normaliser,
            config=config,
            progress=progress and workers <= 1,
        )

    if workers > 1 and len(jobs) > 1:
        results_list = _in_workers(one, len(jobs), workers)
    else:
        results_list = [one(k) for k in range(len(jobs))]
    out: dict[str, Any] = {}
    for (name, sources), results in zip(jobs, results_list, strict=True):
        windows = ",".join(d for s in sources for d in s.describe()["windows"])
        out[f"{name} {windows}"] = summarise(results, learned.name if learned else None)
    return out


_JOB: list[Any] = []  # the job a forked worker inherits (set just before the fork)


def _run_job(k: int) -> dict[str, np.ndarray]:
    from core.log import configure

    configure(level="ERROR")
    return _JOB[0](k)  # type: ignore[no-any-return]


def _in_workers(fn: Any, n: int, workers: int) -> list[dict[str, np.ndarray]]:
    """One data group per forked worker (the closure is inherited, not pickled)."""
    import multiprocessing as mp

    _JOB[:] = [fn]
    try:
        with mp.get_context("fork").Pool(min(workers, n)) as pool:
            return pool.map(_run_job, range(n))
    finally:
        _JOB.clear()


def _named_ac(params: BaselineParams, risk_aversion: float) -> Policy:
    tactic = ScheduleTactic(AlmgrenChrissSchedule(params.ac.with_risk_aversion(risk_aversion)))
    tactic.name = f"almgren_chriss_ra{risk_aversion:g}"
    return tactic


def main(argv: list[str] | None = None) -> int:
    from core.log import configure

    ap = argparse.ArgumentParser(prog="rlexec evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--artifact", default="policies/artifacts/ppo_amzn", help="policy artifact directory"
    )
    ap.add_argument(
        "--sha256", default=None, help="expected artifact digest (refuse anything else)"
    )
    ap.add_argument("--episodes", type=int, default=200, help="episodes per data group")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--split", choices=("val", "test"), default="test")
    ap.add_argument("--train-data", nargs="*", default=None, help="ticker/day folders trained on")
    ap.add_argument(
        "--unseen-data", nargs="*", default=None, help="ticker/day folders never trained on"
    )
    ap.add_argument("--train-hours", default=None)
    ap.add_argument("--val-hours", default=None)
    ap.add_argument("--test-hours", default=None)
    ap.add_argument("--out", default=None, help="write the JSON result here")
    ap.add_argument(
        "--ac-risk-aversion",
        type=float,
        nargs="*",
        default=None,
        help="also run Almgren-Chriss at these risk aversions (sensitivity of the calibration)",
    )
    ap.add_argument(
        "--only", nargs="*", default=None, help="run only these baselines (names as in the table)"
    )
    args = ap.parse_args(argv)
    configure(level="ERROR")
    from policies.learned import load_policy

    policy = load_policy(args.artifact, args.sha256)
    man = policy.artifact.manifest
    hours = man.get("data", {}).get("hours", {})
    split = default_split(
        args.train_data,
        args.unseen_data,
        train=args.train_hours or hours.get("train", "09:30-13:00"),
        val=args.val_hours or hours.get("val", "13:00-14:15"),
        test=args.test_hours or hours.get("test", "14:15-16:00"),
    )
    fspec = policy.artifact.feature_spec
    params = (
        BaselineParams.from_json(man["baselines"])
        if "baselines" in man
        else estimate_baselines(split.train, fspec)
    )
    cfg = EnvConfig.from_json(man["env"]) if "env" in man else None
    t0 = time.time()
    result = evaluate(
        policy,
        split,
        params,
        episodes=args.episodes,
        seed=args.seed,
        fspec=fspec,
        normaliser=policy.artifact.normaliser,
        which=args.split,
        config=cfg,
        progress=sys.stderr.isatty(),
        extra=[_named_ac(params, lam) for lam in args.ac_risk_aversion or []],
        only=None
        if args.only is None
        else [*args.only, *(f"almgren_chriss_ra{lam:g}" for lam in args.ac_risk_aversion or [])],
    )
    for group, summary in result.items():
        print(format_table(group, summary))
    print(
        f"\n{args.episodes} episodes per group, seed {args.seed}, {time.time() - t0:.0f}s; "
        f"artifact digest {policy.artifact.digest}"
    )
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "episodes": args.episodes,
                    "split": args.split,
                    "groups": result,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
from collections.abc import Callable, Sequence
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
from policies.data import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    DEFAULT_TRAIN_FOLDER,
    DEFAULT_UNSEEN_FOLDER,
    DEFAULT_VAL,
    AnySource,
    DataError,
    DataSplit,
    Source,
    default_split,
    training_arrays,
)
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
    on_episode: Callable[[], None] | None = None,
) -> dict[str, np.ndarray]:
    """Every policy over the same seeded episodes of ``sources``; ``on_episode`` is
    called after each episode (progress), ``progress`` shows a bar of its own."""
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
            if on_episode is not None:
                on_episode()
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


def data_groups(sources: Sequence[AnySource]) -> dict[str, list[AnySource]]:
    """Sources grouped by ticker, day, level *and* windows: the same folder over two
    windows (held-out hours, and the whole day as an unseen ticker) is two groups.
    Keyed ``"<TICKER>_<DATE>_<LEVELS> <windows>"``, as the report prints them."""
    groups: dict[str, list[AnySource]] = {}
    for src in sources:
        windows = ",".join(src.describe()["windows"])
        groups.setdefault(f"{src.name} {windows}", []).append(src)
    return groups


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
    (groups run in parallel worker processes when ``workers`` > 1). ``progress`` shows
    one bar over every episode of every group on stderr."""
    policies: list[Policy] = ([learned] if learned is not None else []) + baseline_policies(params)
    if extra is not None:
        policies += extra
    if only is not None:
        policies = [p for p in policies if p is learned or p.name in only]
    jobs = list(data_groups(getattr(split, which)).items())

    def one(k: int, tick: Callable[[], None] | None = None) -> dict[str, np.ndarray]:
        return run_group(
            jobs[k][1],
            policies,
            episodes=episodes,
            seed=seed,
            fspec=fspec,
            normaliser=normaliser,
            config=config,
            on_episode=tick,
        )

    from tqdm import tqdm

    with tqdm(
        total=episodes * len(policies) * len(jobs),
        desc=f"evaluating {len(jobs)} groups x {len(policies)} policies",
        unit="episode",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        if workers > 1 and len(jobs) > 1:
            results_list = _in_workers(one, len(jobs), workers, bar)
        else:

            def tick() -> None:
                bar.update(1)

            results_list = [one(k, tick) for k in range(len(jobs))]
    return {
        group: summarise(results, learned.name if learned else None)
        for (group, _), results in zip(jobs, results_list, strict=True)
    }


_JOB: list[Any] = []  # the job a forked worker inherits (set just before the fork)


def _run_job(k: int) -> dict[str, np.ndarray]:
    from core.log import configure

    configure(level="ERROR")
    fn, done = _JOB

    def tick() -> None:
        with done.get_lock():
            done.value += 1

    return fn(k, tick)  # type: ignore[no-any-return]


def _in_workers(fn: Any, n: int, workers: int, bar: Any) -> list[dict[str, np.ndarray]]:
    """One data group per forked worker (the closure is inherited, not pickled); the
    workers count finished episodes in shared memory and this process moves the bar."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    done = ctx.Value("q", 0)
    _JOB[:] = [fn, done]
    pool = ctx.Pool(min(workers, n))
    try:
        pending = pool.map_async(_run_job, range(n))
        while not pending.ready():
            pending.wait(0.25)
            bar.update(done.value - bar.n)
        bar.update(done.value - bar.n)
        results: list[dict[str, np.ndarray]] = pending.get()
        # Let the workers finish and exit on their own: Pool.terminate() (what the
        # with-block does) kills them wherever they are, and one killed holding the
        # task queue's lock leaves terminate() waiting on it for ever (python/cpython
        # issue 78178, still open; seen once here: the training test's evaluation hung
        # past its 300 s timeout).
        pool.close()
        pool.join()
        return results
    finally:
        pool.terminate()  # a no-op once joined; on an error, stop what still runs
        _JOB.clear()


def _named_ac(params: BaselineParams, risk_aversion: float) -> Policy:
    tactic = ScheduleTactic(AlmgrenChrissSchedule(params.ac.with_risk_aversion(risk_aversion)))
    tactic.name = f"almgren_chriss_ra{risk_aversion:g}"
    return tactic


def build_parser() -> argparse.ArgumentParser:
    from core.helptext import DefaultsHelpFormatter, positive_int

    ap = argparse.ArgumentParser(
        prog="rlexec evaluate",
        description=__doc__.split("\n\n")[0]
        + " Exit status: 0 done, 2 unusable artifact, data or arguments.",
        formatter_class=DefaultsHelpFormatter,
    )
    ap.add_argument(
        "--artifact", default="policies/artifacts/ppo_amzn", help="policy artifact directory"
    )
    ap.add_argument(
        "--sha256", default=None, help="expected artifact digest; default: any (refuse others)"
    )
    ap.add_argument("--episodes", type=positive_int, default=200, help="episodes per data group")
    ap.add_argument("--seed", type=int, default=20240601, help="seed of the episode sequence")
    ap.add_argument(
        "--split", choices=("val", "test"), default="test", help="which split to evaluate"
    )
    ap.add_argument(
        "--train-data",
        nargs="*",
        default=None,
        help="ticker/day folders trained on (default: the shipped "
        f"{DEFAULT_TRAIN_FOLDER}; RLEXEC_DATA_DIR does not move it)",
    )
    ap.add_argument(
        "--unseen-data",
        nargs="*",
        default=None,
        help=f"ticker/day folders never trained on (default: the shipped {DEFAULT_UNSEEN_FOLDER})",
    )
    ap.add_argument(
        "--train-hours",
        default=None,
        help="training hours (default: the artifact's, else 09:30-13:00)",
    )
    ap.add_argument(
        "--val-hours",
        default=None,
        help="validation hours (default: the artifact's, else 13:00-14:15)",
    )
    ap.add_argument(
        "--test-hours",
        default=None,
        help="held-out hours, of the unseen folders too when given (default: the artifact's, "
        "else 14:15-16:00, and the whole day of unseen folders)",
    )
    ap.add_argument("--out", default=None, help="write the JSON result here (default: nowhere)")
    ap.add_argument(
        "--ac-risk-aversion",
        type=float,
        nargs="*",
        default=None,
        help="also run Almgren-Chriss at these risk aversions (sensitivity of the "
        "calibration; default: none)",
    )
    ap.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="run only these baselines (names as in the table; default: all)",
    )
    ap.add_argument(
        "--workers", type=positive_int, default=2, help="processes running data groups in parallel"
    )
    ap.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr (default: shown)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    from core.log import configure
    from policies.artifact import ArtifactError

    args = build_parser().parse_args(argv)
    configure(level="ERROR")
    try:
        return _run(args)
    except (ArtifactError, DataError) as exc:
        print(f"rlexec evaluate: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from policies.learned import load_policy

    print("rlexec evaluate: loading the artifact and the data ...", file=sys.stderr)
    policy = load_policy(args.artifact, args.sha256)
    man = policy.artifact.manifest
    hours = man.get("data", {}).get("hours", {})
    split = default_split(
        args.train_data,
        args.unseen_data,
        train=args.train_hours or hours.get("train", DEFAULT_TRAIN),
        val=args.val_hours or hours.get("val", DEFAULT_VAL),
        test=args.test_hours or hours.get("test", DEFAULT_TEST),
        unseen=args.test_hours,
    )
    _say_data(split, man, args.split)
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
        progress=not args.no_progress,
        workers=args.workers,
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


def _say_data(split: DataSplit, manifest: dict[str, Any], which: str) -> None:
    """Name the data on stderr before the long run, and say when the training data is
    not what the artifact was trained on (the baselines were estimated there)."""
    for src in getattr(split, which):
        if isinstance(src, Source):
            windows = ",".join(src.describe()["windows"])
            print(f"data: {src.name} {windows} ({src.day.day.message_path})", file=sys.stderr)
    trained = {d.get("sha256") for d in manifest.get("data", {}).get("train", [])}
    for src in split.train:
        if isinstance(src, Source) and trained and src.sha256 not in trained:
            print(
                f"note: {src.day.day.message_path} is not the data this artifact was trained "
                "on (sha256 differs from its manifest)",
                file=sys.stderr,
            )


if __name__ == "__main__":
    raise SystemExit(main())

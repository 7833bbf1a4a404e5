"""``rlexec train``: train a PPO or DQN execution policy and write its artifact.

One command, one seed, one result: the run is deterministic on CPU for a given seed,
number of environments and iteration count (the wall-clock cap ``--max-minutes`` is
a safety stop only; a run it cuts short says so in the manifest). Steps:

1. load the data split: a fold of the validation protocol (``--fold``,
   :data:`policies.data.FOLDS`: time blocks and leave-one-ticker-out, with synthetic
   regimes calibrated on the training windows only), or training ticker hours plus
   unseen tickers as before;
2. fit the feature normalisation on training episodes (a random and a TWAP policy
   exploring the training split), estimate the baselines' parameters there and tune
   the passive tactic's tolerance and urgency on its recorded windows (the cheapest
   setting no riskier than TWAP: the gate's own rule);
3. train, logging one CSV row per iteration (and TensorBoard when installed), with a
   progress bar and a checkpoint every ``--eval-every`` iterations; every checkpoint
   is scored on the validation split against TWAP over the same seeded episodes, and
   the one kept is the cheapest among those no riskier than TWAP there (model
   selection on validation, never on test);
4. write the artifact (weights, manifest with everything needed to reproduce and
   check it, SHA256SUMS) and, with ``--test-episodes``, the final test evaluation
   into its manifest. The candidate then goes through ``rlexec gate``.

Training episodes (``--participation``, ``--impact-scale``) are more varied than
evaluation's: sizes 1-30 % of the window's volume and the impact strength drawn per
episode; the reward adds the timing-risk (``--risk-aversion``) and deadline
(``--deadline-penalty``) terms of :mod:`policies.env`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exchange.data import LobsterFormatError
from policies.actions import LINE_VERSION, ActionSpec
from policies.artifact import ArtifactError, LoadedArtifact, save_artifact
from policies.backtest.cli import range_arg
from policies.baselines import PassiveCatchUp, ScheduleTactic, TwapSchedule
from policies.baselines.passive import TUNE_EPISODES, tune_passive
from policies.data import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    DEFAULT_VAL,
    FOLDS,
    DataError,
    DataSplit,
    Source,
    default_split,
    fold,
)
from policies.env import EnvConfig, ExecutionEnv
from policies.evaluate import estimate_baselines, evaluate, run_group
from policies.feature_shift import feature_rows
from policies.features import FeatureSpec, Normaliser
from policies.init_from import InitRefused, describe_parent, load_parent
from policies.learned import LearnedPolicy
from policies.network import PolicyNet
from policies.vector_env import SyncVecEnv, VecEnv, WorkerVecEnv


def build_parser() -> argparse.ArgumentParser:
    from core.helptext import DefaultsHelpFormatter

    ap = argparse.ArgumentParser(
        prog="rlexec train",
        description="Train an execution policy (PPO or DQN) and write its artifact.",
        formatter_class=DefaultsHelpFormatter,
    )
    ap.add_argument("--algo", choices=("ppo", "dqn"), default="ppo", help="learning algorithm")
    ap.add_argument(
        "--seed", type=int, default=7, help="seed of everything (the run is reproducible)"
    )
    ap.add_argument("--iterations", type=int, default=200, help="training iterations")
    ap.add_argument("--envs", type=int, default=16, help="parallel environments")
    ap.add_argument(
        "--workers", type=int, default=2, help="worker processes stepping them (1 = in process)"
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: tiny nets gain nothing from more)"
    )
    ap.add_argument(
        "--max-minutes",
        type=float,
        default=30.0,
        help="safety stop (the run is then not reproducible)",
    )
    ap.add_argument(
        "--eval-every", type=int, default=20, help="iterations between validation checkpoints"
    )
    ap.add_argument(
        "--val-episodes", type=int, default=128, help="validation episodes per checkpoint"
    )
    ap.add_argument(
        "--test-episodes", type=int, default=200, help="final test evaluation into the manifest"
    )
    ap.add_argument(
        "--norm-episodes", type=int, default=48, help="episodes fitting the feature normalisation"
    )
    ap.add_argument(
        "--calibrate-episodes",
        type=int,
        default=24,
        help="AC risk-aversion calibration (train split)",
    )
    ap.add_argument(
        "--train-data",
        nargs="*",
        default=None,
        help="LOBSTER ticker/day folders to train on (default: the shipped AMZN_2012-06-21_5)",
    )
    ap.add_argument(
        "--unseen-data",
        nargs="*",
        default=None,
        help="ticker/day folders for the test only (default: the shipped AAPL_2012-06-21_1)",
    )
    ap.add_argument(
        "--synthetic",
        nargs="*",
        default=[],
        help="synthetic regimes to mix into training (calm volatile trending thin); default: "
        "none, because the shipped flow parameters were calibrated on whole days, test "
        "hours included",
    )
    ap.add_argument(
        "--fold",
        choices=sorted(FOLDS),
        default=None,
        help="a fold of the validation protocol (docs/policies.md); replaces the data options",
    )
    ap.add_argument(
        "--risk-aversion",
        type=float,
        default=0.0,
        help="lambda of the reward's timing-risk term, lambda * x^2 * sigma per step "
        "(choose it on validation: docs/policies.md)",
    )
    ap.add_argument(
        "--deadline-penalty",
        type=float,
        default=20.0,
        help="bps per unit share of the parent left at the end time beyond 3 %%",
    )
    ap.add_argument(
        "--participation",
        type=range_arg,
        default=(0.01, 0.30),
        metavar="LO-HI",
        help="parent sizes as a share of the window's volume over the horizon",
    )
    ap.add_argument(
        "--impact-scale",
        type=range_arg,
        default=(0.5, 2.0),
        metavar="LO-HI",
        help="training episodes' impact strength, times the calibrated one (log-uniform)",
    )
    ap.add_argument(
        "--tune-episodes",
        type=int,
        default=TUNE_EPISODES,
        help="training episodes per grid point tuning the passive tactic's tolerance and "
        "urgency (the rule: cheapest no riskier than TWAP; 0: the default, straight line)",
    )
    ap.add_argument(
        "--imitate-episodes",
        type=int,
        default=96,
        help="PPO starts from the passive tactic, cloned on this many training episodes "
        "(0: start from a bias toward catchup_touch instead)",
    )
    ap.add_argument("--imitate-epochs", type=int, default=20, help="behaviour-cloning epochs")
    ap.add_argument(
        "--init-from",
        default=None,
        metavar="ARTIFACT",
        help="PPO only: continue from this artifact's policy (its normaliser and action "
        "table kept, no cloning); default: none, start from the cloned passive tactic",
    )
    ap.add_argument(
        "--critic-episodes",
        type=int,
        default=96,
        help="with --init-from: training episodes of the artifact's own play fitting the "
        "critic (an artifact holds no critic; 0: the critic starts untrained)",
    )
    ap.add_argument("--critic-epochs", type=int, default=20, help="with --init-from: critic epochs")
    ap.add_argument("--train-hours", default=DEFAULT_TRAIN, help="training hours")
    ap.add_argument("--val-hours", default=DEFAULT_VAL, help="validation hours (model selection)")
    ap.add_argument("--test-hours", default=DEFAULT_TEST, help="held-out test hours")
    ap.add_argument(
        "--decision-interval", type=float, default=5.0, help="seconds between decisions"
    )
    ap.add_argument(
        "--signal",
        action="store_true",
        help="add the short-horizon signal (signals/artifacts/short_horizon) to the "
        "observation: feature set v3, the signal artifact's digest pinned in the manifest",
    )
    ap.add_argument(
        "--out", default="policies/artifacts/ppo_amzn", help="artifact directory to write"
    )
    ap.add_argument(
        "--run-dir", default=None, help="metrics and checkpoints (default var/runs/<artifact name>)"
    )
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    ap.add_argument(
        "--absolute-reward",
        action="store_true",
        help="train on the plain IS increment instead of the increment relative to a TWAP shadow",
    )
    return ap


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def fit_normaliser(
    split: DataSplit, fspec: FeatureSpec, cfg: EnvConfig, episodes: int, seed: int
) -> Normaliser:
    """Feature statistics from training episodes only, explored by random and TWAP play."""
    rows = feature_rows(split.train, fspec, episodes=episodes, seed=seed, config=cfg)
    return Normaliser.fit(rows.astype(np.float32), fspec.clip)


class MetricsLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("w", newline="")
        self._writer: csv.DictWriter[str] | None = None
        self._tb: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(path.parent / "tb"))
        except Exception:  # tensorboard is optional
            self._tb = None

    VAL_COLUMNS = (
        "val_is_bps",
        "val_twap_bps",
        "val_diff_bps",
        "val_diff_se",
        "val_risk_bps",
        "val_twap_risk_bps",
    )

    def write(self, row: dict[str, Any]) -> None:
        if self._writer is None:
            names = list(row) + [c for c in self.VAL_COLUMNS if c not in row]
            self._writer = csv.DictWriter(self._file, fieldnames=names, extrasaction="ignore")
            self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, int | float) and k != "iteration":
                    self._tb.add_scalar(k, v, row["iteration"])

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def validate(
    net: PolicyNet,
    split: DataSplit,
    *,
    fspec: FeatureSpec,
    norm: Normaliser,
    aspec: ActionSpec,
    cfg: EnvConfig,
    episodes: int,
    seed: int,
    twap_cache: dict[str, np.ndarray],
) -> dict[str, float]:
    """Greedy policy vs TWAP on the validation split, same seeded episodes: mean IS,
    timing risk (standard deviation of IS) and the paired difference."""
    from policies.artifact import LoadedArtifact

    art = LoadedArtifact(Path("."), net, fspec, norm, aspec, {"name": "learned"}, "", "")
    learned = LearnedPolicy(art)
    res = run_group(
        split.val, [learned], episodes=episodes, seed=seed, fspec=fspec, normaliser=norm, config=cfg
    )
    if "twap" not in twap_cache:
        twap_cache.update(
            run_group(
                split.val,
                [ScheduleTactic(TwapSchedule())],
                episodes=episodes,
                seed=seed,
                fspec=fspec,
                normaliser=norm,
                config=cfg,
            )
        )
    lv, tv = res["learned"], twap_cache["twap"]
    d = lv - tv
    return {
        "val_is_bps": float(lv.mean()),
        "val_twap_bps": float(tv.mean()),
        "val_diff_bps": float(d.mean()),
        "val_diff_se": float(d.std(ddof=1) / np.sqrt(len(d))),
        "val_risk_bps": float(lv.std(ddof=1)),
        "val_twap_risk_bps": float(tv.std(ddof=1)),
    }


def selection_key(v: dict[str, float]) -> tuple[float, float]:
    """Checkpoints no riskier than TWAP on validation come first, cheapest first; among
    the others, the least excess risk. (Validation only: the test split never chooses.)"""
    excess = max(0.0, v["val_risk_bps"] - v["val_twap_risk_bps"])
    return (excess, v["val_is_bps"]) if excess > 0 else (0.0, v["val_is_bps"])


def _impact_description(split: DataSplit, cfg: EnvConfig) -> dict[str, Any]:
    """The impact model each recorded training ticker's simulator runs, with its parameters."""
    from exchange.replay.impact import default_impact
    from policies.backtest.fingerprint import describe
    from policies.data import Source

    per: dict[str, Any] = {}
    for src in [*split.train, *split.val, *split.test]:
        if isinstance(src, Source) and src.instrument.symbol not in per:
            model = default_impact(cfg.impact, src.instrument.symbol, day=src.day)
            per[src.instrument.symbol] = describe(model)
    return {"model": cfg.impact, "per_ticker": per}


def _cpu_minutes() -> float:
    """CPU time of this process and of every worker it has reaped (load-independent)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) / 60


class TrainRefused(ValueError):
    """Options this run cannot use; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Trained:
    """What a run wrote: the artifact, its digest and the checkpoint kept."""

    path: Path
    digest: str
    best_checkpoint: dict[str, Any]
    iterations_run: int


def check_options(args: argparse.Namespace) -> None:
    """Refuse, before anything is loaded or written, what the run cannot honour."""
    counts = {
        "--iterations": (args.iterations, 1),
        "--envs": (args.envs, 1),
        "--workers": (args.workers, 1),
        "--threads": (args.threads, 1),
        "--eval-every": (args.eval_every, 1),
        "--val-episodes": (args.val_episodes, 2),  # a timing risk needs two
        "--norm-episodes": (args.norm_episodes, 1),
        "--calibrate-episodes": (args.calibrate_episodes, 0),
        "--tune-episodes": (args.tune_episodes, 0),
        "--imitate-episodes": (args.imitate_episodes, 0),
        "--imitate-epochs": (args.imitate_epochs, 1),
        "--critic-episodes": (args.critic_episodes, 0),
        "--critic-epochs": (args.critic_epochs, 1),
    }
    low = [
        f"{opt} >= {least} (got {value})" for opt, (value, least) in counts.items() if value < least
    ]
    if args.test_episodes == 1 or args.test_episodes < 0:
        low.append(f"--test-episodes 0 or >= 2 (got {args.test_episodes})")
    if low:
        raise TrainRefused("; ".join(low))
    if args.participation[1] > 1:
        raise TrainRefused(
            f"--participation {args.participation[0]}-{args.participation[1]}: a parent "
            "larger than the window's whole volume (above 1) cannot be worked"
        )
    if not (args.max_minutes > 0 and args.decision_interval > 0):
        raise TrainRefused("--max-minutes and --decision-interval must be > 0")
    if args.risk_aversion < 0 or args.deadline_penalty < 0:
        raise TrainRefused("--risk-aversion and --deadline-penalty must be >= 0")
    if args.init_from is not None:
        if args.algo != "ppo":
            raise TrainRefused(
                "--init-from is PPO only: an artifact's scores are a policy's logits, "
                "not the Q-values DQN would continue from"
            )
        if Path(args.out).resolve() == Path(args.init_from).resolve():
            raise TrainRefused("--out is the --init-from artifact itself; write elsewhere")


def load_split(
    args: argparse.Namespace, expect: dict[str, Any] | None = None
) -> tuple[DataSplit, dict[str, Any]]:
    """The run's data split and the manifest's description of it; TrainRefused if
    ``expect`` is given and the split is another (a retrained candidate must be judged
    on its base's held-out data). Loaded days are cached: a second call is cheap."""
    chosen = fold(args.fold) if args.fold else None
    if chosen is not None:
        split = chosen.split()
        where: dict[str, Any] = {"fold": chosen.to_json()}
    else:
        split = default_split(
            args.train_data,
            args.unseen_data,
            train=args.train_hours,
            val=args.val_hours,
            test=args.test_hours,
            synthetic=args.synthetic,
        )
        where = {
            "hours": {"train": args.train_hours, "val": args.val_hours, "test": args.test_hours}
        }
    described = {**split.describe(), **where}
    if expect is not None and _json(described) != _json(expect):
        raise TrainRefused(
            f"this run's data ({_data_summary(described)}) is not the base's "
            f"({_data_summary(expect)}): the candidate would be judged on other "
            "held-out data; give the base's data options"
        )
    return split, described


def run_layout(args: argparse.Namespace) -> tuple[FeatureSpec, ActionSpec]:
    """The features this run's policy reads and the action table it chooses from."""
    if not args.signal:
        return FeatureSpec(decision_interval_s=args.decision_interval), ActionSpec()
    from signals.provider import committed_signal_digest

    fspec = FeatureSpec.of_version(
        3, decision_interval_s=args.decision_interval, signal=committed_signal_digest()
    )
    return fspec, ActionSpec()


def main(argv: list[str] | None = None) -> int:
    """``rlexec train`` and ``python -m policies.train`` alike: bad input is one line on
    stderr and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        run(args, list(sys.argv[1:] if argv is None else argv))
    except USER_ERRORS as exc:
        print(f"rlexec train: {exc}", file=sys.stderr)
        return 2
    return 0


def run(
    args: argparse.Namespace,
    argv: list[str],
    *,
    expect_data: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Trained:
    """One training run as the command line describes it (``argv``, for the manifest).

    ``expect_data``: the data section the run's split must describe (TrainRefused,
    before anything is written, if it does not: a retrained candidate is judged on its
    base's held-out data). ``provenance``: manifest keys to add (``rlexec retrain``'s)."""
    from core.log import configure

    check_options(args)
    configure(level="ERROR")
    seed_everything(args.seed, args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    out = Path(args.out)
    run_dir = Path(args.run_dir or Path("var/runs") / out.name)
    t_start = time.time()
    fspec, aspec = run_layout(args)
    parent = load_parent(args.init_from, fspec, aspec) if args.init_from else None
    if parent is not None:  # its actions keep meaning what they meant: its table, its line
        aspec = parent.action_spec
    split, data_json = load_split(args, expect_data)
    # what the schedules and the passive tactic are tuned with: they read no features,
    # so a run with the signal gets the very parameters a run without it gets
    schedule_spec = FeatureSpec(decision_interval_s=args.decision_interval)
    cfg = EnvConfig(participation=args.participation)  # what evaluation and the gate run
    train_cfg = replace(
        cfg,
        reward_baseline=None if args.absolute_reward else "twap",
        risk_aversion=args.risk_aversion,
        deadline_penalty_bps=args.deadline_penalty,
        impact_scale=args.impact_scale,
    )
    quiet = bool(args.no_progress)

    def say(*parts: object) -> None:
        if not quiet:
            print(*parts, file=sys.stderr)

    run_dir.mkdir(parents=True, exist_ok=True)
    say(f"data: train {[s.name for s in split.train]}, test {[s.name for s in split.test]}")
    if parent is not None:  # its inputs must mean what they meant: never refitted
        norm = parent.normaliser
    else:
        explore = replace(train_cfg, reward_baseline=None)  # no shadow needed to see features
        norm = fit_normaliser(split, fspec, explore, args.norm_episodes, args.seed)
    recorded = [s for s in split.train if isinstance(s, Source)]
    params = estimate_baselines(
        recorded,
        schedule_spec,
        calibrate_episodes=args.calibrate_episodes,
        config=cfg,
        seed=args.seed,
    )
    passive: dict[str, Any] = {
        "tolerance": PassiveCatchUp().tolerance,
        "urgency": 0.0,
        "chosen_by": "default",
    }
    if args.tune_episodes > 0:
        passive = tune_passive(
            recorded,
            schedule_spec,
            cfg,
            episodes=args.tune_episodes,
            seed=args.seed,
        )
    if parent is None and aspec.version >= LINE_VERSION:
        # the table's "behind" is measured against the tuned tactic's line, so the tactic
        # PPO starts from is two rows of it (policies/imitation.py)
        aspec = replace(aspec, line=float(passive["urgency"]))
    say(
        f"normaliser fitted; AC params {params.ac}; passive tactic: tolerance "
        f"{passive['tolerance']}, urgency {passive['urgency']:g}"
    )

    def factory() -> ExecutionEnv:
        return ExecutionEnv(
            split.train, feature_spec=fspec, normaliser=norm, action_spec=aspec, config=train_cfg
        )

    factories = [factory] * args.envs
    vec: VecEnv = (
        WorkerVecEnv(factories, args.seed, args.workers)
        if args.workers > 1
        else SyncVecEnv(factories, args.seed)
    )
    n_in = len(fspec.names)
    algo: Any
    imitation: dict[str, Any] = {}
    init_from: dict[str, Any] = {}
    if args.algo == "ppo":
        from policies.ppo import PPO, PPOConfig

        pcfg = PPOConfig()
        if parent is not None:  # the artifact's own shape, whatever this code's default
            pcfg = replace(pcfg, hidden=parent.net.hidden)
        cloning = parent is None and args.imitate_episodes > 0
        prior = None if cloning or parent is not None else aspec.prior_index
        algo = PPO(n_in, aspec.n, pcfg, device, prior_index=prior)
        if parent is not None:
            algo.start_from(parent.net)
            init_from = {
                **describe_parent(parent),
                "critic": _fit_critic(
                    algo,
                    parent,
                    split=split,
                    fspec=fspec,
                    norm=norm,
                    aspec=aspec,
                    train_cfg=train_cfg,
                    args=args,
                ),
            }
            say(f"continuing from {parent.path} ({parent.digest[:12]}): {init_from['critic']}")
        elif cloning:
            from policies.imitation import TableTeacher, clone, demonstrate

            teacher = TableTeacher(aspec, float(passive["tolerance"]))
            demos = demonstrate(
                split.train,
                teacher,
                fspec=fspec,
                normaliser=norm,
                action_spec=aspec,
                config=train_cfg,
                episodes=args.imitate_episodes,
                seed=args.seed,
                gamma=pcfg.gamma,
            )
            imitation = clone(
                algo.pi,
                algo.vf,
                demos,
                epochs=args.imitate_epochs,
                seed=args.seed,
                reward_scale=pcfg.reward_scale,
            )
            imitation["teacher"] = teacher.describe()
            say(f"cloned the passive tactic: {imitation}")
    else:
        from policies.dqn import DQN, DQNConfig

        algo = DQN(n_in, aspec.n, DQNConfig(), device)
    rng = np.random.default_rng(args.seed)
    trng = torch.Generator().manual_seed(args.seed)
    log = MetricsLog(run_dir / "metrics.csv")
    best: dict[str, Any] = {}
    best_state: dict[str, torch.Tensor] | None = None
    twap_cache: dict[str, np.ndarray] = {}
    history: list[dict[str, Any]] = []

    def checkpoint(it: int, row: dict[str, Any]) -> None:
        nonlocal best, best_state
        v = validate(
            algo.policy_net,
            split,
            fspec=fspec,
            norm=norm,
            aspec=aspec,
            cfg=cfg,
            episodes=args.val_episodes,
            seed=args.seed + 5,
            twap_cache=twap_cache,
        )
        row.update(v)
        torch_state = {k: t.detach().cpu().clone() for k, t in algo.state().items()}
        from safetensors.torch import save_file

        save_file(torch_state, str(run_dir / f"checkpoint_{it:04d}.safetensors"))
        if "iteration" not in best or selection_key(v) < selection_key(best):
            best = {"iteration": it, **v}
            best_state = {
                k: t.detach().cpu().clone() for k, t in algo.policy_net.state_dict().items()
            }

    if imitation or init_from:  # the start (clone or artifact) is a checkpoint like any other
        row0: dict[str, Any] = {}
        checkpoint(0, row0)
        (init_from if init_from else imitation)["validation"] = row0
    obs = vec.reset()
    env_steps = 0
    cut_short = False
    bar: Any = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.iterations, desc=f"{args.algo} seed {args.seed}", unit="it")
    try:
        for it in range(1, args.iterations + 1):
            t_it = time.time()
            if args.algo == "ppo":
                buf, obs, episodes = algo.collect(vec, obs, trng)
                stats = algo.update(buf, rng)
                env_steps += buf["act"].size
            else:
                obs, episodes = algo.collect(vec, obs, rng)
                stats = algo.update(rng)
                env_steps += algo.cfg.n_steps * vec.num_envs
            row: dict[str, Any] = {
                "iteration": it,
                "env_steps": env_steps,
                "seconds": round(time.time() - t_start, 1),
                "steps_per_s": round(
                    (buf["act"].size if args.algo == "ppo" else algo.cfg.n_steps * vec.num_envs)
                    / max(1e-9, time.time() - t_it),
                    1,
                ),
                "episodes": len(episodes),
                "train_is_bps": float(np.mean([e["is_bps"] for e in episodes]))
                if episodes
                else float("nan"),
                **stats,
            }
            if it % args.eval_every == 0 or it == args.iterations:
                checkpoint(it, row)
            log.write(row)
            history.append(row)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    train_is=f"{row['train_is_bps']:.2f}",
                    val=f"{best.get('val_is_bps', float('nan')):.2f}",
                )
            if (time.time() - t_start) / 60 > args.max_minutes:
                cut_short = True
                say(f"stopped at iteration {it}: --max-minutes {args.max_minutes} reached")
                break
    finally:
        if bar is not None:
            bar.close()
        vec.close()
        log.close()
    net = PolicyNet(n_in, aspec.n, algo.cfg.hidden)
    if best_state is not None:
        net.load_state_dict(best_state)
    train_minutes = (time.time() - t_start) / 60
    cpu_minutes = _cpu_minutes()
    extra: dict[str, Any] = {
        "name": out.name,
        "algo": args.algo,
        "seed": args.seed,
        "command": "python -m policies.train "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": data_json,
        "env": cfg.to_json(),
        "impact": {**_impact_description(split, cfg), "training_scale": list(args.impact_scale)},
        "baselines": {**params.to_json(), "passive_catchup": passive},
        "training": {
            "iterations_run": len(history),
            "env_steps": env_steps,
            "minutes": round(train_minutes, 2),
            "cpu_minutes": round(cpu_minutes, 2),
            "cut_short_by_time": cut_short,
            "envs": args.envs,
            "env": train_cfg.training_json(),
            "selection": "validation: cheapest checkpoint no riskier than TWAP",
            "imitation": imitation,
            **({"init_from": init_from} if init_from else {}),
            "reward": (
                "absolute IS increment"
                if args.absolute_reward
                else "IS increment minus a TWAP shadow's on the same window"
            )
            + f"; minus {args.risk_aversion} x inventory^2 x sigma per step"
            + f"; minus {args.deadline_penalty} bps per unit share left at the end time beyond"
            + f" {train_cfg.deadline_free:.0%}",
            "workers": args.workers,
            "device": str(device),
            "torch": torch.__version__,
            "best_checkpoint": best,
            "final_row": history[-1] if history else {},
        },
    }
    if args.test_episodes > 0:
        from policies.artifact import LoadedArtifact

        art = LoadedArtifact(out, net, fspec, norm, aspec, {"name": "learned"}, "", "")
        say("final evaluation on the test split...")
        extra["evaluation"] = {
            "split": "test",
            "episodes_per_group": args.test_episodes,
            "seed": 20240601,
            "groups": evaluate(
                LearnedPolicy(art),
                split,
                params,
                episodes=args.test_episodes,
                seed=20240601,
                fspec=fspec,
                normaliser=norm,
                which="test",
                config=cfg,
            ),
        }
    extra.update(provenance or {})
    digest = save_artifact(
        out, net, feature_spec=fspec, normaliser=norm, action_spec=aspec, extra=extra
    )
    (run_dir / "summary.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")
    say(
        f"artifact {out} digest {digest}; {train_minutes:.1f} min wall, {cpu_minutes:.1f} min "
        f"CPU; best validation {best}"
    )
    if "evaluation" in extra:
        from policies.evaluate import format_table

        for group, summary in extra["evaluation"]["groups"].items():
            say(format_table(group, summary))
    return Trained(out, digest, best, len(history))


def _fit_critic(
    algo: Any,
    parent: LoadedArtifact,
    *,
    split: DataSplit,
    fspec: FeatureSpec,
    norm: Normaliser,
    aspec: ActionSpec,
    train_cfg: EnvConfig,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The critic for a run that starts from an artifact (which holds none): fitted, as
    cloning fits it, to the returns of whole training episodes, here of the artifact's
    own sampled play (the policy PPO will run), with this run's reward."""
    if args.critic_episodes == 0:
        return {"episodes": 0, "fit": "none: the critic starts untrained"}
    from policies.imitation import OwnPlay, demonstrate, fit_critic

    demos = demonstrate(
        split.train,
        OwnPlay(parent.net, args.seed),
        fspec=fspec,
        normaliser=norm,
        action_spec=aspec,
        config=train_cfg,
        episodes=args.critic_episodes,
        seed=args.seed,
        gamma=algo.cfg.gamma,
    )
    figures = fit_critic(
        algo.vf,
        demos,
        epochs=args.critic_epochs,
        seed=args.seed,
        reward_scale=algo.cfg.reward_scale,
    )
    return {"episodes": args.critic_episodes, **figures}


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _data_summary(data: dict[str, Any]) -> str:
    """A split in one line: its fold, or each part's sources and windows."""
    if "fold" in data:
        return f"fold {data['fold'].get('name')}"
    return "; ".join(
        f"{part} "
        + ", ".join(f"{e.get('name')}@{','.join(e.get('windows', []))}" for e in data.get(part, []))
        for part in ("train", "val", "test")
    )


USER_ERRORS = (TrainRefused, InitRefused, ArtifactError, DataError, LobsterFormatError)


if __name__ == "__main__":
    raise SystemExit(main())

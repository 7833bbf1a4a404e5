"""``rlexec train``: train a PPO or DQN execution policy and write its artifact.

One command, one seed, one result: the run is deterministic on CPU for a given seed,
number of environments and iteration count (the wall-clock cap ``--max-minutes`` is
a safety stop only; a run it cuts short says so in the manifest). Steps:

1. load the data split (training ticker hours for train/validation, held-out hours
   and unseen tickers for the final test);
2. fit the feature normalisation on training episodes (a random and a TWAP policy
   exploring the training split), and estimate the baselines' parameters there;
3. train, logging one CSV row per iteration (and TensorBoard when installed), with a
   progress bar and a checkpoint every ``--eval-every`` iterations; every checkpoint
   is scored on the validation hours against TWAP over the same seeded episodes and
   the best one is kept (model selection on validation, never on test);
4. write the artifact (weights, manifest with everything needed to reproduce and
   check it, SHA256SUMS) and, with ``--test-episodes``, the final test evaluation
   into its manifest.

Reproduce the committed policy::

    python -m policies.train --algo ppo --seed 7 --out policies/artifacts/ppo_amzn
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from policies.actions import ActionSpec
from policies.artifact import save_artifact
from policies.baselines import RandomPolicy, ScheduleTactic, TwapSchedule
from policies.data import DEFAULT_TEST, DEFAULT_TRAIN, DEFAULT_VAL, DataSplit, default_split
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.evaluate import BaselineParams, estimate_baselines, evaluate, run_group
from policies.features import FeatureSpec, Normaliser
from policies.learned import LearnedPolicy
from policies.network import PolicyNet
from policies.protocol import Policy
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
    ap.add_argument("--train-hours", default=DEFAULT_TRAIN, help="training hours")
    ap.add_argument("--val-hours", default=DEFAULT_VAL, help="validation hours (model selection)")
    ap.add_argument("--test-hours", default=DEFAULT_TEST, help="held-out test hours")
    ap.add_argument(
        "--decision-interval", type=float, default=5.0, help="seconds between decisions"
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
    env = ExecutionEnv(split.train, feature_spec=fspec, config=cfg)
    rows: list[np.ndarray] = []
    policies: list[Policy] = [RandomPolicy(seed=seed), ScheduleTactic(TwapSchedule())]
    for k, s in enumerate(episode_seeds(seed + 101, episodes)):
        pol = policies[k % 2]
        env.reset(seed=s)
        pol.reset(env.observation.ctx, seed=s)
        done = False
        while not done:
            rows.append(env.raw_features())
            _, _, term, trunc, _ = env.step_action(pol.act(env.observation))
            done = term or trunc
    env.close()
    return Normaliser.fit(np.stack(rows), fspec.clip)


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

    VAL_COLUMNS = ("val_is_bps", "val_twap_bps", "val_diff_bps", "val_diff_se")

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
    params: BaselineParams,
    cfg: EnvConfig,
    episodes: int,
    seed: int,
    twap_cache: dict[str, np.ndarray],
) -> dict[str, float]:
    """Greedy policy vs TWAP on the validation hours, same seeded episodes."""
    from policies.artifact import LoadedArtifact

    art = LoadedArtifact(Path("."), net, fspec, norm, ActionSpec(), {"name": "learned"}, "", "")
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
    }


def main(argv: list[str] | None = None) -> int:
    from core.log import configure

    args = build_parser().parse_args(argv)
    configure(level="ERROR")
    seed_everything(args.seed, args.threads)
    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    out = Path(args.out)
    run_dir = Path(args.run_dir or Path("var/runs") / out.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    split = default_split(
        args.train_data,
        args.unseen_data,
        train=args.train_hours,
        val=args.val_hours,
        test=args.test_hours,
        synthetic=args.synthetic,
    )
    fspec = FeatureSpec(decision_interval_s=args.decision_interval)
    cfg = EnvConfig()
    aspec = ActionSpec()
    quiet = bool(args.no_progress)

    def say(*parts: object) -> None:
        if not quiet:
            print(*parts, file=sys.stderr)

    say(f"data: train {[s.name for s in split.train]}, test {[s.name for s in split.test]}")
    norm = fit_normaliser(split, fspec, cfg, args.norm_episodes, args.seed)
    params = estimate_baselines(
        split.train, fspec, calibrate_episodes=args.calibrate_episodes, config=cfg, seed=args.seed
    )
    say(f"normaliser fitted; AC params {params.ac}")

    train_cfg = replace(cfg, reward_baseline=None if args.absolute_reward else "twap")

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
    if args.algo == "ppo":
        from policies.ppo import PPO, PPOConfig

        algo = PPO(n_in, aspec.n, PPOConfig(), device, prior_index=aspec.prior_index)
    else:
        from policies.dqn import DQN, DQNConfig

        algo = DQN(n_in, aspec.n, DQNConfig(), device)
    rng = np.random.default_rng(args.seed)
    trng = torch.Generator().manual_seed(args.seed)
    log = MetricsLog(run_dir / "metrics.csv")
    best: dict[str, Any] = {"val_is_bps": float("inf")}
    best_state: dict[str, torch.Tensor] | None = None
    twap_cache: dict[str, np.ndarray] = {}
    history: list[dict[str, Any]] = []
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
                v = validate(
                    algo.policy_net,
                    split,
                    fspec=fspec,
                    norm=norm,
                    params=params,
                    cfg=cfg,
                    episodes=args.val_episodes,
                    seed=args.seed + 5,
                    twap_cache=twap_cache,
                )
                row.update(v)
                torch_state = {k: t.detach().cpu().clone() for k, t in algo.state().items()}
                from safetensors.torch import save_file

                save_file(torch_state, str(run_dir / f"checkpoint_{it:04d}.safetensors"))
                if v["val_is_bps"] < best["val_is_bps"]:
                    best = {"iteration": it, **v}
                    best_state = {
                        k: t.detach().cpu().clone() for k, t in algo.policy_net.state_dict().items()
                    }
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
    extra: dict[str, Any] = {
        "name": out.name,
        "algo": args.algo,
        "seed": args.seed,
        "command": "python -m policies.train "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "data": {
            **split.describe(),
            "hours": {"train": args.train_hours, "val": args.val_hours, "test": args.test_hours},
        },
        "env": cfg.to_json(),
        "baselines": params.to_json(),
        "training": {
            "iterations_run": len(history),
            "env_steps": env_steps,
            "minutes": round(train_minutes, 2),
            "cut_short_by_time": cut_short,
            "envs": args.envs,
            "reward": "absolute IS increment"
            if args.absolute_reward
            else "IS increment minus a TWAP shadow's on the same window",
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
    digest = save_artifact(
        out, net, feature_spec=fspec, normaliser=norm, action_spec=aspec, extra=extra
    )
    (run_dir / "summary.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")
    say(f"artifact {out} digest {digest}; {train_minutes:.1f} min; best validation {best}")
    if "evaluation" in extra:
        from policies.evaluate import format_table

        for group, summary in extra["evaluation"]["groups"].items():
            say(format_table(group, summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

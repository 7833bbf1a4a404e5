"""Execution environment and policy inference speed.

Figures (goals from issue 8):

- env steps per second, single environment on one core (goal >= 10,000), with the
  episode resets included and excluded; random actions from the policy's table on the
  shipped AMZN training hours; the median of ``--repeats`` runs (each run's figures are
  in the JSON), because one run on a shared machine swings by a quarter;
- env steps per second vectorised: 8 environments in one process (per core), and
  16 environments over 2 worker processes (the training set-up, whole machine),
  stepped by a PPO learner (untrained network, sampling as in training) two ways in
  the same run: lockstep (``VecEnv.step`` for all 16, the workers wait for the
  slowest) and pipelined (``VecEnv.rollout``, what training uses); and, for the
  ceiling, two independent single-environment processes, one per core;
- policy inference latency at batch 1, p50/p99 (goal p99 <= 50 us): the served path
  (``LearnedPolicy.choose``: torch forward in ``inference_mode`` on one thread, the NaN
  guard and the arg-max), the bare torch forward, and a numpy forward of the same
  weights for comparison.

Run: python bench/env_bench.py [--steps 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentiles, pin_one_core, report

from core.log import configure
from policies.actions import ActionSpec
from policies.artifact import LoadedArtifact, load_artifact
from policies.data import default_split
from policies.env import ExecutionEnv
from policies.features import FEATURE_NAMES, FeatureSpec, Normaliser
from policies.learned import LearnedPolicy
from policies.network import NumpyForward, PolicyNet
from policies.ppo import PPO, PPOConfig
from policies.vector_env import SyncVecEnv, WorkerVecEnv

ARTIFACT = Path(__file__).resolve().parents[1] / "policies/artifacts/ppo_amzn"


def single_env(steps: int) -> tuple[float, float]:
    split = default_split(unseen_folders=[])
    env = ExecutionEnv(split.train)
    rng = np.random.default_rng(0)
    n = env.action_space.n  # type: ignore[attr-defined]
    env.reset(seed=0)
    t_steps = 0.0
    done_steps = 0
    t0 = time.perf_counter()
    ep = 0
    while done_steps < steps:
        env.reset(seed=ep)
        ep += 1
        done = False
        while not done:
            a = int(rng.integers(n))
            ts = time.perf_counter()
            _, _, term, trunc, _ = env.step(a)
            t_steps += time.perf_counter() - ts
            done_steps += 1
            done = term or trunc
    total = time.perf_counter() - t0
    env.close()
    return done_steps / t_steps, done_steps / total


def vector_env_in_process(steps: int, envs: int) -> float:
    split = default_split(unseen_folders=[])
    vec = SyncVecEnv([lambda: ExecutionEnv(split.train)] * envs, seed=0)
    rng = np.random.default_rng(0)
    vec.reset()
    n_iter = max(1, steps // envs)
    t0 = time.perf_counter()
    for _ in range(n_iter):
        vec.step(rng.integers(ActionSpec().n, size=envs))
    dt = time.perf_counter() - t0
    vec.close()
    return n_iter * envs / dt


def learner_collect(steps: int, envs: int, workers: int, pipelined: bool) -> float:
    """Env steps/s of a PPO learner collecting ``steps`` steps over ``workers``."""
    torch.set_num_threads(1)
    split = default_split(unseen_folders=[])
    factories = [lambda: ExecutionEnv(split.train)] * envs
    vec = WorkerVecEnv(factories, seed=0, workers=workers)
    torch.manual_seed(0)
    n_steps = max(1, steps // envs)
    ppo = PPO(len(FEATURE_NAMES), ActionSpec().n, PPOConfig(n_steps=n_steps), torch.device("cpu"))
    rng = torch.Generator().manual_seed(0)
    obs = vec.reset()
    t0 = time.perf_counter()
    if pipelined:
        ppo.collect(vec, obs, rng)
    else:
        for _ in range(n_steps):
            a, _, _ = ppo.act(obs, rng)
            obs = vec.step(a)[0]
    dt = time.perf_counter() - t0
    vec.close()
    return n_steps * envs / dt


def _one_env_process(steps: int, q: Any) -> None:
    q.put(single_env(steps)[1])


def independent_processes(steps: int, n: int) -> float:
    """The ceiling for ``n`` cores: ``n`` single-env processes, no coordination."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_one_env_process, args=(steps, q)) for _ in range(n)]
    for p in procs:
        p.start()
    rates = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return float(sum(rates))


def inference(n: int) -> dict[str, dict[str, float]]:
    torch.set_num_threads(1)
    if (ARTIFACT / "manifest.json").is_file():
        art = load_artifact(ARTIFACT)
    else:
        net = PolicyNet(len(FEATURE_NAMES), ActionSpec().n)
        art = LoadedArtifact(
            ARTIFACT, net.eval(), FeatureSpec(), Normaliser.identity(), ActionSpec(), {}, "", ""
        )
    pol = LearnedPolicy(art)
    npf = NumpyForward(art.net.state_dict())
    xs = np.random.default_rng(1).normal(size=(n, len(FEATURE_NAMES))).astype(np.float32)
    out: dict[str, dict[str, float]] = {}
    for name, fn in (
        ("served: numpy on the torch weights, guard + argmax", pol.choose),
        ("torch forward", pol.scores),
        ("numpy forward", npf),
    ):
        for x in xs[:200]:
            fn(x)  # warm-up
        samples = []
        for x in xs:
            t = time.perf_counter_ns()
            fn(x)
            samples.append(time.perf_counter_ns() - t)
        out[name] = percentiles(samples, (50, 99))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3, help="single-env runs (median)")
    ap.add_argument("--inferences", type=int, default=20_000)
    args = ap.parse_args()
    configure(level="ERROR")
    # before pinning: these use both cores; lockstep and pipelined alternate
    lockstep, pipelined = [], []
    for _ in range(2):
        lockstep.append(learner_collect(args.steps, 16, 2, pipelined=False))
        pipelined.append(learner_collect(args.steps, 16, 2, pipelined=True))
    ceiling = independent_processes(args.steps // 2, 2)
    pinned = pin_one_core()
    runs = [single_env(args.steps) for _ in range(max(1, args.repeats))]
    step_only = statistics.median(r[0] for r in runs)
    with_resets = statistics.median(r[1] for r in runs)
    vec_sync = vector_env_in_process(args.steps, 8)
    inf = inference(args.inferences)
    rows = [
        {
            "figure": "env steps/s, 1 env, 1 core (steps only)",
            "value": round(step_only),
            "goal": ">= 10,000",
            "met": step_only >= 10_000,
        },
        {
            "figure": "env steps/s, 1 env, 1 core (incl. resets)",
            "value": round(with_resets),
            "goal": "",
            "met": "",
        },
        {
            "figure": "env steps/s, 8 envs in process, 1 core",
            "value": round(vec_sync),
            "goal": ">= 10,000",
            "met": vec_sync >= 10_000,
        },
        {
            "figure": "env steps/s, 16 envs over 2 workers, PPO learner, lockstep (2 cores)",
            "value": round(statistics.median(lockstep)),
            "goal": "",
            "met": "",
        },
        {
            "figure": "env steps/s, 16 envs over 2 workers, PPO learner, pipelined (training)",
            "value": round(statistics.median(pipelined)),
            "goal": "",
            "met": "",
        },
        {
            "figure": "env steps/s, 2 independent 1-env processes (the 2-core ceiling)",
            "value": round(ceiling),
            "goal": "",
            "met": "",
        },
    ]
    for name, p in inf.items():
        rows.append(
            {"figure": f"inference p50 us, {name}", "value": p["p50_us"], "goal": "", "met": ""}
        )
        rows.append(
            {
                "figure": f"inference p99 us, {name}",
                "value": p["p99_us"],
                "goal": "<= 50" if name.startswith("served") else "",
                "met": p["p99_us"] <= 50 if name.startswith("served") else "",
            }
        )
    report(
        "env_bench",
        rows,
        {
            "single_env_runs": [{"steps_only": round(a), "incl_resets": round(b)} for a, b in runs],
            "learner_runs": {
                "lockstep": [round(x) for x in lockstep],
                "pipelined": [round(x) for x in pipelined],
                "pipelined_over_lockstep": round(
                    statistics.median(pipelined) / statistics.median(lockstep), 2
                ),
            },
            "pinning": pinned,
            "torch": torch.__version__,
            "artifact": str(ARTIFACT)
            if (ARTIFACT / "manifest.json").is_file()
            else "random weights",
        },
    )


if __name__ == "__main__":
    main()

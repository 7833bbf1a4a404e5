"""Pipelined rollouts over worker processes are the lockstep rollout, bit for bit.

Training collects with ``VecEnv.rollout``: each worker's share of the environments runs
ahead on its own while the learner decides for whichever share answered first. These
tests hold it to the in-process, lockstep result, so a committed policy's training
command gives the same weights whatever the number of workers and however the two
cores happen to interleave them.
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from core.log import configure
from policies.actions import ActionSpec
from policies.data import DataSplit, default_split
from policies.dqn import DQN, DQNConfig
from policies.env import EnvConfig, ExecutionEnv
from policies.features import FEATURE_NAMES
from policies.ppo import PPO, PPOConfig
from policies.vector_env import SyncVecEnv, VecEnv, WorkerVecEnv

SHORT = EnvConfig(horizon_s=(60.0, 120.0))  # 12-24 decisions: resets inside a rollout
N_IN, N_ACT = len(FEATURE_NAMES), ActionSpec().n


@pytest.fixture(scope="module")
def split() -> DataSplit:
    configure(level="ERROR")
    return default_split()


def _both(split: DataSplit, n: int, parts: int = 1) -> tuple[SyncVecEnv, WorkerVecEnv]:
    factories = [lambda: ExecutionEnv(split.train, config=SHORT)] * n
    work = WorkerVecEnv(factories, seed=11, workers=2, parts=parts)
    return SyncVecEnv(factories, seed=11), work


def _ppo_collect(vec: VecEnv) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict[str, float]]]:
    torch.manual_seed(0)
    ppo = PPO(N_IN, N_ACT, PPOConfig(n_steps=40), torch.device("cpu"), prior_index=0)
    rng = torch.Generator().manual_seed(5)
    obs = vec.reset()
    ppo.collect(vec, obs, rng)  # two rollouts: the second starts mid-episode
    return ppo.collect(vec, obs, rng)


@pytest.mark.parametrize("parts", [1, 2])
def test_ppo_rollout_over_workers_equals_the_lockstep_rollout_in_process(
    split: DataSplit, parts: int
) -> None:
    # 3 + 2 environments (in 2 + 1 and 1 + 1 parts): streams run at different paces
    sync, work = _both(split, 5, parts)
    try:
        b1, o1, e1 = _ppo_collect(sync)
        b2, o2, e2 = _ppo_collect(work)
    finally:
        sync.close()
        work.close()
    assert b1.keys() == b2.keys()
    for key in b1:
        assert np.array_equal(b1[key], b2[key]), key
    assert np.array_equal(o1, o2)
    assert e1 == e2 and len(e1) > 0  # episodes ended (and reset) inside the rollout


def test_dqn_rollout_over_workers_fills_the_replay_buffer_as_lockstep_does(
    split: DataSplit,
) -> None:
    sync, work = _both(split, 4)
    cfg = DQNConfig(n_steps=30, buffer=1000, eps_start=0.5, eps_end=0.5)  # greedy and random
    agents = []
    try:
        for vec in (sync, work):
            torch.manual_seed(0)
            dqn = DQN(N_IN, N_ACT, cfg, torch.device("cpu"))
            rng = np.random.default_rng(3)
            obs, episodes = dqn.collect(vec, vec.reset(), rng)
            agents.append((dqn, obs, episodes))
    finally:
        sync.close()
        work.close()
    (d1, o1, e1), (d2, o2, e2) = agents
    assert d1.size == d2.size == 120 and d1.env_steps == d2.env_steps == 120
    for name in ("obs", "nxt", "act_buf", "rew", "done"):
        assert np.array_equal(getattr(d1, name), getattr(d2, name)), name
    assert np.array_equal(o1, o2) and e1 == e2
    assert 0 < d1.done.sum() < 120


def test_a_worker_that_dies_mid_rollout_is_named_not_waited_for(split: DataSplit) -> None:
    factories = [lambda: ExecutionEnv(split.train, config=SHORT)] * 2
    work = WorkerVecEnv(factories, seed=1, workers=2)
    try:
        obs = work.reset()
        victim = work._procs[1].pid
        assert victim is not None
        killed = False

        def decide(step: np.ndarray, rows: np.ndarray, o: np.ndarray) -> np.ndarray:
            nonlocal killed
            if step.max() == 3 and not killed:
                os.kill(victim, signal.SIGKILL)
                killed = True
            return np.zeros(len(o), np.int64)

        with pytest.raises(RuntimeError, match=rf"worker pid {victim} stopped answering"):
            work.rollout(obs, 20, decide)
    finally:
        work.close()


_LEARNER = """
import sys
import gymnasium
from policies.vector_env import WorkerVecEnv

# What is under test is the workers' pipes, not the market: a small stock gymnasium
# environment keeps the learner's start-up to a second.
work = WorkerVecEnv([lambda: gymnasium.make("CartPole-v1")] * 2, seed=1, workers=2)
work.reset()
print(*(p.pid for p in work._procs), flush=True)
sys.stdin.read()  # until the test kills this process
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead, only not reaped yet
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_exit_when_the_learner_is_killed() -> None:
    """A training run killed outright (SIGKILL, the OOM killer) must not leave its
    environment workers behind, each holding a replayed day in memory: a worker's
    pipe reaches end-of-file as soon as the learner is gone, and the worker exits."""
    import subprocess
    import sys
    import time

    learner = subprocess.Popen(
        [sys.executable, "-c", _LEARNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    workers: list[int] = []
    try:
        assert learner.stdout is not None
        workers = [int(p) for p in learner.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        learner.kill()
        learner.wait()
        deadline = time.monotonic() + 30  # a guard against hanging, not a speed figure
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "workers outlived their learner"
    finally:
        learner.kill()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)

"""Vectorised environments: many episodes stepped together, in process or in workers.

Both forms reset an environment as soon as its episode ends (the returned
observation is then the new episode's first one, and the finished episode's result
is in ``infos[i]["episode"]``), which is what on-policy and off-policy loops want.
Env ``i`` is seeded ``seed + i`` on its first reset and draws later episodes from its
own generator, so a run is reproducible whatever the number of workers.

:class:`WorkerVecEnv` spreads the environments over worker processes (one per core)
so that two cores step environments while the learner waits; each worker holds a
:class:`SyncVecEnv` of its share.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from policies.env import ExecutionEnv

EnvFactory = Callable[[], ExecutionEnv]
StepOut = tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]


class SyncVecEnv:
    def __init__(self, factories: list[EnvFactory], seed: int) -> None:
        self.envs = [f() for f in factories]
        self.seed = seed
        self.num_envs = len(self.envs)
        self.n_features = int(self.envs[0].observation_space.shape[0])  # type: ignore[index]

    def reset(self) -> np.ndarray:
        obs = [env.reset(seed=self.seed + i)[0] for i, env in enumerate(self.envs)]
        return np.stack(obs).astype(np.float32)

    def step(self, actions: np.ndarray) -> StepOut:
        n = self.num_envs
        obs = np.empty((n, self.n_features), np.float32)
        rew = np.empty(n, np.float32)
        done = np.zeros(n, bool)
        infos: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            o, r, term, trunc, info = env.step(int(actions[i]))
            rew[i] = float(r)
            if term or trunc:
                done[i] = True
                res = env.result
                assert res is not None
                info = dict(
                    info,
                    episode={"is_bps": res.is_bps, "qty": res.spec.qty, "steps": len(res.actions)},
                )
                o, _ = env.reset()
            obs[i] = o
            infos.append(info)
        return obs, rew, done, infos

    def set_normaliser(self, normaliser: Any) -> None:
        for env in self.envs:
            env.set_normaliser(normaliser)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(conn: Connection, factories: list[EnvFactory], seed: int) -> None:
    import torch

    torch.set_num_threads(1)
    from core.log import configure

    configure(level="ERROR")
    vec = SyncVecEnv(factories, seed)
    try:
        while True:
            cmd, arg = conn.recv()
            if cmd == "reset":
                conn.send(vec.reset())
            elif cmd == "step":
                conn.send(vec.step(arg))
            elif cmd == "normaliser":
                vec.set_normaliser(arg)
                conn.send(None)
            elif cmd == "close":
                vec.close()
                conn.send(None)
                return
    except (EOFError, KeyboardInterrupt):
        return


class WorkerVecEnv:
    """Environments split over ``workers`` processes (fork), stepped in parallel."""

    def __init__(self, factories: list[EnvFactory], seed: int, workers: int = 2) -> None:
        workers = max(1, min(workers, len(factories)))
        ctx = mp.get_context("fork")
        self.num_envs = len(factories)
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._sizes: list[int] = []
        chunks = np.array_split(np.arange(len(factories)), workers)
        for chunk in chunks:
            parent, child = ctx.Pipe()
            fs = [factories[i] for i in chunk]
            p = ctx.Process(target=_worker, args=(child, fs, seed + int(chunk[0])), daemon=True)
            p.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(p)
            self._sizes.append(len(fs))

    def reset(self) -> np.ndarray:
        for c in self._conns:
            c.send(("reset", None))
        return np.concatenate([c.recv() for c in self._conns])

    def step(self, actions: np.ndarray) -> StepOut:
        start = 0
        for c, n in zip(self._conns, self._sizes, strict=True):
            c.send(("step", actions[start : start + n]))
            start += n
        parts = [c.recv() for c in self._conns]
        obs = np.concatenate([p[0] for p in parts])
        rew = np.concatenate([p[1] for p in parts])
        done = np.concatenate([p[2] for p in parts])
        infos = [i for p in parts for i in p[3]]
        return obs, rew, done, infos

    def set_normaliser(self, normaliser: Any) -> None:
        for c in self._conns:
            c.send(("normaliser", normaliser))
        for c in self._conns:
            c.recv()

    def close(self) -> None:
        for c in self._conns:
            try:
                c.send(("close", None))
                c.recv()
            except (BrokenPipeError, EOFError):
                pass
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()


VecEnv = SyncVecEnv | WorkerVecEnv

"""Vectorised environments: many episodes stepped together, in process or in workers.

Both forms reset an environment as soon as its episode ends (the returned
observation is then the new episode's first one, and the finished episode's result
is in ``infos[i]["episode"]``), which is what on-policy and off-policy loops want.
Env ``i`` is seeded ``seed + i`` on its first reset and draws later episodes from its
own generator, so a run is reproducible whatever the number of workers.

:class:`WorkerVecEnv` spreads the environments over worker processes (one per core)
so that two cores step environments while the learner waits; each worker holds a
:class:`SyncVecEnv` of its share.

Training collects through :meth:`rollout`, not :meth:`step`. Stepping every worker in
lockstep leaves each one idle while it waits for the slowest (an episode reset costs
as much as eight steps), so the workers sat at 65-70% busy and two cores stepped no
faster than one. ``rollout`` pipelines instead: each worker's share of the
environments advances on its own, and the learner chooses that share's next actions
as soon as its results arrive: ``decide(step, rows, obs)`` gets one observation per
environment, row ``i`` at its own step ``step[i]``, and answers for every row; the
rows flagged in ``rows`` (the parts that just answered, all deciding in one forward
pass) are used. Two things make a rollout the same, bit for bit, whatever order the
workers answer in and whatever the number of workers
(``tests/integration/policies/test_policies_rollout.py``): the learner draws each
step's random numbers up front, in lockstep order, and each row is always computed
at its own position in a batch of the same shape (torch's floating point can depend
on the batch shape, never on the other rows' values).
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, cast

import numpy as np

from policies.env import ExecutionEnv

EnvFactory = Callable[[], ExecutionEnv]
StepOut = tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]
Decide = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``decide(step, rows, obs)``: an action for every row of ``obs`` (one per environment,
row ``i`` at step ``step[i]``); only the rows where ``rows`` is true are used."""


@dataclass(slots=True)
class Rollout:
    """``n_steps`` steps of every environment, indexed ``[step, env]``."""

    obs: np.ndarray  # (n_steps + 1, n, f): obs[k] was acted on at step k; obs[-1] is next
    act: np.ndarray  # (n_steps, n) int64
    rew: np.ndarray  # (n_steps, n) float32
    done: np.ndarray  # (n_steps, n) bool
    episodes: list[dict[str, Any]]  # finished episodes, in (step, env) order

    @classmethod
    def empty(cls, obs: np.ndarray, n_steps: int) -> Rollout:
        n, f = obs.shape
        out = cls(
            np.zeros((n_steps + 1, n, f), np.float32),  # rows not yet current stay finite
            np.empty((n_steps, n), np.int64),
            np.empty((n_steps, n), np.float32),
            np.empty((n_steps, n), bool),
            [],
        )
        out.obs[0] = obs
        return out

    def record(self, k: int, envs: slice, out: StepOut, infos: list[list[dict[str, Any]]]) -> None:
        o, r, d, inf = out
        self.obs[k + 1, envs], self.rew[k, envs], self.done[k, envs] = o, r, d
        infos[k][envs] = inf

    def finish(self, infos: list[list[dict[str, Any]]]) -> Rollout:
        self.episodes = [i["episode"] for step in infos for i in step if "episode" in i]
        return self


def _infos(n_steps: int, n: int) -> list[list[dict[str, Any]]]:
    return [[{} for _ in range(n)] for _ in range(n_steps)]


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
        return self.step_part(0, self.num_envs, actions)

    def step_part(self, lo: int, hi: int, actions: np.ndarray) -> StepOut:
        """Step environments ``lo .. hi - 1`` (``actions`` has one per environment)."""
        n = hi - lo
        obs = np.empty((n, self.n_features), np.float32)
        rew = np.empty(n, np.float32)
        done = np.zeros(n, bool)
        infos: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs[lo:hi]):
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

    def rollout(self, obs: np.ndarray, n_steps: int, decide: Decide) -> Rollout:
        """``n_steps`` lockstep steps from ``obs``, actions from ``decide``."""
        out = Rollout.empty(obs, n_steps)
        infos = _infos(n_steps, self.num_envs)
        n = self.num_envs
        every, rows = slice(0, n), np.ones(n, bool)
        for k in range(n_steps):
            a = out.act[k] = decide(np.full(n, k), rows, out.obs[k])
            out.record(k, every, self.step(a), infos)
        return out.finish(infos)

    def set_normaliser(self, normaliser: Any) -> None:
        for env in self.envs:
            env.set_normaliser(normaliser)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker(
    conn: Connection, factories: list[EnvFactory], seed: int, inherited: list[Connection]
) -> None:
    # The learner's ends of every pipe came along with the fork: while this process holds
    # them, its own pipe never reaches end-of-file, and a learner killed outright would
    # leave it waiting forever with a day of market data in memory.
    for c in inherited:
        c.close()
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
            elif cmd == "step_part":
                lo, hi, actions = arg
                conn.send(vec.step_part(lo, hi, actions))
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
    """Environments split over ``workers`` processes (fork), stepped in parallel.

    ``parts`` > 1 steps each worker's share in a rollout as that many queued requests,
    so a worker has the next part to step while the learner decides for the one it
    just answered. It costs a forward pass per part, and the learner's forward (~270
    us in eager torch, even for 16 rows of a tiny MLP) is the bigger cost on two
    cores: 16 environments over 2 workers collected 4,175 / 4,042 / 3,508 steps/s with
    1 / 2 / 4 parts in one run. Hence 1.
    """

    def __init__(
        self, factories: list[EnvFactory], seed: int, workers: int = 2, parts: int = 1
    ) -> None:
        workers = max(1, min(workers, len(factories)))
        self.parts = max(1, parts)
        ctx = mp.get_context("fork")
        self.num_envs = len(factories)
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._shares: list[slice] = []  # each worker's environments
        chunks = np.array_split(np.arange(len(factories)), workers)
        for chunk in chunks:
            parent, child = ctx.Pipe()
            fs = [factories[i] for i in chunk]
            p = ctx.Process(
                target=_worker,
                args=(child, fs, seed + int(chunk[0]), [parent, *self._conns]),
                daemon=True,
            )
            p.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(p)
            self._shares.append(slice(int(chunk[0]), int(chunk[0]) + len(fs)))

    def reset(self) -> np.ndarray:
        for c in self._conns:
            c.send(("reset", None))
        return np.concatenate([c.recv() for c in self._conns])

    def step(self, actions: np.ndarray) -> StepOut:
        for c, share in zip(self._conns, self._shares, strict=True):
            c.send(("step_part", (0, share.stop - share.start, actions[share])))
        parts = [c.recv() for c in self._conns]
        obs = np.concatenate([p[0] for p in parts])
        rew = np.concatenate([p[1] for p in parts])
        done = np.concatenate([p[2] for p in parts])
        infos = [i for p in parts for i in p[3]]
        return obs, rew, done, infos

    def rollout(self, obs: np.ndarray, n_steps: int, decide: Decide) -> Rollout:
        """``n_steps`` steps from ``obs``, each worker's share pipelined (module doc)."""
        out = Rollout.empty(obs, n_steps)
        infos = _infos(n_steps, self.num_envs)
        # streams: (worker, the environments it steps, their range inside the worker)
        streams: list[tuple[Connection, slice, int, int]] = []
        for c, share in zip(self._conns, self._shares, strict=True):
            n = share.stop - share.start
            for part in np.array_split(np.arange(n), min(self.parts, n)):
                lo, hi = int(part[0]), int(part[-1]) + 1
                streams.append((c, slice(share.start + lo, share.start + hi), lo, hi))
        step_of = [0] * len(streams)
        queued: dict[Connection, deque[int]] = {c: deque() for c in self._conns}
        row_step = np.zeros(self.num_envs, np.int64)  # the step each row's obs is at
        cols = np.arange(self.num_envs)

        def send(ready: list[int]) -> None:
            """One forward pass for every part that answered, then their requests."""
            rows = np.zeros(self.num_envs, bool)
            for i in ready:
                rows[streams[i][1]] = True
            actions = decide(row_step, rows, out.obs[row_step, cols])
            for i in ready:
                c, envs, lo, hi = streams[i]
                a = out.act[step_of[i], envs] = actions[envs]
                c.send(("step_part", (lo, hi, a)))
                queued[c].append(i)  # a worker answers its requests in order

        if n_steps > 0:
            send(list(range(len(streams))))
        while busy := [c for c, q in queued.items() if q]:
            ready: list[int] = []
            for r in wait(busy):
                c = cast(Connection, r)
                i = queued[c].popleft()
                try:
                    out.record(step_of[i], streams[i][1], c.recv(), infos)
                except (EOFError, OSError) as exc:
                    raise self._lost(c, step_of[i], exc) from exc
                step_of[i] += 1
                if step_of[i] < n_steps:
                    row_step[streams[i][1]] = step_of[i]
                    ready.append(i)
            if ready:
                try:
                    send(ready)
                except OSError as exc:
                    raise self._lost(streams[ready[0]][0], step_of[ready[0]], exc) from exc
        return out.finish(infos)

    def _lost(self, conn: Connection, k: int, exc: BaseException) -> RuntimeError:
        """A worker died mid-rollout (OOM kill, a crash in an env): say which and how."""
        proc = self._procs[self._conns.index(conn)]
        proc.join(timeout=1)
        return RuntimeError(
            f"environment worker pid {proc.pid} stopped answering at rollout step {k} "
            f"(exit code {proc.exitcode}): {type(exc).__name__} {exc}"
        )

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

"""A fingerprint of the one execution path: a seeded run hashed, to prove a refactor kept it.

Runs a few episodes of :class:`~policies.env.ExecutionEnv` with seeded random actions
(LOBSTER replay and a synthetic regime) and hashes, in the order they happen, every
request the router carried, every report and cancel reject the venue sent back and
what the execution engine made of it, every observation, reward and the episode
results. Two versions of the code that print the same hash sent the same child orders
at the same times and heard the same answers; a restructure must not move it.

    .venv/bin/python bench/env_trace.py            # prints the hash, writes results/env_trace.json
    .venv/bin/python bench/env_trace.py --episodes 4
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

import numpy as np
from _common import report

from core.clock import SimClock
from core.events import CancelReject, ExecReport
from exchange.replay.api import MarketSimulator
from execution.sim_router import ReportConsumer, SimRouter
from policies.data import default_split, synthetic_source
from policies.env import EnvConfig, ExecutionEnv
from risk.approval import Approved


class _Hasher:
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.events = 0

    def add(self, *parts: object) -> None:
        self.h.update(repr(parts).encode())
        self.h.update(b"\n")
        self.events += 1


class _Tap:
    """Hands each venue answer to the engine and hashes the answer and the engine's reply."""

    def __init__(self, consumer: ReportConsumer, hasher: _Hasher) -> None:
        self.consumer = consumer
        self.hasher = hasher

    def on_exec_report(self, rep: ExecReport) -> object:
        out = self.consumer.on_exec_report(rep)
        self.hasher.add("report", rep, out)
        return out

    def on_cancel_reject(self, rej: CancelReject) -> object:
        out = self.consumer.on_cancel_reject(rej)
        self.hasher.add("cancel_reject", rej, out)
        return out


def _tracing_link(hasher: _Hasher) -> Any:
    class TracingLink(SimRouter[MarketSimulator]):
        def reset(self, sim: MarketSimulator, consumer: ReportConsumer) -> None:
            super().reset(sim, _Tap(consumer, hasher))

        def submit_new(self, approved: Approved[Any]) -> None:
            hasher.add("new", approved.request, self.clock.now_ns())
            super().submit_new(approved)

        def submit_replace(self, approved: Approved[Any]) -> None:
            hasher.add("replace", approved.request, self.clock.now_ns())
            super().submit_replace(approved)

        def submit_cancel(self, approved: Approved[Any]) -> None:
            hasher.add("cancel", approved.request, self.clock.now_ns())
            super().submit_cancel(approved)

    def make(clock: SimClock) -> SimRouter[MarketSimulator]:
        return TracingLink(clock)

    return make


def trace(episodes: int, seed: int) -> tuple[str, int]:
    hasher = _Hasher()
    split = default_split(unseen_folders=[])
    sources = [*split.train, synthetic_source("AMZN", "volatile")]
    cfg = EnvConfig(horizon_s=(60.0, 180.0))
    env = ExecutionEnv(sources, config=cfg, link=_tracing_link(hasher))
    rng = np.random.default_rng(seed)
    try:
        for ep in range(episodes):
            obs, info = env.reset(seed=seed + ep)
            hasher.add("reset", ep, obs.tobytes(), sorted(info.items()))
            done = False
            while not done:
                action = int(rng.integers(env.aspec.n))
                obs, reward, term, trunc, info = env.step(action)
                hasher.add("step", action, obs.tobytes(), float(reward), term, trunc)
                done = term or trunc
            res = env.result
            assert res is not None
            hasher.add("result", res.spec, res.is_bps, res.filled, res.swept, res.denied)
            hasher.add("result2", res.unfilled_at_end, res.child_orders, tuple(res.actions))
    finally:
        env.close()
    return hasher.h.hexdigest(), hasher.events


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args(argv)
    digest, events = trace(args.episodes, args.seed)
    report(
        "env_trace",
        [{"episodes": args.episodes, "seed": args.seed, "events": events, "sha256": digest}],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The positive control for ``teacher_room_bench``: would its choosers find the room if the
state held the information, and how good a price predictor would it take?

    python bench/oracle_room_bench.py var/cand/line_l01 --samples var/room/tf

Why: ``teacher_room_bench`` found the exact advantages over the passive tactic
unpredictable from the policy's features (out-of-sample R^2 at or below zero) and read it
as "the state holds no information about the room", not "the method cannot find it". A
negative result needs a positive control. This bench adds to each cached sample's state
what the state lacks: the mid's side-signed move over the next 1, 6, 12 and 36 decisions
and to the end of the horizon, in spreads at the decision (an oracle, read from the
teacher's own episode, the market future the counterfactuals hold fixed). Then, with the
same fits and scoring as ``teacher_room_bench``, it degrades the oracle to a predictor of
information coefficient ``rho`` (its correlation with the true move: ``rho`` times the
standardised move plus independent noise) and reports what each quality of predictor is
worth, one decision at a time, to first order per episode.

The samples are the ones ``teacher_room_bench --samples DIR`` cached (same seed and
sizes); each is replayed once (the teacher's episode) to read its mid path, and the
replay must reproduce the cached features at the sampled decision, or the bench stops
(the moves are then kept beside the samples, ``oracle_<part>.npz``).
``--play N``: the tree choosers given the oracle at IC 1, 0.5 and 0 (noise) against the
teacher on N fresh validation episodes in full (the oracle there reads the teacher's
episode's future, which the choosers' own trades change a little), which checks the
first-order figures without the approximation.

CPU: one teacher episode per sample, about 2 minutes for 2,400 samples on 2 workers; a
played episode with the trees about 1.5 s (13 predictions a decision). Writes bench/results/oracle_room_bench_<fold>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report
from teacher_room_bench import (
    _WORKER,
    MARGINS,
    _chooser_row,
    _clip,
    _fit,
    _init,
    _predict,
    _r2,
    load,
    played_rows,
    print_played,
)

from core.log import configure
from policies.artifact import load_artifact
from policies.context import Observation
from policies.counterfactual import play_episode
from policies.env import ExecutionEnv, episode_seeds
from policies.imitation import TableTeacher

HORIZONS = (1, 6, 12, 36)  # decisions ahead (5 s each on the shipped folds); then the end
RHOS = (1.0, 0.5, 0.3, 0.16, 0.1, 0.0)  # 0.16: issue 19's signal on AMZN (docs/signals.md)


def _moves(mids: list[float], t: int, spread: float, sign: int) -> npt.NDArray[np.float64]:
    """Side-signed mid moves from decision ``t`` over each horizon and to the end, in
    ``spread`` (``mids`` holds one mid per decision and the mid at the end)."""
    last = len(mids) - 1
    ahead = [min(t + h, last) for h in HORIZONS] + [last]
    return np.asarray([sign * (mids[a] - mids[t]) / spread for a in ahead])


class _Watching:
    """The teacher, reading the book at each decision as it plays: the mids, and the
    spread and features at decision ``at``."""

    def __init__(self, env: ExecutionEnv, teacher: TableTeacher, at: int) -> None:
        self.env, self.teacher, self.at = env, teacher, at
        self.mids: list[float] = []
        self.spread = 1.0
        self.features: npt.NDArray[np.float32] | None = None

    def decide(self, obs: Observation) -> int:
        book = self.env.book
        self.mids.append(
            book.mid if book.mid is not None else (self.mids[-1] if self.mids else 0.0)
        )
        if len(self.mids) - 1 == self.at:
            self.spread = float(book.spread or 1)
            self.features = obs.features.copy()
        return self.teacher.decide(obs)


def teacher_path(
    env: ExecutionEnv, teacher: TableTeacher, seed: int, at: int = -1
) -> tuple[list[float], float, npt.NDArray[np.float32] | None, float]:
    """The teacher's episode under ``seed``: the mid at each decision and at the end, the
    spread and features at decision ``at``, and the episode's IS."""
    watch = _Watching(env, teacher, at)
    is_bps = play_episode(env, watch, seed)[1]
    end = env.book.mid
    watch.mids.append(end if end is not None else watch.mids[-1])
    return watch.mids, watch.spread, watch.features, is_bps


def _oracle(task: tuple[int, int]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    """The side-signed future mid moves at the sampled decision of the teacher's episode
    under ``seed`` (in spreads at that decision), and the features it read there."""
    seed, decisions = task
    env = _WORKER["env"]
    t = int(np.random.default_rng(seed).integers(0, decisions))
    mids, spread, features, _ = teacher_path(env, _WORKER["teacher"], seed, t)
    if len(mids) - 1 != decisions or features is None:
        raise RuntimeError(f"seed {seed}: {len(mids) - 1} decisions, the sample had {decisions}")
    return _moves(mids, t, spread, env.parent.side.sign), features


class OracleChooser:
    """The teacher, except where the fitted trees, reading the state and the oracle
    (the teacher's episode's future mids, degraded to ``rho``), predict an action saves
    more than ``margin`` bp. Played for real: its own deviations move the market a
    little, the oracle still reads the teacher's path (what it would have been)."""

    def __init__(
        self,
        teacher: TableTeacher,
        models: list[Any],
        margin: float,
        scale: tuple[npt.NDArray[Any], npt.NDArray[Any]],
        rho: float,
    ) -> None:
        self.teacher, self.models, self.margin = teacher, models, margin
        self.mean, self.std = scale
        self.rho = rho
        self.env: ExecutionEnv | None = None
        self.mids: list[float] = []
        self.i, self.rng = 0, np.random.default_rng(0)

    def start(self, env: ExecutionEnv, mids: list[float], seed: int) -> None:
        self.env, self.mids, self.i = env, mids, 0
        self.rng = np.random.default_rng(seed)

    def decide(self, obs: Observation) -> int:
        assert self.env is not None
        t = min(self.i, len(self.mids) - 1)
        self.i += 1
        spread = float(self.env.book.spread or 1)
        moves = _moves(self.mids, t, spread, self.env.parent.side.sign)
        z = (moves - self.mean) / self.std
        noise = self.rng.standard_normal(z.shape)
        oracle = self.rho * z + np.sqrt(1.0 - self.rho * self.rho) * noise
        x = np.hstack([np.asarray(obs.features, dtype=np.float64), oracle])[None, :]
        pred = np.asarray([m.predict(x)[0] for m in self.models])
        best = int(pred.argmin())
        return best if pred[best] < -self.margin else self.teacher.decide(obs)


def _init_play(path: str, players: dict[str, tuple[list[Any], float, float]], scale: Any) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # a tree prediction on one row: 1 ms alone, 17 ms with threads
    _init(path, "val", 1)
    teacher = _WORKER["teacher"]
    _WORKER["players"] = {
        name: OracleChooser(teacher, models, margin, scale, rho)
        for name, (models, margin, rho) in players.items()
    }


def _play(seed: int) -> list[float]:
    """The teacher's IS on ``seed``, then each oracle chooser's on the same episode."""
    env, teacher = _WORKER["env"], _WORKER["teacher"]
    mids, _, _, teacher_is = teacher_path(env, teacher, seed)
    out = [teacher_is]
    for player in _WORKER["players"].values():
        player.start(env, mids, seed)
        out.append(play_episode(env, player, seed)[1])
    return out


def play(
    path: str,
    players: dict[str, tuple[list[Any], float, float]],
    scale: Any,
    seeds: list[int],
    workers: int,
) -> list[dict[str, Any]]:
    """Each oracle chooser against the teacher on the same fresh validation episodes, in
    full: the paired difference in IS and each one's timing risk."""
    with get_context("spawn").Pool(workers, _init_play, (path, players, scale)) as pool:
        costs = np.asarray(pool.map(_play, seeds, chunksize=4)).T
    return played_rows(["teacher", *players], costs)


def oracles(
    path: str, seeds: list[int], decisions: npt.NDArray[Any], part: str, workers: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    tasks = [(s, int(d)) for s, d in zip(seeds, decisions, strict=True)]
    with get_context("spawn").Pool(workers, _init, (path, part, 1)) as pool:
        out = pool.map(_oracle, tasks, chunksize=8)
    return np.stack([m for m, _ in out]), np.stack([f for _, f in out])


def degrade(
    moves: npt.NDArray[Any], mean: npt.NDArray[Any], std: npt.NDArray[Any], rho: float, seed: int
) -> npt.NDArray[np.float64]:
    """A predictor of correlation ``rho`` with each standardised move (independent noise)."""
    z = (moves - mean) / std
    noise = np.random.default_rng(seed).standard_normal(z.shape)
    out: npt.NDArray[np.float64] = rho * z + np.sqrt(1.0 - rho * rho) * noise
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", help="the candidate teacher_room_bench sampled")
    ap.add_argument("--samples", type=Path, required=True, help="teacher_room_bench's cache")
    ap.add_argument("--seed", type=int, default=7, help="teacher_room_bench's --seed")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--play",
        type=int,
        default=300,
        help="fresh validation episodes the tree choosers with the oracle (IC 1, 0.5, 0) "
        "and the teacher play in full (0: none)",
    )
    args = ap.parse_args()
    configure(level="ERROR")
    art = load_artifact(args.artifact)
    t0 = time.time()
    data, moves = {}, {}
    for part, seed in (("train", args.seed), ("val", args.seed + 1)):
        cached = args.samples / f"{part}_hold1.npz"
        if not cached.exists():
            ap.error(f"{cached} missing: run teacher_room_bench.py --samples first")
        data[part] = load(cached)
        kept = args.samples / f"oracle_{part}.npz"
        if kept.exists():  # the replay was checked when it was written
            moves[part] = load(kept)["moves"]
            continue
        seeds = episode_seeds(seed, len(data[part]["teacher"]))
        moves[part], x = oracles(args.artifact, seeds, data[part]["decisions"], part, args.workers)
        if not np.array_equal(x, data[part]["x"]):
            sys.exit(f"{part}: the replay's features differ from the cached samples")
        np.savez_compressed(kept, moves=moves[part])
    replay_s = time.time() - t0
    train, val = data["train"], data["val"]
    mean, std = moves["train"].mean(0), moves["train"].std(0) + 1e-12
    clip = _clip(train)
    keep = val["adv"].shape[1] - 1
    hindsight = _chooser_row("hindsight best", val["adv"].argmin(1), val)
    rows: list[dict[str, Any]] = []
    to_play: dict[str, tuple[list[Any], float, float]] = {}
    for rho in RHOS:
        xs = {
            part: np.hstack([data[part]["x"], degrade(moves[part], mean, std, rho, i)])
            for i, part in enumerate(("train", "val"))
        }
        for kind in ("ridge", "trees"):
            models = _fit({**train, "x": xs["train"]}, kind, clip)
            pred = _predict(models, xs["val"])
            r2 = _r2(pred, val, clip)
            if kind == "trees" and rho in (1.0, 0.5, 0.0):
                to_play[f"trees IC {rho:g}, margin 0"] = (models, 0.0, rho)
            for margin in MARGINS:
                choice = np.where(pred.min(1) < -margin, pred.argmin(1), keep)
                row = _chooser_row(f"{kind}, margin {margin:g}", choice, val)
                rows.append({"rho": rho, "r2": r2, **row})
    print(
        f"{art.manifest['data']['fold']['name']} fold: {len(train['teacher'])} training and "
        f"{len(val['teacher'])} validation samples replayed in {replay_s:.0f} s (features "
        f"reproduced); hindsight best {hindsight['cost_per_episode_bps']:+.2f} bp an episode"
    )
    print(
        f"{'predictor IC':>12s}  {'chooser':17s} {'R^2':>6s} {'deviates':>8s} {'bp/episode [se]':>18s}"
    )
    for r in rows:
        print(
            f"{r['rho']:12.2f}  {r['chooser']:17s} {r['r2']:6.3f} {r['deviates']:8.1%} "
            f"{r['cost_per_episode_bps']:+8.2f} [{r['cost_se']:.2f}]"
        )
    played: list[dict[str, Any]] = []
    if args.play > 1:
        t1 = time.time()
        seeds = episode_seeds(args.seed + 2, args.play)
        played = play(args.artifact, to_play, (mean, std), seeds, args.workers)
        print_played(played, time.time() - t1)
    report(
        f"oracle_room_bench_{art.manifest['data']['fold']['name']}",
        rows,
        {
            "artifact": str(args.artifact),
            "digest": art.digest,
            "horizons_decisions": [*HORIZONS, "end"],
            "replay_s": replay_s,
            "hindsight": hindsight,
            "played": played,
            "move_std_spreads": dict(zip(map(str, (*HORIZONS, "end")), std.tolist(), strict=True)),
        },
    )


if __name__ == "__main__":
    main()

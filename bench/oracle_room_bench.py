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
replay must reproduce the cached features at the sampled decision, or the bench stops.
CPU: one teacher episode per sample, about 2 minutes for 2,400 samples on 2 workers.
Writes bench/results/oracle_room_bench_<fold>.json.
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
)

from core.log import configure
from policies.artifact import load_artifact
from policies.env import episode_seeds

HORIZONS = (1, 6, 12, 36)  # decisions ahead (5 s each on the shipped folds); then the end
RHOS = (1.0, 0.5, 0.3, 0.16, 0.1, 0.0)  # 0.16: issue 19's signal on AMZN (docs/signals.md)


def _oracle(task: tuple[int, int]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    """The side-signed future mid moves at the sampled decision of the teacher's episode
    under ``seed`` (in spreads at that decision), and the features it read there."""
    seed, decisions = task
    env, teacher = _WORKER["env"], _WORKER["teacher"]
    env.reset(seed=seed)
    t = int(np.random.default_rng(seed).integers(0, decisions))
    mids: list[float] = []
    spread, features = 1.0, None
    done = False
    while not done:
        book = env.book
        mids.append(book.mid if book.mid is not None else (mids[-1] if mids else 0.0))
        if len(mids) - 1 == t:
            spread = float(book.spread or 1)
            features = env.observation.features.copy()
        _, _, term, trunc, _ = env.step(teacher.decide(env.observation))
        done = term or trunc
    end = env.book.mid
    mids.append(end if end is not None else mids[-1])
    if len(mids) - 1 != decisions or features is None:
        raise RuntimeError(f"seed {seed}: {len(mids) - 1} decisions, the sample had {decisions}")
    sign = env.parent.side.sign
    ahead = [min(t + h, decisions) for h in HORIZONS] + [decisions]
    moves = np.asarray([sign * (mids[a] - mids[t]) / spread for a in ahead])
    return moves, features


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
        seeds = episode_seeds(seed, len(data[part]["teacher"]))
        moves[part], x = oracles(args.artifact, seeds, data[part]["decisions"], part, args.workers)
        if not np.array_equal(x, data[part]["x"]):
            sys.exit(f"{part}: the replay's features differ from the cached samples")
    replay_s = time.time() - t0
    train, val = data["train"], data["val"]
    mean, std = moves["train"].mean(0), moves["train"].std(0) + 1e-12
    clip = _clip(train)
    keep = val["adv"].shape[1] - 1
    hindsight = _chooser_row("hindsight best", val["adv"].argmin(1), val)
    rows: list[dict[str, Any]] = []
    for rho in RHOS:
        xs = {
            part: np.hstack([data[part]["x"], degrade(moves[part], mean, std, rho, i)])
            for i, part in enumerate(("train", "val"))
        }
        for kind in ("ridge", "trees"):
            models = _fit({**train, "x": xs["train"]}, kind, clip)
            pred = _predict(models, xs["val"])
            r2 = _r2(pred, val, clip)
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
    report(
        f"oracle_room_bench_{art.manifest['data']['fold']['name']}",
        rows,
        {
            "artifact": str(args.artifact),
            "digest": art.digest,
            "horizons_decisions": [*HORIZONS, "end"],
            "replay_s": replay_s,
            "hindsight": hindsight,
            "move_std_spreads": dict(zip(map(str, (*HORIZONS, "end")), std.tolist(), strict=True)),
        },
    )


if __name__ == "__main__":
    main()

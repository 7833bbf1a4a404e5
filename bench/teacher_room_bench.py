"""How much room a learned policy has over the tactic it was cloned from, measured with
exact counterfactuals instead of a policy gradient.

    python bench/teacher_room_bench.py var/cand/line_l01 [--train 1600] [--val 800] [--hold 1]

Why: on every fold PPO ended where it started, tied with its teacher (docs/results.md,
issue 15). This bench asks whether there was anything to find. At one random decision of
each teacher episode it replays the episode once per action of the table (that action
kept ``--hold`` decisions, the teacher before and after; :mod:`policies.counterfactual`),
so each action's advantage over the teacher is exact for that market path. Then:

* **per action**: its mean advantage over the teacher on the validation episodes;
* **hindsight**: the best action per decision, knowing the market's future (a bound no
  policy reaches);
* **learned choosers**: per-action regressions of the advantage on the features the
  policy reads (ridge; gradient-boosted trees with an absolute loss, robust to the heavy
  tails), fitted on training episodes, choosing on validation episodes the action with
  the lowest predicted advantage when it is below ``-margin`` (else the teacher's). What
  their choices realise on validation is the room a policy reading these features can
  take, one decision at a time;
* **the candidate**: the artifact's own arg-max at the same validation states.
* **played in full** (``--play``, one decision at a time only): the ridge choosers (the
  teacher wherever they predict no saving) and the teacher itself on the
  same fresh validation episodes, the paired difference in IS and each one's timing
  risk: the first-order figures above checked without the approximation.

Per decision and, multiplied by the decisions in an episode, the first-order per-episode
figure (the policy improvement theorem's sum, with the teacher's states standing in for
the new policy's). Costs are the training objective (IS, the timing-risk term and the
deadline penalty of the artifact's training; no TWAP shadow, which would cancel between
actions); the realised IS is reported beside it. Training episodes draw the impact
strength as training does; validation episodes run it as calibrated. Never the test
split. CPU: one sample is 14 episodes, about 0.35 s on each of two workers: the default
2,400 samples take about 13 minutes. Writes bench/results/teacher_room_bench_<fold>.json
(``--hold`` > 1: teacher_room_bench_<fold>_hold<N>.json).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report

from core.log import configure
from policies.artifact import LoadedArtifact, load_artifact
from policies.context import Observation
from policies.counterfactual import Counterfactual, counterfactual, play_episode
from policies.data import fold
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.imitation import TableTeacher

MARGINS = (0.0, 0.1)
_WORKER: dict[str, Any] = {}


def _env(art: LoadedArtifact, part: str) -> ExecutionEnv:
    """The artifact's environment on its fold's training or validation split, with its
    training's shaping (no TWAP shadow); impact drawn as in training on ``train`` only."""
    m = art.manifest
    split = fold(m["data"]["fold"]["name"]).split()
    trained = m["training"]["env"]
    cfg = replace(
        EnvConfig.from_json(m["env"]),
        risk_aversion=float(trained["risk_aversion"]),
        deadline_free=float(trained["deadline_free"]),
        deadline_penalty_bps=float(trained["deadline_penalty_bps"]),
    )
    if part == "train":
        lo, hi = trained["impact_scale"]
        cfg = replace(cfg, impact_scale=(float(lo), float(hi)))
    return ExecutionEnv(
        split.train if part == "train" else split.val,
        feature_spec=art.feature_spec,
        normaliser=art.normaliser,
        action_spec=art.action_spec,
        config=cfg,
    )


def _init(path: str, part: str, hold: int) -> None:
    configure(level="ERROR")
    torch.set_num_threads(1)
    art = load_artifact(path)
    passive = art.manifest["baselines"]["passive_catchup"]
    _WORKER.update(
        env=_env(art, part),
        teacher=TableTeacher(art.action_spec, float(passive["tolerance"])),
        hold=hold,
    )


def _sample(seed: int) -> Counterfactual:
    return counterfactual(_WORKER["env"], _WORKER["teacher"], seed, hold=_WORKER["hold"])


def sample(path: str, part: str, seeds: list[int], hold: int, workers: int) -> list[Counterfactual]:
    with get_context("spawn").Pool(workers, _init, (path, part, hold)) as pool:
        return pool.map(_sample, seeds, chunksize=4)


def _stack(samples: list[Counterfactual]) -> dict[str, npt.NDArray[Any]]:
    """The samples as arrays; the advantages get one more column, 0: "change nothing",
    the teacher's own episode (with ``hold`` 1 the teacher's action is exactly that)."""
    keep = np.zeros((len(samples), 1))
    return {
        "x": np.stack([s.features for s in samples]),
        "adv": np.hstack([np.stack([s.advantage for s in samples]), keep]),
        "adv_is": np.hstack([np.stack([s.is_bps - s.teacher_is_bps for s in samples]), keep]),
        "teacher": np.asarray([s.teacher_action for s in samples]),
        "decisions": np.asarray([s.decisions for s in samples], dtype=float),
        "hold": np.asarray([s.hold for s in samples], dtype=float),
    }


def save(path: Path, data: dict[str, npt.NDArray[Any]]) -> None:
    np.savez_compressed(path, **data)


def load(path: Path) -> dict[str, npt.NDArray[Any]]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def _se(x: npt.NDArray[Any]) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x)))


def _chooser_row(
    name: str, choice: npt.NDArray[Any], val: dict[str, npt.NDArray[Any]]
) -> dict[str, Any]:
    """What a chooser's picks realise (column n: change nothing); per episode to first
    order: per changed stretch times the stretches an episode has (decisions / hold)."""
    rows = np.arange(len(choice))
    adv, adv_is = val["adv"][rows, choice], val["adv_is"][rows, choice]
    n = float((val["decisions"] / val["hold"]).mean())
    keep = val["adv"].shape[1] - 1
    same = (choice == keep) | ((val["hold"] == 1) & (choice == val["teacher"]))
    return {
        "chooser": name,
        "deviates": float(np.mean(~same)),
        "cost_per_episode_bps": float(adv.mean()) * n,
        "cost_se": _se(adv) * n,
        "is_per_episode_bps": float(adv_is.mean()) * n,
        "is_se": _se(adv_is) * n,
        "cost_per_change_bps": float(adv.mean()),
        "is_per_change_bps": float(adv_is.mean()),
    }


def _clip(train: dict[str, npt.NDArray[Any]]) -> float:
    """The training advantages' 99th percentile in size: what fits and scores are clipped
    at, since a handful of chaotic replays would otherwise set them."""
    return float(np.quantile(np.abs(train["adv"][:, :-1]), 0.99))


def _fit(train: dict[str, npt.NDArray[Any]], kind: str, clip: float) -> list[Any]:
    """One regression of the advantage on the features per action, fitted on training
    samples clipped at ``clip``."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    models: list[Any] = []
    for a in range(train["adv"].shape[1] - 1):
        model: Any = (
            Ridge(alpha=10.0)
            if kind == "ridge"
            else HistGradientBoostingRegressor(
                loss="absolute_error",
                max_iter=200,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=40,
                random_state=0,
            )
        )
        models.append(model.fit(train["x"], np.clip(train["adv"][:, a], -clip, clip)))
    return models


def _predict(models: list[Any], x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Predicted advantages, one column per action and a last one, 0, for no change."""
    out = np.zeros((len(x), len(models) + 1))
    for a, model in enumerate(models):
        out[:, a] = model.predict(x)
    return out


def _r2(pred: npt.NDArray[Any], val: dict[str, npt.NDArray[Any]], clip: float) -> float:
    """Out-of-sample R squared pooled over actions: how much of the advantage the state
    explains (negative: less than the per-action mean does)."""
    target = np.clip(val["adv"][:, :-1], -clip, clip)
    err = float(((target - pred[:, :-1]) ** 2).sum())
    return 1.0 - err / float(((target - target.mean(0)) ** 2).sum())


class FittedChooser:
    """The teacher, except where the fitted ridge regressions predict an action saves
    more than ``margin`` bp: one step of policy improvement, played for real. (Ridge
    only: the boosted trees cost 17 ms a prediction per action here, 25 minutes for
    400 episodes.)"""

    def __init__(self, teacher: TableTeacher, models: list[Any], margin: float) -> None:
        self.teacher, self.margin = teacher, margin
        self.weights = np.stack([m.coef_ for m in models])
        self.bias = np.asarray([m.intercept_ for m in models])

    def decide(self, obs: Observation) -> int:
        pred = self.weights @ np.asarray(obs.features, dtype=np.float64) + self.bias
        best = int(pred.argmin())
        return best if pred[best] < -self.margin else self.teacher.decide(obs)


def _init_play(path: str, choosers: dict[str, tuple[list[Any], float]]) -> None:
    _init(path, "val", 1)
    teacher = _WORKER["teacher"]
    _WORKER["players"] = {
        "teacher": teacher,
        **{name: FittedChooser(teacher, m, margin) for name, (m, margin) in choosers.items()},
    }


def _played_is(task: tuple[str, int]) -> float:
    name, seed = task
    return play_episode(_WORKER["env"], _WORKER["players"][name], seed)[1]


def play(
    path: str, choosers: dict[str, tuple[list[Any], float]], seeds: list[int], workers: int
) -> list[dict[str, Any]]:
    """Each chooser and the teacher on the same fresh validation episodes: the paired
    difference in IS and each one's timing risk (no first-order approximation)."""
    names = ["teacher", *choosers]
    tasks = [(name, s) for name in names for s in seeds]
    with get_context("spawn").Pool(workers, _init_play, (path, choosers)) as pool:
        costs = np.asarray(pool.map(_played_is, tasks, chunksize=8)).reshape(len(names), len(seeds))
    return played_rows(names, costs)


def played_rows(names: list[str], costs: npt.NDArray[Any]) -> list[dict[str, Any]]:
    """One row per player (``costs``: one row of episode IS each, the teacher's first):
    the paired difference against the teacher and each one's timing risk."""
    teacher = costs[0]
    return [
        {
            "played": name,
            "episodes": costs.shape[1],
            "is_bps": float(c.mean()),
            "vs_teacher_bps": float((c - teacher).mean()),
            "vs_teacher_se": _se(c - teacher),
            "timing_risk_bps": float(c.std(ddof=1)),
            "teacher_risk_bps": float(teacher.std(ddof=1)),
        }
        for name, c in zip(names, costs, strict=True)
    ]


def print_played(played: list[dict[str, Any]], seconds: float) -> None:
    print(f"played in full on {played[0]['episodes']} fresh validation episodes ({seconds:.0f} s):")
    for row in played:
        print(
            f"  {row['played']:24s} IS {row['is_bps']:.3f} bp, vs teacher "
            f"{row['vs_teacher_bps']:+.3f} [{row['vs_teacher_se']:.3f}], timing risk "
            f"{row['timing_risk_bps']:.2f} (teacher {row['teacher_risk_bps']:.2f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", help="a candidate from rlexec train (its fold, table, teacher)")
    ap.add_argument("--train", type=int, default=1600, help="training episodes (one sample each)")
    ap.add_argument("--val", type=int, default=800, help="validation episodes")
    ap.add_argument("--hold", type=int, default=1, help="decisions each changed action is kept")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--play",
        type=int,
        default=400,
        help="fresh validation episodes the ridge choosers and the teacher play "
        "in full (hold 1 only; 0: none)",
    )
    ap.add_argument(
        "--samples",
        type=Path,
        help="a folder for the raw samples: read from it when it has them (the analysis "
        "again without sampling), else written there",
    )
    args = ap.parse_args()
    if args.train < 50 or args.val < 50 or args.hold < 1 or args.workers < 1:
        ap.error("--train and --val need at least 50 samples, --hold and --workers at least 1")
    configure(level="ERROR")
    art = load_artifact(args.artifact)
    names = [c.name for c in art.action_spec.choices]
    t0 = time.time()
    parts = {"train": (args.seed, args.train), "val": (args.seed + 1, args.val)}
    data: dict[str, dict[str, npt.NDArray[Any]]] = {}
    for part, (seed, n) in parts.items():
        path = args.samples / f"{part}_hold{args.hold}.npz" if args.samples else None
        if path is not None and path.exists():
            data[part] = load(path)
            continue
        data[part] = _stack(
            sample(args.artifact, part, episode_seeds(seed, n), args.hold, args.workers)
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save(path, data[part])
    train, val = data["train"], data["val"]
    sampled_s = time.time() - t0
    keep = val["adv"].shape[1] - 1
    rows = [_chooser_row("teacher", np.full(len(val["teacher"]), keep), val)]
    rows.append(_chooser_row("hindsight best", val["adv"].argmin(1), val))
    r2: dict[str, float] = {}
    clip = _clip(train)
    fitted = {kind: _fit(train, kind, clip) for kind in ("ridge", "trees")}
    for kind, models in fitted.items():
        pred = _predict(models, val["x"])
        r2[kind] = _r2(pred, val, clip)
        for margin in MARGINS:
            choice = np.where(pred.min(1) < -margin, pred.argmin(1), keep)
            rows.append(_chooser_row(f"{kind}, margin {margin:g}", choice, val))
    with torch.inference_mode():
        own = art.net(torch.from_numpy(val["x"].astype(np.float32))).argmax(-1).numpy()
    rows.append(_chooser_row("the candidate", own, val))
    per_action = [
        {
            "action": name,
            "val_advantage_bps": float(val["adv"][:, a].mean()),
            "val_advantage_se": _se(val["adv"][:, a]),
            "train_advantage_bps": float(train["adv"][:, a].mean()),
            "train_advantage_se": _se(train["adv"][:, a]),
            "val_share_unchanged": float(np.mean(np.abs(val["adv"][:, a]) < 1e-9)),
        }
        for a, name in enumerate(names)
    ]
    print(
        f"{art.manifest['data']['fold']['name']} fold, teacher "
        f"{art.manifest['training']['imitation'].get('teacher', 'passive_catchup')}; "
        f"{len(train['teacher'])} training and {len(val['teacher'])} validation samples, "
        f"hold {args.hold}, "
        f"{sampled_s:.0f} s; decisions per validation episode "
        f"{val['decisions'].mean():.0f}; out-of-sample R^2 ridge {r2['ridge']:.3f}, "
        f"trees {r2['trees']:.3f}"
    )
    print("each action's mean advantage over the teacher, bps per changed decision [se]:")
    for row in per_action:
        print(
            f"  {row['action']:15s} val {row['val_advantage_bps']:+.3f} "
            f"[{row['val_advantage_se']:.3f}]  train {row['train_advantage_bps']:+.3f} "
            f"[{row['train_advantage_se']:.3f}]"
        )
    played: list[dict[str, Any]] = []
    if args.hold == 1 and args.play > 1:
        t1 = time.time()
        choosers = {f"ridge, margin {m:g}": (fitted["ridge"], m) for m in MARGINS}
        played = play(
            args.artifact, choosers, episode_seeds(args.seed + 2, args.play), args.workers
        )
        print_played(played, time.time() - t1)
    fold_name = art.manifest["data"]["fold"]["name"]
    stem = f"teacher_room_bench_{fold_name}" + (f"_hold{args.hold}" if args.hold > 1 else "")
    report(
        stem,
        rows,
        {
            "artifact": str(args.artifact),
            "digest": art.digest,
            "fold": art.manifest["data"]["fold"]["name"],
            "train_samples": len(train["teacher"]),
            "val_samples": len(val["teacher"]),
            "hold": args.hold,
            "seed": args.seed,
            "sampling_s": sampled_s,
            "decisions_per_episode": float(val["decisions"].mean()),
            "r2_out_of_sample": r2,
            "per_action": per_action,
            "played": played,
        },
    )


if __name__ == "__main__":
    main()

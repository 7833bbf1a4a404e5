"""How far a data set's features drift from the training set's: the population
stability index (PSI) per feature, and the share of rows inside the training range.

A policy is only as good as its features are familiar: a network fed values it never
saw in training extrapolates, which is how a spread measured in ticks sent the first
policy waiting on a ticker whose spreads were twice as many ticks (issue 15). This
module measures it. Rows come from the environment itself, explored the same way the
normaliser's rows are (a random policy and the TWAP tactic in turn), so they are the
feature values a policy really meets, resting children and queue estimates included.

PSI over the training set's deciles: ``sum((p - q) * ln(p / q))`` with ``q`` the
training share of a bin and ``p`` the other set's (each at least 1e-4). The usual
reading: below 0.1 no real shift, 0.1-0.25 a moderate one, above 0.25 a shift to act
on. A feature with few distinct values (``has_resting``) gets one bin per value.
"Inside the range seen in training" is tested as the share of values the training
normaliser passes unclipped (within 5 training standard deviations of the training
mean): what the network's inputs were trained over; a value beyond it reaches the
network clipped, its information lost.

``python -m policies.feature_shift`` prints the table for both feature sets on the
shipped data and synthetic regimes and writes ``bench/results/feature_shift.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from policies.data import AnySource, Source
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.features import CLIP, FeatureSpec

F64 = npt.NDArray[np.float64]
BINS = 10
FLOOR = 1e-4
MODERATE, SIGNIFICANT = 0.1, 0.25


def feature_rows(
    sources: Sequence[AnySource],
    fspec: FeatureSpec,
    *,
    episodes: int,
    seed: int,
    config: EnvConfig | None = None,
) -> F64:
    """Raw feature rows of ``episodes`` seeded episodes on ``sources``, played alternately
    by a random policy and the TWAP tactic (what the normaliser is fitted on)."""
    from policies.baselines import RandomPolicy, ScheduleTactic, TwapSchedule
    from policies.protocol import Policy

    env = ExecutionEnv(sources, feature_spec=fspec, config=config)
    rows: list[np.ndarray] = []
    policies: list[Policy] = [RandomPolicy(seed=seed), ScheduleTactic(TwapSchedule())]
    try:
        for k, s in enumerate(episode_seeds(seed + 101, episodes)):
            pol = policies[k % 2]
            env.reset(seed=s)
            pol.reset(env.observation.ctx, seed=s)
            done = False
            while not done:
                rows.append(env.raw_features())
                _, _, term, trunc, _ = env.step_action(pol.act(env.observation))
                done = term or trunc
    finally:
        env.close()
    return np.stack(rows).astype(np.float64)


def _edges(ref: F64, bins: int) -> F64:
    values = np.unique(ref)
    if values.size <= bins:  # a discrete feature: one bin per value (edges between them)
        return (values[1:] + values[:-1]) / 2
    inner = np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(inner)


def psi(reference: F64, sample: F64, bins: int = BINS) -> float:
    """Population stability index of ``sample`` against ``reference`` (one feature)."""
    edges = _edges(reference, bins)
    q = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    p = np.bincount(np.searchsorted(edges, sample, side="right"), minlength=edges.size + 1)
    qf = np.maximum(q / q.sum(), FLOOR)
    pf = np.maximum(p / p.sum(), FLOOR)
    return float(np.sum((pf - qf) * np.log(pf / qf)))


def inside_share(reference: F64, sample: F64) -> float:
    """Share of ``sample`` inside the reference sample's own range (min to max): depends
    on how many reference rows were drawn, so it is reported, not tested."""
    lo, hi = float(reference.min()), float(reference.max())
    return float(np.mean((sample >= lo) & (sample <= hi)))


def unclipped_share(reference: F64, sample: F64, clip: float = CLIP) -> float:
    """Share of ``sample`` the training normaliser passes unclipped (within ``clip``
    reference standard deviations of the reference mean): the range the network's
    inputs were trained over. A constant reference feature has standard deviation 1,
    as in :meth:`Normaliser.fit`."""
    mean = float(reference.mean())
    std = float(reference.std())
    std = std if std >= 1e-6 else 1.0
    return float(np.mean(np.abs(sample - mean) <= clip * std))


def shift_table(
    names: Sequence[str], reference: F64, groups: Mapping[str, F64]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{group: {feature: {"psi", "inside", "unclipped"}}}`` against ``reference`` rows."""
    return {
        g: {
            n: {
                "psi": psi(reference[:, i], rows[:, i]),
                "inside": inside_share(reference[:, i], rows[:, i]),
                "unclipped": unclipped_share(reference[:, i], rows[:, i]),
            }
            for i, n in enumerate(names)
        }
        for g, rows in groups.items()
    }


def format_table(
    names: Sequence[str], table: Mapping[str, Mapping[str, Mapping[str, float]]]
) -> str:
    groups = list(table)
    head = "| feature | " + " | ".join(groups) + " |"
    lines = [head, "|---" * (len(groups) + 1) + "|"]
    for n in names:
        cells = []
        for g in groups:
            v = table[g][n]["psi"]
            mark = " **" if v > SIGNIFICANT else (" *" if v > MODERATE else "")
            cells.append(f"{v:.3f}{mark}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def shipped_groups(
    fspec: FeatureSpec, episodes: int, seed: int, fold_name: str = "time-forward"
) -> tuple[F64, dict[str, F64], dict[str, str]]:
    """Reference: a fold's training split (recorded and synthetic). Groups: every recorded
    source of its validation and test splits (other hours, another book depth, another
    ticker), and each synthetic regime calibrated on its training windows, the calm one
    (not trained on) included."""
    from policies.data import FOLDS, calibrated_synthetic

    f = FOLDS[fold_name]
    split = f.split()
    reference = feature_rows(split.train, fspec, episodes=episodes * 2, seed=seed)
    groups: dict[str, F64] = {}
    what: dict[str, str] = {}
    for src in [*split.val, *split.test]:
        key = f"{src.name}@{','.join(src.describe()['windows'])}"
        groups[key] = feature_rows([src], fspec, episodes=episodes, seed=seed + 1)
        what[key] = "recorded, held out"
    recorded = [s for s in split.train if isinstance(s, Source)]
    for src in recorded:
        for regime in ("calm", *f.synthetic):
            syn = calibrated_synthetic(src, regime)
            if syn.name in groups:
                continue
            groups[syn.name] = feature_rows([syn], fspec, episodes=episodes, seed=seed + 2)
            what[syn.name] = "synthetic" + (" (not in training)" if regime == "calm" else "")
    return reference, groups, what


def main(argv: list[str] | None = None) -> int:
    from core.log import configure

    ap = argparse.ArgumentParser(
        prog="python -m policies.feature_shift",
        description="Population stability of each feature across tickers, hours and regimes.",
    )
    ap.add_argument("--episodes", type=int, default=24, help="episodes per group")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument(
        "--folds",
        nargs="+",
        default=["time-forward", "loto-AAPL"],
        help="reference training splits",
    )
    ap.add_argument("--out", default="bench/results/feature_shift.json")
    args = ap.parse_args(argv)
    configure(level="ERROR")
    t0 = time.process_time()
    doc: dict[str, Any] = {"episodes_per_group": args.episodes, "seed": args.seed, "sets": {}}
    for fold_name, version in product(args.folds, (1, 2)):
        fspec = FeatureSpec.of_version(version)
        ref, groups, what = shipped_groups(fspec, args.episodes, args.seed, fold_name)
        table = shift_table(fspec.names, ref, groups)
        print(f"\nfeature set v{version}: PSI against the {fold_name} fold's training split")
        print(format_table(fspec.names, table))
        doc["sets"][f"{fold_name} v{version}"] = {
            "reference": f"{fold_name} fold, training split (recorded + synthetic)",
            "reference_rows": int(ref.shape[0]),
            "groups": {g: {"what": what[g], "rows": int(groups[g].shape[0])} for g in groups},
            "psi": {g: {n: round(v["psi"], 4) for n, v in t.items()} for g, t in table.items()},
            "inside": {
                g: {n: round(v["inside"], 4) for n, v in t.items()} for g, t in table.items()
            },
            "unclipped": {
                g: {n: round(v["unclipped"], 4) for n, v in t.items()} for g, t in table.items()
            },
            "max_psi": {
                g: max(t.items(), key=lambda kv: kv[1]["psi"])[0] for g, t in table.items()
            },
        }
    doc["cpu_s"] = round(time.process_time() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

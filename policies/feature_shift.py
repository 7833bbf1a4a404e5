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

``python -m policies.feature_shift`` prints the table for both feature sets on the
shipped data and synthetic regimes and writes ``bench/results/feature_shift.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from policies.data import AnySource, Source
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.features import FeatureSpec

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
    """Share of ``sample`` inside the reference's range (what training saw)."""
    lo, hi = float(reference.min()), float(reference.max())
    return float(np.mean((sample >= lo) & (sample <= hi)))


def shift_table(
    names: Sequence[str], reference: F64, groups: Mapping[str, F64]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{group: {feature: {"psi": .., "inside": ..}}}`` against ``reference`` rows."""
    return {
        g: {
            n: {
                "psi": psi(reference[:, i], rows[:, i]),
                "inside": inside_share(reference[:, i], rows[:, i]),
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


def _shipped_groups(
    fspec: FeatureSpec, episodes: int, seed: int
) -> tuple[F64, dict[str, F64], dict[str, str]]:
    """Reference: the time-forward fold's training split. Groups: every shipped ticker
    outside those hours, and each synthetic regime calibrated on the training hours."""
    from policies.data import FOLDS, calibrated_synthetic

    f = FOLDS["time-forward"]
    split = f.split()
    reference = feature_rows(split.train, fspec, episodes=episodes * 2, seed=seed)
    groups: dict[str, F64] = {}
    what: dict[str, str] = {}
    for src in [*split.val, *split.test]:
        key = f"{src.name}@{src.describe()['windows'][0]}"
        groups[key] = feature_rows([src], fspec, episodes=episodes, seed=seed + 1)
        what[key] = "recorded, held out"
    recorded = [s for s in split.train if isinstance(s, Source)]
    for src in recorded:
        for regime in ("calm", *f.synthetic):
            syn = calibrated_synthetic(src, regime)
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
    ap.add_argument("--out", default="bench/results/feature_shift.json")
    args = ap.parse_args(argv)
    configure(level="ERROR")
    t0 = time.process_time()
    doc: dict[str, Any] = {"episodes_per_group": args.episodes, "seed": args.seed, "sets": {}}
    for version in (1, 2):
        fspec = FeatureSpec.of_version(version)
        ref, groups, what = _shipped_groups(fspec, args.episodes, args.seed)
        table = shift_table(fspec.names, ref, groups)
        print(f"\nfeature set v{version}: PSI against the time-forward training split")
        print(format_table(fspec.names, table))
        doc["sets"][f"v{version}"] = {
            "reference": "time-forward fold, training split (recorded + synthetic)",
            "reference_rows": int(ref.shape[0]),
            "groups": {g: {"what": what[g], "rows": int(groups[g].shape[0])} for g in groups},
            "psi": {g: {n: round(v["psi"], 4) for n, v in t.items()} for g, t in table.items()},
            "inside": {
                g: {n: round(v["inside"], 4) for n, v in t.items()} for g, t in table.items()
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

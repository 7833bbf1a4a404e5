"""From per-order outcomes to the report's tables: one JSON-ready summary.

Per data group, the same statistics are computed for the whole group and for each
*cell* (bucket) of it: time of day of the order's start (open, midday, close), order
size (thirds of the group's orders by size relative to the window's volume) and the
market the order arrived into (thirds by quoted spread, by volatility, by touch depth,
over the five minutes before it). Each cell row holds, per policy: the winsorised mean
shortfall with its bootstrap interval, raw mean, median, standard error, timing risk
(the standard deviation of shortfall across orders) with its interval, the spread /
impact / timing split, fill rate, sweep share, participation, child orders, cancels,
replaces; and paired differences against TWAP, against the cheapest other policy in
that cell and, for learned policies (and everyone in the group-wide and time-of-day
cells), against every other policy.

``worse_in`` lists every cell where a policy that is cheaper than another over the
whole group (interval of the difference below zero) is dearer than it, so an average
cannot hide a bucket where it loses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from policies.backtest.metrics import OrderOutcome
from policies.backtest.orders import TOD_BUCKETS, ParentSpec, hhmm
from policies.backtest.statistics import (
    F64,
    WINSOR,
    Estimate,
    cell_rng,
    mean_and_std_ci,
    mean_ci,
    resample,
    tercile_labels,
    winsorise,
)
from policies.data import CLOSE_S, OPEN_S

COUNTS = ("fill_rate", "sweep_share", "participation", "child_orders", "cancels", "replaces")
SPLIT = (("spread", "spread_bps"), ("impact", "impact_bps"), ("timing", "timing_bps"))
REGIMES = (
    ("size", "size_frac", ("small", "medium", "large")),
    ("spread", "spread_ticks", ("tight", "normal", "wide")),
    ("volatility", "volatility_bps", ("calm", "normal", "volatile")),
    ("depth", "depth", ("thin", "normal", "deep")),
)
# Cells in which every policy is compared with every other (what the promotion gate reads).
FULL_PAIRS = ("all", "tod")


@dataclass(slots=True)
class GroupData:
    """One group's orders and, per policy, each order's outcome (aligned with ``orders``)."""

    key: str
    meta: dict[str, Any]
    orders: list[ParentSpec]
    outcomes: dict[str, list[OrderOutcome]] = field(default_factory=dict)

    def column(self, policy: str, metric: str) -> F64:
        return np.asarray([getattr(o, metric) for o in self.outcomes[policy]], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Cell:
    name: str  # "all", "tod:open", "size:small", ...
    kind: str
    label: str
    range: str
    mask: npt.NDArray[np.bool_]


def cells_of(orders: Sequence[ParentSpec]) -> list[Cell]:
    n = len(orders)
    out = [Cell("all", "all", "all orders", "", np.ones(n, dtype=bool))]
    tods = np.asarray([o.tod for o in orders])
    for name, lo, hi in TOD_BUCKETS:
        mask = tods == name
        if mask.any():  # shown within the session: the open is 09:30-10:30
            rng = f"{hhmm(max(lo, OPEN_S))}-{hhmm(min(hi, CLOSE_S))}"
            out.append(Cell(f"tod:{name}", "tod", name, rng, mask))
    if n >= 3:
        for kind, attr, names in REGIMES:
            values = np.asarray([getattr(o, attr) for o in orders], dtype=np.float64)
            labels, ranges = tercile_labels(values, names)
            arr = np.asarray(labels)
            for label, text in zip(names, ranges, strict=True):
                mask = arr == label
                if mask.any():
                    out.append(Cell(f"{kind}:{label}", kind, label, text, mask))
    return out


@dataclass(frozen=True, slots=True)
class Comparison:
    """Who is compared, and how: the policies in table order, the reference (TWAP), the
    learned ones (compared with everyone in every cell), the bootstrap's settings."""

    policies: tuple[str, ...]
    reference: str
    learned: frozenset[str]
    seed: int
    draws: int
    level: float

    def against(self, policy: str, cell: Cell) -> list[str]:
        """Who ``policy`` is compared with in every case, beyond TWAP and its best rival."""
        if cell.kind in FULL_PAIRS or policy in self.learned:
            return [q for q in self.policies if q != policy]
        return []


def summarise_cell(g: GroupData, cell: Cell, cmp: Comparison) -> dict[str, Any]:
    policies, reference, level = cmp.policies, cmp.reference, cmp.level
    m = cell.mask
    n = int(m.sum())
    idx = resample(n, cmp.draws, cell_rng(cmp.seed, g.key, cell.name))
    cost = {p: g.column(p, "is_bps")[m] for p in policies}
    stats = {p: mean_and_std_ci(cost[p], idx, level) for p in policies}
    pairs: dict[tuple[str, str], dict[str, Any]] = {}

    def pair(p: str, q: str) -> dict[str, Any]:
        """p - q on the same orders; q - p is its mirror image, computed once."""
        if (q, p) in pairs:
            other = pairs[(q, p)]
            est = Estimate(*other["diff"]).negated()
            return {
                "diff": est.to_json(),
                "p_beat": 1 - other["p_beat"] - other["ties"],
                "ties": other["ties"],
            }
        d = cost[p] - cost[q]
        pairs[(p, q)] = {
            "diff": mean_ci(d, idx, level).to_json(),
            "p_beat": float(np.mean(d < 0)),
            "ties": float(np.mean(d == 0)),
        }
        return pairs[(p, q)]

    rows: dict[str, Any] = {}
    for p in policies:
        x = cost[p]
        mean, risk = stats[p]
        others = [q for q in policies if q != p]
        best = min(others, key=lambda q: stats[q][0].value) if others else None
        row: dict[str, Any] = {
            "n": n,
            "mean": mean.to_json(),
            "raw_mean": float(x.mean()),
            "median": float(np.median(x)),
            "se": float(winsorise(x).std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
            "timing_risk": risk.to_json(),
            "best_other": best,
        }
        for name, attr in SPLIT:
            row[name] = float(g.column(p, attr)[m].mean())
        for attr in COUNTS:
            row[attr] = float(g.column(p, attr)[m].mean())
        against = {q for q in (reference, best) if q is not None and q != p and q in cost}
        against.update(cmp.against(p, cell))
        row["vs"] = {q: pair(p, q) for q in policies if q in against}
        rows[p] = row
    return {"kind": cell.kind, "label": cell.label, "range": cell.range, "n": n, "rows": rows}


def worse_in(cells: dict[str, Any], cmp: Comparison) -> list[dict[str, Any]]:
    """Cells where a policy established as cheaper than another over the whole group (the
    interval of the difference below zero) is dearer than it; the clearest first."""
    overall = cells["all"]["rows"]
    out = []
    for p in cmp.policies:
        targets = [q for q in cmp.policies if q != p and (q == cmp.reference or p in cmp.learned)]
        for q in targets:
            whole = overall[p]["vs"].get(q)
            if whole is None or whole["diff"][2] >= 0:
                continue  # not established as cheaper over the group
            for name, cell in cells.items():
                if name == "all":
                    continue
                here = cell["rows"][p]["vs"].get(q)
                if here is not None and here["diff"][0] > 0:
                    out.append(
                        {
                            "policy": p,
                            "against": q,
                            "overall": whole["diff"],
                            "cell": name,
                            "n": cell["n"],
                            "diff": here["diff"],
                            "significant": here["diff"][1] > 0,
                        }
                    )
    out.sort(key=lambda w: (not w["significant"], -w["diff"][0]))
    return out


def summarise_group(g: GroupData, cmp: Comparison) -> dict[str, Any]:
    cells = {
        cell.name: summarise_cell(g, cell, cmp)
        for cell in cells_of(g.orders)
        if int(cell.mask.sum()) >= 2
    }
    return {
        "key": g.key,
        "meta": g.meta,
        "orders": len(g.orders),
        "cells": cells,
        "worse_in": worse_in(cells, cmp),
    }


def summarise(
    groups: Sequence[GroupData],
    kinds: dict[str, str],
    *,
    reference: str,
    seed: int,
    draws: int,
    level: float,
) -> dict[str, Any]:
    """The statistics of every group; ``kinds``: policy name -> "rl" or its baseline name,
    in table order."""
    cmp = Comparison(
        tuple(kinds),
        reference,
        frozenset(p for p, k in kinds.items() if k == "rl"),
        seed,
        draws,
        level,
    )
    return {
        "reference": reference,
        "policies": [{"name": p, "kind": k} for p, k in kinds.items()],
        "statistics": {
            "winsorised": list(WINSOR),
            "bootstrap_draws": draws,
            "level": level,
            "interval": "percentile bootstrap over orders, the same resamples for every "
            "policy, each resample winsorised at its own percentiles",
            "seed": seed,
        },
        "groups": {g.key: summarise_group(g, cmp) for g in groups},
    }

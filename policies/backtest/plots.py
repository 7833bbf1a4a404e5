"""The report's figures (matplotlib, drawn off-screen to PNG files).

One file per question, each with a panel per data group where that makes sense:

* ``inventory.png``: the share of the parent left over the horizon, mean per policy
  (what the schedule actually did, end-of-horizon sweep excluded);
* ``is_distribution.png``: each policy's shortfall across orders (box: quartiles,
  whiskers: 5th-95th percentile, dot: winsorised mean);
* ``is_vs_size.png``: mean shortfall per fifth of the orders by size;
* ``cost_by_regime.png``: winsorised mean shortfall per third of the orders by size,
  spread, volatility and touch depth;
* ``cost_by_time_of_day.png``: winsorised mean shortfall per time-of-day bucket with
  its bootstrap interval;
* ``cost_split.png``: spread, impact and timing cost per policy (raw means, which add
  up to the raw mean shortfall);
* ``vs_twap_by_bucket.png``: each policy's paired difference against TWAP in every
  bucket, with its interval (the market's drift cancels here, unlike in the costs);
* ``action_mix_<policy>.png``: how often a learned policy chose each action, per fifth
  of the horizon, over every group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from policies.backtest.errors import MissingDependency
from policies.backtest.summary import REGIMES, GroupData


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependency(
            "the backtest report draws with matplotlib: pip install 'rlexec[report]' "
            "(or pass --no-plots)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class Figures:
    """Draws each figure of one report into ``out``."""

    def __init__(
        self,
        groups: Sequence[GroupData],
        policies: Sequence[str],
        summary: dict[str, Any],
        out: Path,
    ) -> None:
        self.plt = pyplot()
        self.groups = list(groups)
        self.policies = list(policies)
        self.summary = summary
        self.out = out

    def _cells(self, g: GroupData) -> dict[str, Any]:
        cells: dict[str, Any] = self.summary["groups"][g.key]["cells"]
        return cells

    def _grid(self, width: float = 5.0, height: float = 3.6) -> tuple[Any, list[Any]]:
        """One panel per group, up to three a row."""
        n = len(self.groups)
        cols = min(3, n)
        rows = math.ceil(n / cols)
        fig, axes = self.plt.subplots(
            rows, cols, figsize=(width * cols, height * rows), squeeze=False
        )
        flat = list(axes.ravel())
        for ax in flat[n:]:
            ax.set_visible(False)
        for ax, g in zip(flat, self.groups, strict=False):
            ax.set_title(g.key, fontsize=9)
        return fig, flat[:n]

    def _save(self, fig: Any, name: str) -> Path:
        path = self.out / name
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        self.plt.close(fig)
        return path

    def _bars(
        self,
        ax: Any,
        labels: Sequence[str],
        values: dict[str, list[float]],
        errs: dict[str, list[tuple[float, float]]] | None = None,
    ) -> None:
        """Grouped bars: one group per label, one bar per policy (with intervals)."""
        policies = self.policies
        width = 0.8 / max(1, len(policies))
        x = np.arange(len(labels))
        for k, p in enumerate(policies):
            yerr = None
            if errs is not None:
                lo = [v - e[0] for v, e in zip(values[p], errs[p], strict=True)]
                hi = [e[1] - v for v, e in zip(values[p], errs[p], strict=True)]
                yerr = [lo, hi]
            offset = (k - (len(policies) - 1) / 2) * width
            ax.bar(x + offset, values[p], width, yerr=yerr, label=p, capsize=2)
        ax.set_xticks(x, labels, fontsize=8)
        ax.axhline(0, color="grey", linewidth=0.8)

    def inventory(self) -> Path:
        fig, axes = self._grid()
        for ax, g in zip(axes, self.groups, strict=True):
            for p in self.policies:
                paths = np.asarray([o.inventory for o in g.outcomes[p]], dtype=np.float64)
                ax.plot(np.linspace(0, 1, paths.shape[1]), paths.mean(axis=0), label=p)
            ax.plot([0, 1], [1, 0], color="grey", linestyle=":", linewidth=1, label="straight line")
            ax.set_xlabel("share of the horizon elapsed")
            ax.set_ylabel("share of the parent left")
            ax.set_ylim(-0.02, 1.02)
        axes[0].legend(fontsize=7)
        return self._save(fig, "inventory.png")

    def is_distribution(self) -> Path:
        n = len(self.policies)
        fig, axes = self._grid(width=max(5.0, 0.8 * n + 2))
        ticks = range(1, n + 1)
        for ax, g in zip(axes, self.groups, strict=True):
            ax.boxplot(
                [g.column(p, "is_bps") for p in self.policies], whis=(5, 95), showfliers=False
            )
            rows = self._cells(g)["all"]["rows"]
            means = [rows[p]["mean"][0] for p in self.policies]
            ax.plot(ticks, means, "o", color="black", markersize=4)
            ax.set_xticks(ticks, self.policies, rotation=30, fontsize=7, ha="right")
            ax.axhline(0, color="grey", linewidth=0.8)
            ax.set_ylabel("shortfall, bps (positive = cost)")
        return self._save(fig, "is_distribution.png")

    def is_vs_size(self) -> Path:
        fig, axes = self._grid()
        for ax, g in zip(axes, self.groups, strict=True):
            size = np.asarray([o.size_frac for o in g.orders]) * 100
            order = np.argsort(size, kind="stable")
            bins = [b for b in np.array_split(order, min(5, len(order))) if len(b)]
            centres = [float(np.median(size[b])) for b in bins]
            for p in self.policies:
                cost = g.column(p, "is_bps")
                ax.plot(centres, [float(cost[b].mean()) for b in bins], marker="o", label=p)
            ax.set_xscale("log")
            ax.set_xlabel("order size, % of the window's volume over the horizon")
            ax.set_ylabel("mean shortfall, bps")
        axes[0].legend(fontsize=7)
        return self._save(fig, "is_vs_size.png")

    def cost_by_regime(self) -> Path:
        kinds = [(kind, names) for kind, _, names in REGIMES]
        fig, axes = self.plt.subplots(
            len(self.groups),
            len(kinds),
            figsize=(4.2 * len(kinds), 3.2 * len(self.groups)),
            squeeze=False,
        )
        for r, g in enumerate(self.groups):
            cells = self._cells(g)
            for c, (kind, names) in enumerate(kinds):
                ax = axes[r][c]
                present = [nm for nm in names if f"{kind}:{nm}" in cells]
                values = {
                    p: [cells[f"{kind}:{nm}"]["rows"][p]["mean"][0] for nm in present]
                    for p in self.policies
                }
                self._bars(ax, present, values)
                ax.set_title(f"{g.key}: by {kind}", fontsize=8)
                if c == 0:
                    ax.set_ylabel("mean shortfall, bps")
        axes[0][0].legend(fontsize=6)
        return self._save(fig, "cost_by_regime.png")

    def cost_by_time_of_day(self) -> Path:
        fig, axes = self._grid()
        for ax, g in zip(axes, self.groups, strict=True):
            cells = self._cells(g)
            names = [n for n in cells if n.startswith("tod:")]
            rows = {p: [cells[n]["rows"][p]["mean"] for n in names] for p in self.policies}
            values = {p: [m[0] for m in ms] for p, ms in rows.items()}
            errs = {p: [(m[1], m[2]) for m in ms] for p, ms in rows.items()}
            self._bars(ax, [cells[n]["label"] for n in names], values, errs)
            ax.set_ylabel("mean shortfall, bps (95 % interval)")
        axes[0].legend(fontsize=7)
        return self._save(fig, "cost_by_time_of_day.png")

    def vs_reference(self) -> Path:
        """Paired difference against TWAP in every bucket, with intervals: where the
        market's drift cancels, so a bucket a policy loses stands out."""
        ref = self.summary["reference"]
        others = [p for p in self.policies if p != ref]
        fig, axes = self.plt.subplots(
            len(self.groups), 1, figsize=(16, 3.4 * len(self.groups)), squeeze=False
        )
        for ax, g in zip(axes[:, 0], self.groups, strict=True):
            cells = self._cells(g)
            names = list(cells)
            diffs = {p: [cells[n]["rows"][p]["vs"][ref]["diff"] for n in names] for p in others}
            width = 0.8 / max(1, len(others))
            x = np.arange(len(names))
            for k, p in enumerate(others):
                d = np.asarray(diffs[p])
                err = [d[:, 0] - d[:, 1], d[:, 2] - d[:, 0]]
                offset = (k - (len(others) - 1) / 2) * width
                ax.bar(x + offset, d[:, 0], width, yerr=err, label=p, capsize=1.5)
            ax.set_xticks(x, names, rotation=35, fontsize=7, ha="right")
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_title(f"{g.key}: paired difference against {ref} (95 % interval)", fontsize=9)
            ax.set_ylabel(f"IS - {ref} IS, bps")
        axes[0][0].legend(fontsize=7, ncol=len(others))
        return self._save(fig, "vs_twap_by_bucket.png")

    def cost_split(self) -> Path:
        policies = self.policies
        fig, axes = self._grid(width=max(5.0, 0.7 * len(policies) + 2))
        colours = {"spread": "tab:blue", "impact": "tab:red", "timing": "tab:grey"}
        x = np.arange(len(policies))
        for ax, g in zip(axes, self.groups, strict=True):
            rows = self._cells(g)["all"]["rows"]
            pos = np.zeros(len(policies))
            neg = np.zeros(len(policies))
            for part, colour in colours.items():
                v = np.asarray([rows[p][part] for p in policies])
                ax.bar(x, v, 0.6, bottom=np.where(v >= 0, pos, neg), color=colour, label=part)
                pos += np.where(v >= 0, v, 0)
                neg += np.where(v < 0, v, 0)
            shortfall = [rows[p]["raw_mean"] for p in policies]
            ax.plot(x, shortfall, "D", color="black", markersize=4, label="shortfall")
            ax.set_xticks(x, policies, rotation=30, fontsize=7, ha="right")
            ax.axhline(0, color="grey", linewidth=0.8)
            ax.set_ylabel("bps of arrival notional")
        axes[0].legend(fontsize=7)
        return self._save(fig, "cost_split.png")

    def action_mix(self, policy: str, names: Sequence[str]) -> Path | None:
        total: np.ndarray | None = None
        for g in self.groups:
            for o in g.outcomes.get(policy, []):
                if o.actions is not None:
                    a = np.asarray(o.actions, dtype=np.float64)
                    total = a if total is None else total + a
        if total is None or total.sum() == 0:
            return None
        share = total / np.maximum(total.sum(axis=1, keepdims=True), 1)
        fig, ax = self.plt.subplots(figsize=(8, 4))
        parts = [f"{20 * k}-{20 * (k + 1)} %" for k in range(share.shape[0])]
        bottom = np.zeros(share.shape[0])
        cmap = self.plt.get_cmap("tab20")
        for j in range(share.shape[1]):
            label = names[j] if j < len(names) else str(j)
            ax.bar(parts, share[:, j], bottom=bottom, label=label, color=cmap(j % 20))
            bottom += share[:, j]
        ax.set_ylabel("share of decisions")
        ax.set_xlabel("part of the horizon")
        ax.set_title(f"{policy}: actions chosen (all groups)", fontsize=9)
        ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
        return self._save(fig, f"action_mix_{_slug(policy)}.png")


def draw_all(
    groups: Sequence[GroupData],
    policies: Sequence[str],
    summary: dict[str, Any],
    out: Path,
    action_names: dict[str, list[str]],
) -> list[Path]:
    """Every figure into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    f = Figures(groups, policies, summary, out)
    files = [
        f.inventory(),
        f.is_distribution(),
        f.is_vs_size(),
        f.cost_by_regime(),
        f.cost_by_time_of_day(),
        f.cost_split(),
    ]
    if summary["reference"] in policies and len(policies) > 1:
        files.append(f.vs_reference())
    for policy, names in action_names.items():
        mix = f.action_mix(policy, names)
        if mix is not None:
            files.append(mix)
    return files


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)

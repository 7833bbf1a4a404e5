"""Policy monitoring, the pure part: is the policy doing what the backtest said it would,
and is it seeing the market it was trained on?

* :class:`ExpectedShortfall`: the backtest's implementation shortfall by order size and
  regime (mean, spread, count per cell), stored with the policy artifact as JSON. A
  cell with too few orders falls back to its size bucket over all regimes, then to all.
* :class:`ShortfallMonitor`: each finished parent's live shortfall against its cell, as a
  z-score, and the mean z over the last ``window`` parents (what an alert watches: one
  bad parent is noise, a run of them is a policy out of its depth).
* :class:`FeatureStats` / :class:`DriftMonitor`: each feature's training distribution in
  ten quantile bins (stored in the artifact), and the population stability index (PSI)
  of the live observations against it, over an exponentially decayed window. The usual
  reading: below 0.1 stable, 0.1-0.25 drifting, above 0.25 a different population.

Plain classes with ``snapshot()`` dicts; the daemon exports them as gauges.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
ALL = "*"
PSI_FLOOR = 1e-4  # a bin's share is never taken as 0 (PSI would be infinite)
PSI_STABLE, PSI_SHIFTED = 0.1, 0.25


class MonitoringError(ValueError):
    """A table or statistics that cannot be used; the message says which part."""


@dataclass(frozen=True, slots=True)
class Cell:
    mean_bps: float
    std_bps: float
    n: int


class ExpectedShortfall:
    """Expected shortfall (bps) by size bucket and regime, from backtest outcomes."""

    def __init__(self, size_edges: Sequence[float], cells: dict[tuple[int, str], Cell], min_n: int) -> None:  # fmt: skip
        if list(size_edges) != sorted(size_edges) or not all(math.isfinite(e) for e in size_edges):
            raise MonitoringError(f"size edges must be finite and ascending, got {list(size_edges)}")  # fmt: skip
        if (-1, ALL) not in cells:
            raise MonitoringError("the table has no overall cell")
        self.size_edges = tuple(float(e) for e in size_edges)
        self.cells = cells
        self.min_n = min_n

    @classmethod
    def fit(cls, outcomes: Iterable[tuple[float, str, float]], size_edges: Sequence[float], *, min_n: int = 20) -> ExpectedShortfall:  # fmt: skip
        """``outcomes``: (order size, regime at arrival, shortfall bps) per backtested
        order. Size is in whatever unit the edges are (e.g. % of expected volume)."""
        groups: dict[tuple[int, str], list[float]] = {}
        edges = [float(e) for e in size_edges]
        for size, regime, is_bps in outcomes:
            if not (math.isfinite(size) and math.isfinite(is_bps)):
                continue
            b = _bucket(edges, size)
            for key in {(b, regime), (b, ALL), (-1, ALL)}:
                groups.setdefault(key, []).append(is_bps)
        if not groups:
            raise MonitoringError("no finite backtest outcome to build the table from")
        cells = {k: Cell(float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v))
                 for k, v in groups.items()}  # fmt: skip
        return cls(edges, cells, min_n)

    def expected(self, size: float, regime: str | None) -> tuple[Cell, str]:
        """The cell for an order, and which one it is (``"size 2/calm"``, a fallback)."""
        b = _bucket(list(self.size_edges), size) if math.isfinite(size) else -1
        for key in ((b, regime or ALL), (b, ALL), (-1, ALL)):
            cell = self.cells.get(key)
            if cell is not None and (cell.n >= self.min_n or key == (-1, ALL)):
                return cell, f"size {key[0]}/{key[1]}" if key[0] >= 0 else "all"
        raise AssertionError("unreachable: the overall cell always exists")

    def to_json(self) -> dict[str, Any]:
        return {"size_edges": list(self.size_edges), "min_n": self.min_n, "version": 1,
                "cells": [{"size": b, "regime": r, "mean_bps": c.mean_bps, "std_bps": c.std_bps, "n": c.n}
                          for (b, r), c in sorted(self.cells.items())]}  # fmt: skip

    @classmethod
    def from_json(cls, body: object) -> ExpectedShortfall:
        try:
            assert isinstance(body, dict) and body["version"] == 1
            cells = {(int(c["size"]), str(c["regime"])): Cell(float(c["mean_bps"]), float(c["std_bps"]), int(c["n"]))
                     for c in body["cells"]}  # fmt: skip
            return cls([float(e) for e in body["size_edges"]], cells, int(body["min_n"]))
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            raise MonitoringError(f"expected-shortfall table unreadable: {exc!r}") from None


def _bucket(edges: list[float], size: float) -> int:
    return int(np.searchsorted(edges, size, side="right"))


class ShortfallMonitor:
    """Live shortfall per finished parent against what the backtest expects."""

    def __init__(self, table: ExpectedShortfall, window: int = 20) -> None:
        self.table = table
        self._z: deque[float] = deque(maxlen=window)
        self.parents = 0
        self.last: dict[str, Any] = {}

    def observe(self, size: float, regime: str | None, is_bps: float) -> float:
        """One finished parent; its z-score (NaN if the shortfall is not a number)."""
        cell, which = self.table.expected(size, regime)
        if not math.isfinite(is_bps):
            return math.nan
        z = (is_bps - cell.mean_bps) / max(cell.std_bps, 1e-9)
        self._z.append(z)
        self.parents += 1
        self.last = {"is_bps": is_bps, "expected_bps": cell.mean_bps, "z": z, "cell": which}
        return z

    @property
    def mean_z(self) -> float:
        """Mean z over the window (0 before any parent). Under the backtest's
        distribution its spread is ~1/sqrt(window)."""
        return float(np.mean(self._z)) if self._z else 0.0

    def snapshot(self) -> dict[str, Any]:
        return {"parents": self.parents, "window": len(self._z), "mean_z": self.mean_z, **self.last}


@dataclass(frozen=True, slots=True)
class FeatureStats:
    """Per feature: the inner quantile edges of its training distribution (ten bins)."""

    names: tuple[str, ...]
    edges: F64  # [n_features, n_bins - 1]
    shares: F64  # [n_features, n_bins] training share per bin

    @classmethod
    def fit(cls, x: F64, names: Sequence[str], bins: int = 10) -> FeatureStats:
        if x.ndim != 2 or x.shape[1] != len(names) or x.shape[0] < bins * 10:
            raise MonitoringError(f"need [>= {bins * 10}, {len(names)}] training rows, got {x.shape}")  # fmt: skip
        qs = np.linspace(0, 1, bins + 1)[1:-1]
        edges = np.quantile(x, qs, axis=0).T
        shares = np.stack([_shares(edges[j], x[:, j]) for j in range(x.shape[1])])
        return cls(tuple(names), edges, shares)

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "edges": self.edges.tolist(), "shares": self.shares.tolist(), "version": 1}  # fmt: skip

    @classmethod
    def from_json(cls, body: object) -> FeatureStats:
        try:
            assert isinstance(body, dict) and body["version"] == 1
            names = tuple(str(n) for n in body["names"])
            edges = np.asarray(body["edges"], dtype=np.float64)
            shares = np.asarray(body["shares"], dtype=np.float64)
            assert edges.shape == (len(names), shares.shape[1] - 1) and shares.shape[0] == len(
                names
            )
            assert np.isfinite(edges).all() and np.isfinite(shares).all()
            assert np.allclose(shares.sum(axis=1), 1.0)
        except (AssertionError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise MonitoringError(f"feature statistics unreadable: {exc!r}") from None
        return cls(names, edges, shares)


def _shares(edges: F64, values: F64) -> F64:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.shape[0] + 1)
    out: F64 = counts / max(values.shape[0], 1)
    return out


def psi(expected: F64, actual: F64) -> F64:
    """Population stability index per row: sum over bins of (a - e) ln(a / e)."""
    e = np.maximum(expected, PSI_FLOOR)
    a = np.maximum(actual, PSI_FLOOR)
    out: F64 = ((a - e) * np.log(a / e)).sum(axis=-1)
    return out


class DriftMonitor:
    """Live observations binned on the training edges, counts decayed per observation
    (half-life ``half_life`` observations), PSI per feature on demand."""

    def __init__(self, stats: FeatureStats, half_life: int = 2_000) -> None:
        self.stats = stats
        self._decay = 0.5 ** (1.0 / half_life)
        self._counts = np.zeros_like(stats.shares)
        self._rows = np.arange(len(stats.names))
        self.observations = 0
        self.non_finite = 0

    def observe(self, obs: F64) -> None:
        """One observation vector, in the feature order of the statistics."""
        if obs.shape != (len(self.stats.names),):
            raise MonitoringError(f"observation has shape {obs.shape}, statistics have {len(self.stats.names)} features")  # fmt: skip
        if not np.isfinite(obs).all():
            self.non_finite += 1
            return
        self._counts *= self._decay
        # bin per feature: how many of its edges each value is at or above
        b = (obs[:, None] >= self.stats.edges).sum(axis=1)
        self._counts[self._rows, b] += 1.0
        self.observations += 1

    def psi(self) -> dict[str, float]:
        total = self._counts.sum(axis=1, keepdims=True)
        if self.observations == 0:
            return dict.fromkeys(self.stats.names, 0.0)
        values = psi(self.stats.shares, self._counts / total)
        return dict(zip(self.stats.names, values.tolist(), strict=True))

    def snapshot(self) -> dict[str, Any]:
        p = self.psi()
        worst = max(p, key=lambda k: p[k]) if p else ""
        return {"observations": self.observations, "non_finite": self.non_finite, "psi": p,
                "worst_feature": worst, "worst_psi": p.get(worst, 0.0)}  # fmt: skip

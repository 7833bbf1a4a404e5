"""How good a short-horizon prediction is, out of sample, against the naive ones.

Three measures, the ones a desk asks of an alpha signal:

* **hit rate**: how often the predicted direction is the realised one, over the samples
  where the mid moved (a flat mid has no direction to hit);
* **information coefficient (IC)**: Spearman rank correlation of prediction and
  realised move; scale-free, so models and baselines compare on one footing;
* **calibration**: the realised move regressed on the prediction (slope 1 = the size is
  right, < 1 = over-confident), and the mean realised move per prediction decile.

The baselines: *persistence* (the last horizon's move happens again) and *linear OFI*
(least squares of the move on the fast and slow order-flow imbalance, fitted on the
same training rows as the model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from signals.market import SIGNAL_FEATURES

F64 = npt.NDArray[np.float64]
OFI_COLUMNS = (SIGNAL_FEATURES.index("ofi_fast"), SIGNAL_FEATURES.index("ofi_slow"))
DECILES = 10


@dataclass(frozen=True, slots=True)
class Scores:
    n: int
    hit_rate: float
    ic: float
    calibration_slope: float
    decile_pred: list[float | None]  # None: a decile left empty by ties
    decile_realised: list[float | None]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def spearman(a: F64, b: F64) -> float:
    """Rank correlation (average ranks for ties); 0.0 when either side is constant."""
    ra, rb = _ranks(a), _ranks(b)
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(((ra - ra.mean()) * (rb - rb.mean())).mean() / (sa * sb))


def _ranks(a: F64) -> F64:
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    ranks = np.empty(a.shape[0])
    # average rank within runs of equal values
    edges = np.flatnonzero(np.diff(sorted_a)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [a.shape[0]]])
    avg = (starts + ends - 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def score(pred: F64, realised: F64) -> Scores:
    """All measures of ``pred`` against ``realised`` (rows with a NaN on either side drop)."""
    ok = np.isfinite(pred) & np.isfinite(realised)
    p, r = pred[ok], realised[ok]
    moved = (r != 0) & (p != 0)
    hit = float((np.sign(p[moved]) == np.sign(r[moved])).mean()) if moved.any() else float("nan")
    var = float(p.var())
    slope = float(((p - p.mean()) * (r - r.mean())).mean() / var) if var > 0 else float("nan")
    # deciles of the prediction (ties may leave a decile short)
    edges = np.quantile(p, np.linspace(0, 1, DECILES + 1)[1:-1])
    bucket = np.searchsorted(edges, p, side="right")
    dp = [float(p[bucket == b].mean()) if (bucket == b).any() else None for b in range(DECILES)]
    dr = [float(r[bucket == b].mean()) if (bucket == b).any() else None for b in range(DECILES)]
    return Scores(int(p.shape[0]), hit, spearman(p, r), slope, dp, dr)


@dataclass(frozen=True, slots=True)
class LinearOfi:
    """The linear-OFI baseline: move = a + b * ofi_fast + c * ofi_slow."""

    coef: F64

    @classmethod
    def fit(cls, x: F64, y: F64) -> LinearOfi:
        design = np.column_stack([np.ones(x.shape[0]), x[:, OFI_COLUMNS]])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        return cls(np.asarray(coef, dtype=np.float64))

    def predict(self, x: F64) -> F64:
        out: F64 = self.coef[0] + x[:, OFI_COLUMNS] @ self.coef[1:]
        return out

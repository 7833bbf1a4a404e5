"""What one parent order cost, and where the cost came from.

Every figure is in basis points of the arrival notional (parent quantity x arrival mid),
signed so that a positive number is a cost, the convention of
:meth:`core.parent.ParentOrder.shortfall_bps`.

Implementation shortfall splits exactly into three parts. For each fill of ``q`` at
price ``p``, with ``m`` the mid of the book the order path last saw before the fill (its
*reference*, taken at time ``t``) and ``m0(t)`` the mid the same replay shows at ``t``
without our orders (the counterfactual):

* spread cost  = side x (p - m): what crossing the spread cost, or resting earned;
* impact cost  = side x (m - m0(t)): how far our own orders had moved the market;
* timing cost  = side x (m0(t) - arrival mid): how far the market moved on its own
  while the order waited.

The three add up to side x (p - arrival mid), the fill's shortfall. A remainder the
book never absorbed is charged as the environment charges it (walking the displayed
book at the end) and split the same way, as one last fill at the final reference.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from core.types import Side

INVENTORY_POINTS = 21  # remaining inventory at 0 %, 5 %, ..., 100 % of the horizon


class Print(NamedTuple):
    """One fill of ours (or one print on the tape): time, quantity, price in ticks, and
    whether it came from the end-of-horizon sweep (our market orders)."""

    ts_ns: int
    qty: int
    price: int
    sweep: bool = False


class BookSample(NamedTuple):
    """The mid of the book the order path saw at ``ts_ns`` (None: one-sided book)."""

    ts_ns: int
    mid: float | None


@dataclass(frozen=True, slots=True)
class CostSplit:
    is_bps: float
    spread_bps: float
    impact_bps: float
    timing_bps: float


def reference_index(times: Sequence[int], ts_ns: int) -> int:
    """Index of the last sample time strictly before ``ts_ns`` (a fill at a sample's own
    time happened before that sample was taken), or 0 when there is none."""
    return max(0, bisect.bisect_left(times, ts_ns) - 1)


def _valid_mids(samples: Sequence[BookSample], fallback: float) -> list[float]:
    """Each sample's mid, a one-sided book carrying the last two-sided mid forward."""
    out: list[float] = []
    last = fallback
    for s in samples:
        if s.mid is not None:
            last = s.mid
        out.append(last)
    return out


def split_shortfall(
    side: Side,
    qty: int,
    arrival_mid: float,
    fills: Sequence[Print],
    *,
    samples: Sequence[BookSample],
    counterfactual_mid: Callable[[int], float],
    is_bps: float,
) -> CostSplit:
    """Split ``is_bps`` (the environment's figure, remainder included) into spread,
    impact and timing cost; see the module docstring for the definitions.

    ``samples`` must be in time order. The part of ``is_bps`` not explained by
    ``fills`` (the charged remainder) is split at the last sample.
    """
    if qty <= 0 or arrival_mid <= 0:
        raise ValueError(f"need a positive quantity and arrival mid, got {qty}, {arrival_mid}")
    if not samples:
        raise ValueError("no book samples: the order path never saw a book")
    sign = side.sign
    mids = _valid_mids(samples, arrival_mid)
    times = [s.ts_ns for s in samples]
    spread = impact = timing = 0.0
    filled = 0
    notional = 0
    for f in fills:
        k = reference_index(times, f.ts_ns)
        m, t = mids[k], samples[k].ts_ns
        m0 = counterfactual_mid(t)
        spread += sign * (f.price - m) * f.qty
        impact += sign * (m - m0) * f.qty
        timing += sign * (m0 - arrival_mid) * f.qty
        filled += f.qty
        notional += f.qty * f.price
    scale = 1e4 / (qty * arrival_mid)
    left = qty - filled
    if left > 0:
        # the environment charged the remainder at an average price p_left:
        # is_bps / scale = sign * (notional - filled * arrival) + sign * left * (p_left - arrival)
        charged = is_bps / scale - sign * (notional - filled * arrival_mid)
        p_left = arrival_mid + sign * charged / left
        m, t = mids[-1], samples[-1].ts_ns
        m0 = counterfactual_mid(t)
        spread += sign * (p_left - m) * left
        impact += sign * (m - m0) * left
        timing += sign * (m0 - arrival_mid) * left
    return CostSplit(is_bps, spread * scale, impact * scale, timing * scale)


def sweep_share(qty: int, fills: Sequence[Print], unfilled: int = 0) -> float:
    """Share of the parent left to the end time: what its market orders took plus the
    ``unfilled`` remainder charged as walking the latent book."""
    return (sum(f.qty for f in fills if f.sweep) + unfilled) / qty


def participation(fills: Sequence[Print], tape: Sequence[Print], start_ns: int) -> float:
    """Our share of everything printed (ours included) from the start to our last fill."""
    if not fills:
        return 0.0
    last = max(f.ts_ns for f in fills)
    ours = sum(f.qty for f in fills)
    market = sum(p.qty for p in tape if start_ns <= p.ts_ns <= last)
    return ours / market if market > 0 else 0.0


def inventory_path(
    qty: int, fills: Sequence[Print], start_ns: int, end_ns: int, points: int = INVENTORY_POINTS
) -> list[float]:
    """Share of the parent still to do at evenly spaced fractions of the horizon."""
    times = sorted((f.ts_ns, f.qty) for f in fills)
    out: list[float] = []
    done = 0
    i = 0
    for k in range(points):
        t = start_ns + (end_ns - start_ns) * k // (points - 1)
        while i < len(times) and times[i][0] <= t:
            done += times[i][1]
            i += 1
        out.append((qty - done) / qty)
    return out


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """Everything the report needs about one (policy, parent order) run; cached as JSON."""

    is_bps: float
    spread_bps: float
    impact_bps: float
    timing_bps: float
    arrival_mid: float
    fill_rate: float  # executed / parent quantity (the remainder the book never took is charged)
    sweep_share: float  # of the parent, left to the end time (swept or charged)
    participation: float
    child_orders: int
    cancels: int
    replaces: int
    denied: int
    inventory: list[float] = field(default_factory=list)  # INVENTORY_POINTS values
    # learned policies: action counts per fifth of the horizon, [5][n_actions]
    actions: list[list[int]] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderOutcome:
        return cls(**data)

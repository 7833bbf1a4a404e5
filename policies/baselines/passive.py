"""Passive at the touch with catch-up crossing: the tactic a desk actually runs.

It follows a schedule (TWAP by default) but works it passively. At each decision:

* everything due by the next decision that has not filled rests at our touch (the
  schedule's next slice *and* whatever is behind), so passive fills can catch up;
* only what is behind the schedule by more than a *tolerance* crosses the spread (IOC at
  the far touch), and only down to the tolerance. The tolerance is a share of the
  parent that shrinks in a straight line to zero at the end time, so the tactic never
  plans on the deadline's completion.

The tolerance is the tactic's aggressiveness: 0 crosses whatever is behind at every
decision, which is exactly the TWAP tactic (:class:`~policies.baselines.tactic.ScheduleTactic`,
tested); larger values wait longer for the market to come to the order. It is tuned on
the training split (:func:`tune_tolerance`: the grid value with the lowest mean
shortfall over paired training episodes) and kept in the policy manifest, so a
backtest runs the yardstick the candidate's own training data chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from policies.baselines.schedules import Schedule, TwapSchedule
from policies.baselines.tactic import ScheduleTactic

if TYPE_CHECKING:
    from policies.data import AnySource
    from policies.env import EnvConfig, EpisodeResult
    from policies.features import FeatureSpec

TOLERANCE_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
DEFAULT_TOLERANCE = 0.05  # used when a manifest carries no tuned value


class PassiveCatchUp(ScheduleTactic):
    """:class:`ScheduleTactic` on a TWAP schedule (or ``schedule``) with a tolerance."""

    def __init__(
        self, tolerance: float = DEFAULT_TOLERANCE, schedule: Schedule | None = None
    ) -> None:
        super().__init__(schedule or TwapSchedule(), tolerance=tolerance)
        self.name = "passive_catchup"

    def to_json(self) -> dict[str, Any]:
        return {"tolerance": self.tolerance, "schedule": self.schedule.name}


def tactic_figures(runs: Sequence[EpisodeResult]) -> dict[str, float]:
    """Mean shortfall, timing risk (its standard deviation) and end-time share of one
    tactic's paired runs: what every tuning grid reports per point, so grids compare."""
    import numpy as np

    costs = np.asarray([r.is_bps for r in runs])
    return {
        "mean_is_bps": float(costs.mean()),
        "timing_risk_bps": float(costs.std(ddof=1)),
        "sweep_share": float(np.mean([r.sweep_share for r in runs])),
    }


def tune_tolerance(
    sources: Sequence[AnySource],
    fspec: FeatureSpec,
    config: EnvConfig,
    *,
    episodes: int,
    seed: int,
    grid: Sequence[float] = TOLERANCE_GRID,
) -> dict[str, Any]:
    """The grid tolerance with the lowest mean shortfall on ``episodes`` paired episodes
    of ``sources`` (a training split); returns it with every grid point's figures."""

    from policies.env import ExecutionEnv, episode_seeds
    from policies.rollout import run_episode

    env = ExecutionEnv(sources, feature_spec=fspec, config=config)
    seeds = episode_seeds(seed + 23, episodes)
    table = []
    try:
        for tol in grid:
            pol = PassiveCatchUp(tol)
            runs = [run_episode(env, pol, seed=s) for s in seeds]
            table.append({"tolerance": tol, **tactic_figures(runs)})
    finally:
        env.close()
    best = min(table, key=lambda row: row["mean_is_bps"])
    return {
        "tolerance": best["tolerance"],
        "chosen_by": f"lowest mean IS over {episodes} training episodes",
        "grid": table,
    }

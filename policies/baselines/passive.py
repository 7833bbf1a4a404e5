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
tested); larger values wait longer for the market to come to the order.

The line it works is its urgency k: 0 is the straight line; a positive k is the shape of
the Almgren-Chriss line at kappa T = k for every parent
(:class:`~policies.baselines.schedules.FrontLoadedSchedule`; k = 2 has 69 % done half
way). Why a second setting: along a straight line every basis point the tolerance saves
is bought with timing risk, because the tactic lags its line on the orders whose market
runs away; along a front-loaded line the same lag leaves less inventory exposed
(``bench/passive_frontier_bench.py``). Why dimensionless: the same k means the same on
every ticker and horizon, and a learned policy that reads only the elapsed and done
shares knows where the line is, so the tactic can be its teacher exactly
(:mod:`policies.imitation`).

Both are tuned on the training split by the rule the promotion gate judges a candidate
by (:func:`tune_passive`): of the grid points no riskier than TWAP on the same paired
episodes, the cheapest. They are kept in the policy manifest
(``baselines.passive_catchup``), so a backtest and the daemon's ``catchup`` algo run
the yardstick the candidate's own training data chose; a manifest from before the
urgency existed means the straight line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from policies.baselines.schedules import FrontLoadedSchedule, Schedule, TwapSchedule
from policies.baselines.tactic import ScheduleTactic
from policies.estimation import checked_urgency

if TYPE_CHECKING:
    from policies.data import AnySource
    from policies.env import EnvConfig, EpisodeResult
    from policies.features import FeatureSpec

TOLERANCE_GRID = (0.0, 0.05, 0.1, 0.2, 0.3)
URGENCY_GRID = (0.0, 1.0, 2.0, 3.0, 5.0)  # kappa T of the line; 0: the straight line
DEFAULT_TOLERANCE = 0.05  # used when a manifest carries no tuned value
STRAIGHT = 0.0  # the urgency of a manifest from before urgency was tuned
# paired training episodes per grid point: the front-loaded lines' paired differences to
# TWAP are two to five times noisier than the straight line's, so 64 picked by noise
TUNE_EPISODES = 128


def catchup_line(urgency: float) -> Schedule:
    """The line the tactic works: straight at urgency 0, else front-loaded."""
    urgency = checked_urgency(urgency, "catchup_line")
    return TwapSchedule() if urgency == 0.0 else FrontLoadedSchedule(urgency)


class PassiveCatchUp(ScheduleTactic):
    """:class:`ScheduleTactic` on a TWAP schedule (or ``schedule``) with a tolerance."""

    def __init__(
        self, tolerance: float = DEFAULT_TOLERANCE, schedule: Schedule | None = None
    ) -> None:
        super().__init__(schedule or TwapSchedule(), tolerance=tolerance)
        self.name = "passive_catchup"

    @property
    def urgency(self) -> float:
        """The kappa T of the line worked (0 for the straight line or any other schedule)."""
        line = self.schedule
        return line.urgency if isinstance(line, FrontLoadedSchedule) else STRAIGHT

    @classmethod
    def along(cls, tolerance: float, urgency: float) -> PassiveCatchUp:
        """The tactic at ``tolerance`` on the line of ``urgency`` (:func:`catchup_line`)."""
        return cls(tolerance, catchup_line(urgency))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> PassiveCatchUp:
        """From a manifest's ``baselines.passive_catchup`` (or a backtest's tuned params):
        no urgency there is the straight line, no tolerance the default."""
        tolerance = float(settings.get("tolerance", DEFAULT_TOLERANCE))
        urgency = checked_urgency(settings.get("urgency", STRAIGHT), "passive_catchup settings")
        return cls.along(tolerance, urgency)

    def to_json(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "urgency": self.urgency,
            "schedule": self.schedule.name,
        }


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


def choose_setting(table: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The gate's rule applied to a tuning grid: of the points no riskier than TWAP (the
    straight line at tolerance 0, which the grid must hold), the cheapest. TWAP itself
    is always eligible, so there is always an answer."""
    twap = next(
        (r for r in table if r["urgency"] == 0.0 and r["tolerance"] == 0.0),
        None,
    )
    if twap is None:
        raise ValueError("a tuning grid must hold the straight line at tolerance 0 (TWAP)")
    eligible = [r for r in table if r["timing_risk_bps"] <= twap["timing_risk_bps"]]
    return min(eligible, key=lambda row: row["mean_is_bps"])


def tune_passive(
    sources: Sequence[AnySource],
    fspec: FeatureSpec,
    config: EnvConfig,
    *,
    episodes: int,
    seed: int,
    tolerances: Sequence[float] = TOLERANCE_GRID,
    urgencies: Sequence[float] = URGENCY_GRID,
) -> dict[str, Any]:
    """The tolerance and urgency :func:`choose_setting` picks over ``episodes`` paired
    episodes of ``sources`` (a training split); returns them with every grid point's
    figures."""

    from policies.env import ExecutionEnv, episode_seeds
    from policies.rollout import run_episode

    env = ExecutionEnv(sources, feature_spec=fspec, config=config)
    seeds = episode_seeds(seed + 23, episodes)
    table = []
    try:
        for urgency in sorted({STRAIGHT, *urgencies}):
            for tol in sorted({0.0, *tolerances}):
                pol = PassiveCatchUp.along(tol, urgency)
                runs = [run_episode(env, pol, seed=s) for s in seeds]
                table.append({"urgency": urgency, "tolerance": tol, **tactic_figures(runs)})
    finally:
        env.close()
    best = choose_setting(table)
    return {
        "tolerance": best["tolerance"],
        "urgency": best["urgency"],
        "chosen_by": f"lowest mean IS no riskier than TWAP over {episodes} training episodes",
        "grid": table,
    }

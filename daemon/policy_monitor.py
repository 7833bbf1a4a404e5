"""Is the policy doing what its backtest said, on the market it was trained on?

Fed by the node: every decision's observation (:meth:`PolicyMonitor.on_decision`) and
every finished ``policy`` parent's shortfall (:meth:`PolicyMonitor.on_parent_done`),
compared against the references stored in the served artifact
(``expected_is.json``, ``feature_stats.json``; policies/artifact.py):

* shortfall: :class:`signals.monitoring.ShortfallMonitor`, one per symbol. A parent's
  size is its quantity over what the market trades in its horizon at the rate seen at
  its first decision (the live stand-in for the backtest's ``size_frac``, which uses the
  window's average rate); its regime is the regime model's label at that decision.
  Only parents that filled something and ran to their end (completed or expired) count:
  an operator's cancel says nothing about the policy;
* drift: one :class:`signals.monitoring.DriftMonitor` over every decision's normalised
  observation (any algo: they share the policy's feature builder); PSI per feature is
  exported by :meth:`export`, on the node's housekeeping cadence, not per decision.

An artifact without a reference is served unmonitored: ``rlexec_policy_monitoring_
reference{kind}`` is 0 and it is logged once per artifact. A hot-swapped artifact
brings its own references (the monitors restart on the new digest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.log import get_logger
from core.parent import ParentOrder, ParentState
from daemon.metrics import Metrics
from policies.artifact import LoadedArtifact
from signals.monitoring import DriftMonitor, MonitoringError, ShortfallMonitor

log = get_logger("rlexec.monitoring")

SHORTFALL_WINDOW = 20  # parents in the mean z (its spread is ~1/sqrt(20) as backtested)


@dataclass(slots=True)
class Arrival:
    """What a parent's shortfall is judged by, fixed at its first decision."""

    size_frac: float
    regime: str | None


class PolicyMonitor:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.digest = ""
        self._artifact: LoadedArtifact | None = None
        self.shortfall: dict[str, ShortfallMonitor] = {}
        self.drift: DriftMonitor | None = None
        self._arrivals: dict[str, Arrival] = {}
        self._non_finite_seen = 0

    def use(self, artifact: LoadedArtifact) -> None:
        """Compare against ``artifact``'s references from now on (a no-op if served)."""
        if artifact.digest == self.digest:
            return
        self.digest = artifact.digest
        self._artifact = artifact
        self.shortfall = {}
        self.drift = DriftMonitor(artifact.feature_stats) if artifact.feature_stats else None
        self._non_finite_seen = 0
        for kind, ref in (("expected_is", artifact.expected_is), ("feature_stats", artifact.feature_stats)):  # fmt: skip
            self.metrics.monitoring_reference.labels(kind).set(1 if ref is not None else 0)
            if ref is None:
                log.warning(
                    "policy_monitoring_no_reference",
                    kind=kind,
                    digest=artifact.digest,
                    path=str(artifact.path),
                    detail="the artifact carries no reference: this part of the policy is not "
                    "monitored (python -m policies.monitoring_reference adds it)",
                )
        self.metrics.feature_psi.clear()

    # ------------------------------------------------------------------ decisions
    def on_decision(
        self, parent: ParentOrder, features: np.ndarray, market_rate: float, regime: str | None
    ) -> None:
        if parent.parent_id not in self._arrivals:
            horizon_s = (parent.end_ns - parent.start_ns) / 1e9
            denom = market_rate * horizon_s
            size = parent.qty / denom if denom > 0 else math.nan
            self._arrivals[parent.parent_id] = Arrival(size, regime)
        if self.drift is None:
            return
        try:
            self.drift.observe(np.asarray(features, dtype=np.float64))
        except MonitoringError as exc:  # a layout the statistics do not describe
            log.error("policy_drift_observation_refused", error=str(exc))
            return
        fresh = self.drift.non_finite - self._non_finite_seen
        if fresh:
            self._non_finite_seen = self.drift.non_finite
            self.metrics.feature_non_finite.inc(fresh)

    def on_parent_done(self, parent: ParentOrder, algo: str) -> None:
        arrival = self._arrivals.pop(parent.parent_id, None)
        art = self._artifact
        if (
            algo != "policy"
            or arrival is None
            or art is None
            or art.expected_is is None
            or parent.filled_qty == 0
            or parent.state not in (ParentState.COMPLETED, ParentState.EXPIRED)
        ):
            return
        mon = self.shortfall.get(parent.symbol)
        if mon is None:
            mon = self.shortfall[parent.symbol] = ShortfallMonitor(
                art.expected_is, SHORTFALL_WINDOW
            )
        is_bps = parent.shortfall_bps()
        z = mon.observe(arrival.size_frac, arrival.regime, is_bps)
        if not math.isfinite(z):
            return
        self.metrics.policy_is_z.labels(parent.symbol).set(z)
        self.metrics.policy_is_mean_z.labels(parent.symbol).set(mon.mean_z)
        log.info(
            "policy_shortfall_judged",
            parent_id=parent.parent_id,
            symbol=parent.symbol,
            size_frac=round(arrival.size_frac, 4),
            regime=arrival.regime,
            is_bps=round(is_bps, 3),
            expected_bps=round(mon.last["expected_bps"], 3),
            cell=mon.last["cell"],
            z=round(z, 3),
            mean_z=round(mon.mean_z, 3),
        )

    def export(self) -> None:
        """PSI per feature into the gauges (the housekeeping cadence calls it)."""
        if self.drift is None or self.drift.observations == 0:
            return
        for name, value in self.drift.psi().items():
            self.metrics.feature_psi.labels(name).set(value)

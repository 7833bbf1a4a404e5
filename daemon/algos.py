"""Which algo a parent runs, and the catch-up setting the ``catchup`` algo needs.

``catchup`` is passive at the touch with catch-up crossing
(:class:`policies.baselines.passive.PassiveCatchUp`): the tactic a desk runs while it
cannot trust the learned policy. It has two settings: the tolerance (a share of the
parent the tactic may fall behind its line before it crosses) and the urgency (the line
it works: 0 the straight line, above 0 a front-loaded line, the Almgren-Chriss shape at
kappa T = urgency; :func:`policies.baselines.passive.catchup_line`). Settings tuned for
one ticker and hour are not a neutral default for another, and the two were tuned
together. So the node resolves them once at start, as a pair, from its own config or
else from the values the loaded artifact's training tuned, and says where they came
from; with neither, ``catchup`` is unavailable and a submit naming it is refused, saying
how to enable it.

Each parent's choice (algo, tolerance and urgency) is journalled before the parent
exists (``parent_algo`` record), so a restarted node resumes it with the same tactic,
whatever its config or loaded artifact say by then; a record from before the urgency
existed resumes on the straight line, which is what its parent ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.control.commands import ALGOS
from policies.baselines.passive import STRAIGHT
from policies.estimation import checked_urgency

CONFIG_KEY = "[execution] catchup_tolerance"
URGENCY_CONFIG_KEY = "[execution] catchup_urgency"
MANIFEST_KEY = "baselines.passive_catchup.tolerance"
URGENCY_MANIFEST_KEY = "baselines.passive_catchup.urgency"
HOW_TO_ENABLE = (
    f"set {CONFIG_KEY} (a share of the parent, 0 <= t < 1; issue 15's gate runs tuned "
    "0.20 on AMZN and AAPL 09:30-12:00, 0.30 on AMZN alone; with it, optionally "
    f"{URGENCY_CONFIG_KEY}, unset or 0 for the straight line) and restart, or start the "
    f"node on an artifact whose manifest carries {MANIFEST_KEY} (what rlexec train writes)"
)


def checked_tolerance(value: Any, where: str) -> float:
    """``value`` as a tolerance (a finite share of the parent, 0 <= t < 1), or
    ValueError naming ``where`` it came from."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: catch-up tolerance must be a number, got {value!r}")
    if not math.isfinite(value) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"{where}: catch-up tolerance must be a share of the parent, 0 <= t < 1, got {value!r}"
        )
    return float(value)


@dataclass(frozen=True, slots=True)
class CatchUpSetting:
    """The node's tolerance and urgency for new ``catchup`` parents (both None:
    unavailable) and where they came from, or why there are none (``source``)."""

    tolerance: float | None
    urgency: float | None
    source: str

    def __post_init__(self) -> None:
        if (self.tolerance is None) != (self.urgency is None):
            raise ValueError(f"catch-up tolerance {self.tolerance!r} with urgency {self.urgency!r}")

    @property
    def available(self) -> bool:
        return self.tolerance is not None

    def require(self) -> AlgoChoice:
        """A new catchup parent's choice, or ValueError (the submit's refusal) saying how
        to enable the algo."""
        if self.tolerance is None or self.urgency is None:
            raise ValueError(f"algo catchup is unavailable on this node: {self.source}")
        return AlgoChoice("catchup", self.tolerance, self.urgency)

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "tolerance": self.tolerance,
            "urgency": self.urgency,
            "source": self.source,
        }


def _unavailable(reason: str) -> CatchUpSetting:
    return CatchUpSetting(None, None, reason)


def resolve_catchup_setting(
    tolerance: float | None,
    urgency: float | None,
    manifest: Mapping[str, Any],
    artifact: str,
) -> CatchUpSetting:
    """The config's tolerance with its urgency (unset: the straight line), else the
    artifact's tuned pair (no urgency there: the straight line), else unavailable
    (module doc). ValueError for a configured value that is no setting: the config
    refuses those at load, so this only restates it."""
    if tolerance is None and urgency is not None:
        raise ValueError(
            f"{URGENCY_CONFIG_KEY} is set without {CONFIG_KEY}: the two are tuned as a "
            "pair, so set both or neither"
        )
    if tolerance is not None:
        tol = checked_tolerance(tolerance, CONFIG_KEY)
        urg = STRAIGHT if urgency is None else checked_urgency(urgency, URGENCY_CONFIG_KEY)
        source = f"config {CONFIG_KEY}" + (" and catchup_urgency" if urgency is not None else "")
        return CatchUpSetting(tol, urg, source)
    baselines = manifest.get("baselines")
    tuned = baselines.get("passive_catchup") if isinstance(baselines, Mapping) else None
    if not isinstance(tuned, Mapping) or "tolerance" not in tuned:
        missing = f"{CONFIG_KEY} is not set and artifact {artifact} has no {MANIFEST_KEY}"
        return _unavailable(f"{missing}; {HOW_TO_ENABLE}")
    where = f"artifact {artifact} {MANIFEST_KEY}"
    try:
        tol = checked_tolerance(tuned["tolerance"], where)
        urg = checked_urgency(
            tuned.get("urgency", STRAIGHT), f"artifact {artifact} {URGENCY_MANIFEST_KEY}"
        )
    except ValueError as exc:
        return _unavailable(f"{exc}; {HOW_TO_ENABLE}")
    if "urgency" in tuned:
        where = f"artifact {artifact} {MANIFEST_KEY} and .urgency"
    chosen_by = tuned.get("chosen_by")
    return CatchUpSetting(tol, urg, where + (f" ({chosen_by})" if chosen_by else ""))


@dataclass(frozen=True, slots=True)
class AlgoChoice:
    """What one parent runs: its algo and, for ``catchup``, the tolerance and urgency it
    was given."""

    algo: str
    tolerance: float | None = None
    urgency: float | None = None

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"unknown algo {self.algo!r}; known: {', '.join(ALGOS)}")
        catchup = self.algo == "catchup"
        if catchup != (self.tolerance is not None):
            raise ValueError(f"algo {self.algo} with tolerance {self.tolerance!r}")
        if catchup != (self.urgency is not None):
            raise ValueError(f"algo {self.algo} with urgency {self.urgency!r}")
        if self.tolerance is not None:
            checked_tolerance(self.tolerance, f"algo {self.algo}")
        if self.urgency is not None:
            checked_urgency(self.urgency, f"algo {self.algo}")

    def to_json(self) -> dict[str, Any]:
        return {"algo": self.algo, "tolerance": self.tolerance, "urgency": self.urgency}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlgoChoice:
        """ValueError when the record does not describe a choice. A catchup record without
        an urgency (journalled before it existed) ran the straight line."""
        algo, tolerance = data.get("algo"), data.get("tolerance")
        if not isinstance(algo, str):
            raise ValueError(f"parent_algo record without an algo: {dict(data)!r:.120}")
        urgency = data.get("urgency", STRAIGHT if algo == "catchup" else None)
        return cls(algo, tolerance, urgency)


def algo_record(parent_id: str, choice: AlgoChoice) -> dict[str, Any]:
    """The ``parent_algo`` journal record."""
    return {"parent_id": parent_id, **choice.to_json()}

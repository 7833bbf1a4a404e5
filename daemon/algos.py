"""Which algo a parent runs, and the catch-up tolerance the ``catchup`` algo needs.

``catchup`` is passive at the touch with catch-up crossing
(:class:`policies.baselines.passive.PassiveCatchUp`): the tactic a desk runs while it
cannot trust the learned policy. It has one setting, the tolerance (a share of the
parent the tactic may fall behind a straight line before it crosses), and a tolerance
tuned for one ticker and hour is not a neutral default for another. So the node
resolves it once at start, from its own config or else from the value the loaded
artifact's training tuned, and says where it came from; with neither, ``catchup`` is
unavailable and a submit naming it is refused, saying how to enable it.

Each parent's choice (algo and tolerance) is journalled before the parent exists
(``parent_algo`` record), so a restarted node resumes it with the same tactic and
tolerance, whatever its config or loaded artifact say by then.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.control.commands import ALGOS

CONFIG_KEY = "[execution] catchup_tolerance"
MANIFEST_KEY = "baselines.passive_catchup.tolerance"
HOW_TO_ENABLE = (
    f"set {CONFIG_KEY} (a share of the parent, 0 <= t < 1; issue 15's gate runs tuned "
    "0.20 on AMZN and AAPL 09:30-12:00, 0.30 on AMZN alone) and restart, or start the "
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
class CatchUpTolerance:
    """The node's tolerance for new ``catchup`` parents (None: unavailable) and where it
    came from, or why there is none (``source``)."""

    value: float | None
    source: str

    def require(self) -> float:
        """The tolerance, or ValueError (the submit's refusal) saying how to enable it."""
        if self.value is None:
            raise ValueError(f"algo catchup is unavailable on this node: {self.source}")
        return self.value

    def to_json(self) -> dict[str, Any]:
        return {"available": self.value is not None, "tolerance": self.value, "source": self.source}


def resolve_catchup_tolerance(
    configured: float | None, manifest: Mapping[str, Any], artifact: str
) -> CatchUpTolerance:
    """The config's value, else the artifact's tuned one, else unavailable (module doc)."""
    if configured is not None:
        return CatchUpTolerance(checked_tolerance(configured, CONFIG_KEY), f"config {CONFIG_KEY}")
    baselines = manifest.get("baselines")
    tuned = baselines.get("passive_catchup") if isinstance(baselines, Mapping) else None
    if not isinstance(tuned, Mapping) or "tolerance" not in tuned:
        missing = f"{CONFIG_KEY} is not set and artifact {artifact} has no {MANIFEST_KEY}"
        return CatchUpTolerance(None, f"{missing}; {HOW_TO_ENABLE}")
    where = f"artifact {artifact} {MANIFEST_KEY}"
    try:
        value = checked_tolerance(tuned["tolerance"], where)
    except ValueError as exc:
        return CatchUpTolerance(None, f"{exc}; {HOW_TO_ENABLE}")
    chosen_by = tuned.get("chosen_by")
    return CatchUpTolerance(value, where + (f" ({chosen_by})" if chosen_by else ""))


@dataclass(frozen=True, slots=True)
class AlgoChoice:
    """What one parent runs: its algo and, for ``catchup``, the tolerance it was given."""

    algo: str
    tolerance: float | None = None

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"unknown algo {self.algo!r}; known: {', '.join(ALGOS)}")
        if (self.algo == "catchup") != (self.tolerance is not None):
            raise ValueError(f"algo {self.algo} with tolerance {self.tolerance!r}")
        if self.tolerance is not None:
            checked_tolerance(self.tolerance, f"algo {self.algo}")

    def to_json(self) -> dict[str, Any]:
        return {"algo": self.algo, "tolerance": self.tolerance}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlgoChoice:
        """ValueError when the record does not describe a choice."""
        algo, tolerance = data.get("algo"), data.get("tolerance")
        if not isinstance(algo, str):
            raise ValueError(f"parent_algo record without an algo: {dict(data)!r:.120}")
        return cls(algo, tolerance)


def algo_record(parent_id: str, choice: AlgoChoice) -> dict[str, Any]:
    """The ``parent_algo`` journal record."""
    return {"parent_id": parent_id, **choice.to_json()}

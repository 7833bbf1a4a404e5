"""Which policies a backtest compares: ``rl:ARTIFACT,twap,vwap,pov,ac,random,...``.

A :class:`PolicySpec` is small and picklable, so a worker process or a Ray task builds
its own policy from it; a learned policy is loaded there with the digest the parent
verified, so every worker runs the same bytes. The fingerprint of a spec (the
artifact's digest, or the baseline's parameters) is part of every cached result's key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.baselines import (
    AlmgrenChrissSchedule,
    PassiveCatchUp,
    PovSchedule,
    RandomPolicy,
    ScheduleTactic,
    TwapSchedule,
    VwapSchedule,
)
from policies.evaluate import BaselineParams
from policies.protocol import Policy

# command-line name -> the name the policy reports (the tables use the latter)
BASELINES: dict[str, str] = {
    "twap": "twap",
    "vwap": "vwap",
    "pov": "pov",
    "ac": "almgren_chriss",
    "almgren_chriss": "almgren_chriss",
    "random": "random",
    "twap_aggressive": "twap_aggressive",
    "catchup": "passive_catchup",
    "passive_catchup": "passive_catchup",
}
PASSIVE = "passive_catchup"
REFERENCE = "twap"  # what every policy is compared with first


@dataclass(frozen=True, slots=True)
class PolicySpec:
    name: str  # as the tables show it
    kind: str  # "rl" or a baseline's reported name
    artifact: str = ""  # rl: the artifact folder
    digest: str = ""  # rl: the artifact digest every worker must load
    params: str = (
        ""  # passive_catchup: its tuned tolerance and urgency, JSON (runner.passive_params)
    )

    @property
    def learned(self) -> bool:
        return self.kind == "rl"

    def fingerprint(self, baselines: BaselineParams) -> dict[str, Any]:
        """What decides this policy's behaviour, beyond the code itself."""
        if self.learned:
            return {"kind": "rl", "digest": self.digest}
        params: dict[str, Any] = {}
        if self.kind == "vwap":
            params = baselines.profile.to_json()
        elif self.kind == "almgren_chriss":
            params = baselines.ac.to_json()
        elif self.kind == PASSIVE:
            params = json.loads(self.params) if self.params else {}
        return {"kind": self.kind, "params": params}


def parse_policies(text: str) -> list[PolicySpec]:
    """``rl:PATH,twap,...``; rl artifacts are verified and named by their manifest."""
    from policies.learned import load_policy

    out: list[PolicySpec] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("rl:"):
            path = Path(item[3:]).expanduser()
            pol = load_policy(path)  # raises ArtifactError naming the problem
            name = pol.name
            if any(p.name == name for p in out):
                name = f"{name}@{path.name}"
            out.append(PolicySpec(name, "rl", str(path.resolve()), pol.artifact.digest))
            continue
        kind = BASELINES.get(item.lower())
        if kind is None:
            known = ", ".join(sorted(BASELINES))
            raise ValueError(f"unknown policy {item!r}; use rl:ARTIFACT_DIR or one of {known}")
        if any(p.name == kind for p in out):
            raise ValueError(f"policy {kind} is given twice")
        out.append(PolicySpec(kind, kind))
    if not out:
        raise ValueError("no policies given")
    if len({p.name for p in out}) != len(out):
        raise ValueError(f"two policies share a name in {text!r}")
    return out


def build_policy(spec: PolicySpec, baselines: BaselineParams) -> Policy:
    """A fresh policy object for ``spec`` (learned ones are loaded and verified)."""
    if spec.learned:
        from policies.learned import load_policy

        return load_policy(spec.artifact, spec.digest)
    kind = spec.kind
    if kind == "twap":
        return ScheduleTactic(TwapSchedule())
    if kind == "twap_aggressive":
        return ScheduleTactic(TwapSchedule(), aggressive=True)
    if kind == "vwap":
        return ScheduleTactic(VwapSchedule(baselines.profile))
    if kind == "pov":
        return ScheduleTactic(PovSchedule())
    if kind == "almgren_chriss":
        return ScheduleTactic(AlmgrenChrissSchedule(baselines.ac))
    if kind == "random":
        return RandomPolicy(seed=0)
    if kind == PASSIVE:
        settings = json.loads(spec.params) if spec.params else {}
        return PassiveCatchUp.from_settings(settings)
    raise ValueError(f"unknown policy kind {kind!r}")

"""What a cached result depends on, as JSON: so results made under different models,
settings or code are never mixed.

A cached outcome's key holds the policy (artifact digest or baseline parameters), the
order, the group's data file, the environment settings, the impact model the simulator
actually built for that group with its parameters, and a hash of every source and
parameter file the order path runs (core, risk, the exchange, the market-data reader,
the policies). Only the modules that present results (statistics, tables, plots,
report) are left out, so reworking a chart does not throw away hours of simulation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Packages whose code decides an order's outcome.
RESULT_CODE = ("core", "risk", "exchange", "gateways/marketdata", "policies")
# Modules of this package that only present results already computed.
PRESENTATION = frozenset(
    {
        "cli.py",
        "gate.py",
        "plots.py",
        "report.py",
        "statistics.py",
        "summary.py",
        "scaleout.py",
        "cache.py",
        "runner.py",
        "fingerprint.py",
    }
)


@functools.cache
def code_fingerprint() -> str:
    """sha256 over the order path's source and parameter files (names and bytes)."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for pkg in RESULT_CODE:
        base = ROOT / pkg
        for path in sorted(base.rglob("*")):
            if path.suffix not in (".py", ".json") or "__pycache__" in path.parts:
                continue
            if path.parent == here and path.name in PRESENTATION:
                continue
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(b"\0")
            h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return repr(value)  # exact
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return describe(value)


def describe(obj: Any) -> dict[str, Any]:
    """A model's type and public parameters, e.g. the impact model a simulator built."""
    out: dict[str, Any] = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = [f.name for f in dataclasses.fields(obj)]
    elif hasattr(obj, "__dict__"):
        names = list(vars(obj))
    else:
        names = [n for c in type(obj).__mro__ for n in getattr(c, "__slots__", ())]
    params = {n: _plain(getattr(obj, n)) for n in names if not n.startswith("_")}
    if not params:
        params = {"repr": repr(obj)}
    out["params"] = params
    return out


def key_of(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

"""Two or more versions of the risk overlay against each other, in alternating rounds.

On a shared, noisy machine one run of ``risk_bench.py`` per version compares the
machine's moods, not the versions. This runs each version's chains (``risk_bench``'s
own timed loop, in a child process with that version's ``risk`` first on
``PYTHONPATH``) once per round, the versions in turn, and reports each version's median
p50 and p99 over the rounds, plus (``--instructions``) the exact CPU instructions one
call executes (callgrind; independent of load).

    .venv/bin/python bench/risk_versions.py \\
        --version before=/tmp/old-risk-parent --version after=. --rounds 5

A version is a directory holding a ``risk`` package (the repository root for the
working tree; ``git archive <commit> risk | tar -x -C DIR`` for another commit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import report

BENCH = Path(__file__).resolve().parent
CHAINS = ("new_limit", "new_market", "replace")

_CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
import gc, io
from _common import percentiles, pin_one_core
from core.log import configure
import risk, risk_bench
configure("json", "INFO", io.StringIO())
pin_one_core()
out = {{"risk": risk.__file__}}
for kind in {chains!r}:
    gc.collect()
    out[kind] = percentiles(risk_bench._chain(kind, {n}, {warmup}))
    if {instructions}:
        out[kind]["instr"] = risk_bench._instructions(kind, 2000)
print(json.dumps(out))
"""


def _run(path: Path, n: int, warmup: int, instructions: bool) -> dict[str, Any]:
    code = _CHILD.format(
        bench=str(BENCH), chains=CHAINS, n=n, warmup=warmup, instructions=instructions
    )
    paths = [str(path.resolve()), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run(  # run from bench/: `-c` puts the working directory first
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=BENCH
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["risk"].startswith(str(path.resolve())):
        raise SystemExit(f"{path}: ran {result['risk']} instead (no risk package there?)")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", action="append", required=True, help="NAME=DIR (repeat)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=20_000, help="timed calls per chain and round")
    ap.add_argument("--warmup", type=int, default=2_000)
    ap.add_argument("--instructions", action="store_true", help="count instructions (once)")
    args = ap.parse_args(argv)
    versions = [(v.split("=", 1)[0], Path(v.split("=", 1)[1])) for v in args.version]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in versions}
    for r in range(args.rounds):
        for name, path in versions:
            count = args.instructions and r == 0
            runs[name].append(_run(path, args.n, args.warmup, count))
            print(f"round {r + 1}/{args.rounds}: {name} done", file=sys.stderr)
    rows = []
    for kind in CHAINS:
        for name, _ in versions:
            got = [run[kind] for run in runs[name]]
            rows.append(
                {
                    "chain": kind,
                    "version": name,
                    "p50_us": statistics.median(g["p50_us"] for g in got),
                    "p99_us": statistics.median(g["p99_us"] for g in got),
                    "p99_us_rounds": " ".join(f"{g['p99_us']:.2f}" for g in got),
                    "instr_per_call": got[0].get("instr", "-"),
                }
            )
    report(
        "risk_versions",
        rows,
        {
            "versions": {name: str(path) for name, path in versions},
            "rounds": args.rounds,
            "n": args.n,
            "method": "rounds alternate the versions; medians over rounds; one core each",
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

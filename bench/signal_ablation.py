"""RL with and without the short-horizon signal, on the same held-out orders (issue 19).

Reads the ``summary.json`` of one ``rlexec backtest`` run that holds both candidates
(the same fold, seed and budget; only the feature set differs) and TWAP, and tabulates,
per group and time-of-day bucket: each candidate's mean IS and timing risk, each against
TWAP, and the paired difference of the two (signal - no signal) with its 95 % bootstrap
interval, all as the backtest computed them (winsorised means, percentile bootstrap on
the same orders). Writes ``results/signal_ablation.json``.

    .venv/bin/python bench/signal_ablation.py var/loop/ablation/summary.json \\
        --signal fwd90_signal --plain fwd90_nosignal
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _common import report

CELLS = ("all", "tod:open", "tod:midday", "tod:close")


def ci(est: list[float]) -> str:
    value, lo, hi = est
    return f"{value:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def rows_of(summary: dict[str, Any], signal: str, plain: str) -> list[dict[str, Any]]:
    ref = summary["reference"]
    out = []
    for group in summary["groups"].values():
        for name in CELLS:
            cell = group["cells"].get(name)
            if cell is None:
                continue
            r = cell["rows"]
            s, p, t = r[signal], r[plain], r[ref]
            out.append(
                {
                    "group": group["key"],
                    "bucket": name.split(":")[-1],
                    "orders": cell["n"],
                    "is_signal": round(s["mean"][0], 3),
                    "is_plain": round(p["mean"][0], 3),
                    "is_twap": round(t["mean"][0], 3),
                    "signal_vs_twap": ci(s["vs"][ref]["diff"]),
                    "plain_vs_twap": ci(p["vs"][ref]["diff"]),
                    "signal_vs_plain": ci(s["vs"][plain]["diff"]),
                    "signal_cheaper": s["vs"][plain]["diff"][2] < 0,
                    "signal_dearer": s["vs"][plain]["diff"][1] > 0,
                    "risk_signal": round(s["timing_risk"][0], 3),
                    "risk_plain": round(p["timing_risk"][0], 3),
                    "risk_twap": round(t["timing_risk"][0], 3),
                }
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("summary", type=Path, help="an rlexec backtest summary.json")
    ap.add_argument("--signal", required=True, help="the candidate with the signal")
    ap.add_argument("--plain", required=True, help="the candidate without it")
    args = ap.parse_args()
    summary = json.loads(args.summary.read_text())
    rows = rows_of(summary, args.signal, args.plain)
    extra = {
        "command": summary.get("command"),
        "orders_per_group": summary.get("orders_per_group"),
        "elapsed_s": summary.get("elapsed_s"),
        "policies": [p["name"] for p in summary["policies"]],
        "summary": str(args.summary),
    }
    report("signal_ablation", rows, extra)


if __name__ == "__main__":
    main()

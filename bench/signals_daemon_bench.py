"""The market models inside the daemon: what they cost, and what they do to tick to order.

The real exchange process replays AMZN (level 5, from 14:15, 30 x real time) over
loopback; the daemon's Node runs in this process with the committed policy deciding on
every book update (``decide_on = "book"``, one parent), as bench/latency_bench.py does.
Runs alternate between three modes, so all see the same machine over the same minutes:
*before* (the node as before the wiring: no models, no decision watched or recorded),
*off* (``[signals] enabled = false``: decisions monitored and recorded, no models) and
*on* (the default: every frame and print into the tracker, the posture assessed each
second, the signal served after every decision).

Reported, per mode: tick to order (MD frame in -> NewOrderSingle on the FIX socket,
p50/p99 and the ratios to *before*); and with signals on, the raw cost of each piece as the
daemon pays it: the signal at a decision (what ``rlexec_signal_seconds`` observes),
everything a decision adds after its orders are out (signal, drift monitor, recorder
row), a posture assessment of all symbols, and a tracker update per frame.

Goal (issue 19): served at decision time within the tick-to-order budget.
Run: python bench/signals_daemon_bench.py [--seconds 60] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentiles, report
from latency_bench import replay_node_config

from daemon.control.commands import SubmitParent
from daemon.node import Node
from daemon.stack import Stack, StackSettings


def _timed(samples: list[int], fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter_ns()
        try:
            return fn(*args, **kw)
        finally:
            samples.append(time.perf_counter_ns() - t0)

    return wrapper


async def run(seconds: float, mode: str) -> dict[str, list[int]]:
    from core import log as logs

    logs.configure("console", "ERROR")
    out: dict[str, list[int]] = {k: [] for k in ("t2o", "signal", "after", "assess", "tracker")}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        speed = 30.0
        stack = Stack(StackSettings(tmp, speed=speed, replay_start="14:15:00"))
        stack.start_exchange()
        try:
            cfg = replay_node_config(
                tmp,
                stack,
                speed,
                {
                    "RLEXEC__SIGNALS__ENABLED": "true" if mode == "on" else "false",
                    "RLEXEC__SIGNALS__RECORDING": "false" if mode == "before" else "true",
                },
            )
            node = Node(cfg)
            if node.signals is not None:
                sig = node.signals
                sig.assess_all = _timed(out["assess"], sig.assess_all)  # type: ignore[method-assign]
                sig.on_book = _timed(out["tracker"], sig.on_book)  # type: ignore[method-assign]
                hist = node.metrics.signal_seconds
                observe = hist.observe
                hist.observe = lambda s: (out["signal"].append(int(s * 1e9)), observe(s))[1]  # type: ignore[method-assign]
            # "before": the node as it was before the wiring (no decision is watched)
            node.parents._on_decision = (
                None if mode == "before" else _timed(out["after"], node._decided)
            )
            await node.start()
            while not node.recovered or node.halts:
                await asyncio.sleep(0.05)
            await node.submit_parent(
                "BENCH", SubmitParent(symbol="AMZN", side="sell", qty=3_000, duration_s=900)
            )
            await asyncio.sleep(seconds)
            out["t2o"] = list(node.latency_samples)
            await node.stop()
        finally:
            stack.close()
    return out


MODES = {
    "before": "before the wiring (no models, no monitoring, no recordings)",
    "off": "[signals] enabled = false (monitoring and recordings only)",
    "on": "signals on (the default)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="per mode, over all rounds")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    got: dict[str, dict[str, list[int]]] = {m: {} for m in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            r = asyncio.run(run(args.seconds / args.rounds, mode))
            for k, v in r.items():
                got[mode].setdefault(k, []).extend(v)
    rows: list[dict[str, object]] = []
    p = {}
    for mode, label in MODES.items():
        t2o = got[mode]["t2o"]
        if not t2o:
            raise SystemExit(f"no orders were sent ({label}): nothing to time")
        p[mode] = percentiles(t2o)
        rows.append({"case": f"tick to order, {label}", "samples": len(t2o), **p[mode]})
    for key, case in (
        ("signal", "signal served at a decision (rlexec_signal_seconds)"),
        ("after", "all a decision adds after its orders are out (signals on)"),
        ("assess", "posture assessment, all symbols (once a second)"),
        ("tracker", "tracker update per book frame"),
    ):
        s = got["on"][key]
        if s:
            rows.append({"case": case, "samples": len(s), **percentiles(s)})
    off = got["off"]["after"]
    if off:
        rows.append({"case": "all a decision adds after its orders are out (signals off: monitor + recorder)", "samples": len(off), **percentiles(off)})  # fmt: skip
    for mode in ("off", "on"):
        rows.append(
            {
                "case": f"tick to order ratio, {mode} / before",
                "p50": p[mode]["p50_us"] / p["before"]["p50_us"],
                "p99": p[mode]["p99_us"] / p["before"]["p99_us"],
            }
        )
    report(
        "signals_daemon_bench",
        rows,
        {"seconds_per_mode": args.seconds, "rounds": args.rounds, "loadavg_1m": os.getloadavg()[0]},
    )


if __name__ == "__main__":
    main()

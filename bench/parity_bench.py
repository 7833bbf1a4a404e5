"""Live against backtest: how far the daemon's result drifts from the in-process backtest
of the same parent order, and why.

``rlexec demo`` prints the live shortfall over FIX next to "the same order replayed in
process", and the two used to differ by a few bps with nothing to say why. This bench
takes the demo's parent (sell 2,000 AMZN over 10 minutes of the shipped day's held-out
afternoon, replay from 14:15, the committed policy) and first shows that the daemon's
code is not the cause:

- ``backtest, policy's settings``: the environment with the committed policy's own
  evaluation settings (its manifest: impact model, 100 us order latency);
- ``+ exchange impact``: the same with the exchange's impact model (the square-root
  default of ``[source] impact``);
- ``live, lock-step``: the real node and exchange process over TCP on the lock-stepped
  clock with the previous row's settings. Its step must be 0.00 and its trace equal
  that row's record by record (``match``): the one execution path holds at the daemon
  level, so whatever differs in a paced run is timing.

Then, per paced run (the demo's way: the exchange replays at N x real time, the daemon
follows the feed on its scaled clock, the parent starts when the daemon is up and the
market has moved on), it walks from the demo's in-process figure to the live one, one
difference at a time, so each step is one cause and the steps add up to the gap:

1. ``backtest at its start, policy's settings``: what the demo prints as "policy"
   (the backtest of the parent from the live run's start);
2. ``+ exchange impact``: the impact model the exchange runs instead of the env's;
3. ``+ arrival delay``: the environment's order latency set to the median delay the
   live orders showed in market time (see :func:`timing`): order latency against
   replay pacing;
4. ``live, paced Nx``: what remains: decision timing (the runner wakes late, or early
   when its scaled clock runs ahead of a replay that fell behind its pace), the spread
   of the arrival delays around their median, a book the feed delivered up to one
   publishing step late, and everything that timing then does to which orders fill.

For every row the shortfall is also split by phase: the fills inside the horizon
(``IS horizon``) and those of the end-of-horizon completion sweep (``IS sweep``),
which add up to the total; ``swept`` is the quantity the sweep sold. ``arrival mid``
shows whether live and backtest measured from the same benchmark.

Conditions: the shared 2-core machine, everything on 127.0.0.1; runs at 30x repeat
``--repeats`` times (the spread between them is the run-to-run noise), real time once
(it takes the parent's 10 minutes plus the warm-up).

Run: python bench/parity_bench.py [--speeds 30,1] [--repeats 3] [--minutes 10]
     [--algo twap | --algo catchup --catchup-tolerance 0.2]   (a baseline instead)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report

from core.log import configure
from core.types import Side
from daemon.control.commands import ALGOS
from daemon.parity import (
    NS,
    ParentPlan,
    Trace,
    at,
    backtest,
    committed_config,
    differences,
    lockstep,
    paced,
    warm_start_ns,
)

EXCHANGE_IMPACT = "sqrt"  # exchange [source] impact default


def phase_bps(trace: Trace, end_ns: int) -> tuple[float, float, int]:
    """Shortfall contributions (bps of the filled notional at arrival) of the fills in
    the horizon and of the completion sweep after it, and the quantity swept."""
    if not trace.filled or trace.arrival_mid <= 0:
        return 0.0, 0.0, 0
    sign = 1 if trace.requests and trace.requests[0].side is Side.BUY else -1
    horizon = sweep = 0.0
    swept = 0
    for f in trace.fills:
        cost = sign * f.last_qty * (f.last_px - trace.arrival_mid)
        if f.ts_ms * 1_000_000 < end_ns:
            horizon += cost
        else:
            sweep += cost
            swept += f.last_qty
    norm = trace.filled * trace.arrival_mid / 1e4
    return horizon / norm, sweep / norm, swept


def timing(trace: Trace, interval_ns: int, horizon_ns: int) -> dict[str, float]:
    """When the live run decided and when its orders reached the market, in market ms.

    Decision lag: each decision that sent something, against the nearest point of the
    grid ``start + k x interval`` (negative: early, the daemon's clock ran ahead of the
    market's). Arrival delay: the venue's time on a new order's first report (the wire's
    millisecond) minus the decision's time on the daemon's clock: the wall-clock latency
    times the replay speed plus the two processes' clock disagreement (negative: the
    order reached a market that had not got to the decision's time yet).
    """
    end = trace.start_ns + horizon_ns
    decided = sorted({r.ts_ns for r in trace.requests if r.ts_ns < end})
    lags = []
    for t in decided:
        lag = (t - trace.start_ns) % interval_ns
        lags.append((lag - interval_ns if lag > interval_ns // 2 else lag) / 1e6)
    first_report: dict[str, int] = {}
    for rep in trace.reports:
        first_report.setdefault(rep.cl_ord_id, rep.ts_ms)
    delays = sorted(
        first_report[r.cl_ord_id] - r.ts_ns / 1e6
        for r in trace.requests
        if r.kind == "new" and r.cl_ord_id in first_report
    )
    out: dict[str, float] = {}
    if lags:
        out["decision lag p50 ms"] = statistics.median(lags)
        out["decision lag max ms"] = max(lags, key=abs)
    if delays:
        out["arrival delay p10 ms"] = delays[len(delays) // 10]
        out["arrival delay p50 ms"] = statistics.median(delays)
        out["arrival delay p90 ms"] = delays[len(delays) * 9 // 10]
    return out


def row(name: str, trace: Trace, plan: ParentPlan, prev: float | None) -> dict[str, Any]:
    end = trace.start_ns + plan.horizon_s * NS
    horizon, sweep, swept = phase_bps(trace, end)
    return {
        "run": name,
        "IS bps": trace.is_bps,
        "step bps": trace.is_bps - prev if prev is not None else 0.0,
        "IS horizon": horizon,
        "IS sweep": sweep,
        "swept": swept,
        "children": sum(1 for r in trace.requests if r.kind == "new"),
        "fills": len(trace.fills),
        "filled": trace.filled,
        "start s late": (trace.start_ns - plan.start_ns) / NS,
        "arrival mid": trace.arrival_mid,
    }


def walk(
    plan: ParentPlan, speed: float, workdir: Path, label: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One live run as the demo makes it, walked from the demo's in-process figure
    (module doc, steps 4 to 6, here from the live run's start)."""
    from daemon.node import DEFAULT_POLICY_DIR
    from policies.learned import load_policy

    fspec = load_policy(DEFAULT_POLICY_DIR).artifact.feature_spec
    own = committed_config()
    exch = committed_config(impact=EXCHANGE_IMPACT)
    t0 = time.monotonic()
    live = paced(plan, workdir, exch, speed=speed, replay_start_ns=warm_start_ns(plan))
    wall = time.monotonic() - t0
    measured = timing(live, fspec.interval_ns, plan.horizon_s * NS)
    # the environment models one latency each way, never a negative one
    delay_us = max(1, round(measured.get("arrival delay p50 ms", 0.0) * 1000))
    moved = replace(plan, start_ns=live.start_ns)
    demo = backtest(moved, own)
    impact = backtest(moved, exch)
    delayed = backtest(moved, replace(exch, latency_us=delay_us))
    rows = [
        row(f"{label}: backtest at its start, policy's settings", demo, plan, None),
        row(f"{label}: + exchange impact ({EXCHANGE_IMPACT})", impact, plan, demo.is_bps),
        row(f"{label}: + arrival delay ({delay_us} us)", delayed, plan, impact.is_bps),
        row(f"{label}: live, paced {speed:g}x", live, plan, delayed.is_bps),
    ]
    rows[-1].update(measured)
    sign = 1 if plan.side is Side.BUY else -1
    info = {
        "run": label,
        "speed": speed,
        "wall_s": round(wall, 1),
        "start_s_late": (live.start_ns - plan.start_ns) / NS,
        "demo_reference_bps": demo.is_bps,
        "live_bps": live.is_bps,
        "gap_bps": live.is_bps - demo.is_bps,
        "impact_model_bps": impact.is_bps - demo.is_bps,
        "arrival_delay_bps": delayed.is_bps - impact.is_bps,
        "timing_residual_bps": live.is_bps - delayed.is_bps,
        "arrival_mid_gap_bps": sign
        * (demo.arrival_mid - live.arrival_mid)
        / demo.arrival_mid
        * 1e4,
        "sweep_bps": {"backtest": rows[1]["IS sweep"], "live": rows[-1]["IS sweep"]},
        **measured,
    }
    return rows, info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--speeds", default="30,1", help="paced replay speeds, comma-separated")
    ap.add_argument("--repeats", type=int, default=3, help="paced runs per speed above 1x")
    ap.add_argument("--minutes", type=float, default=10.0, help="parent horizon")
    ap.add_argument("--qty", type=int, default=2000, help="parent quantity (a sell)")
    ap.add_argument(
        "--start", default="14:16:00", help="planned parent start (replay 1 min before)"
    )
    ap.add_argument("--name", default="parity_bench", help="results/<name>.json")
    ap.add_argument(
        "--algo", default="policy", choices=ALGOS, help="what the parent runs (ctl's algo=)"
    )
    ap.add_argument(
        "--catchup-tolerance", type=float, default=None, help="--algo catchup: its tolerance"
    )
    args = ap.parse_args(argv)
    if (args.algo == "catchup") != (args.catchup_tolerance is not None):
        ap.error("--catchup-tolerance goes with --algo catchup, and only with it")
    speeds = [float(s) for s in args.speeds.split(",") if s]
    configure("console", "WARNING")

    plan = ParentPlan(
        Side.SELL,
        args.qty,
        at("AMZN", args.start),
        round(args.minutes * 60),
        algo=args.algo,
        catchup_tolerance=args.catchup_tolerance,
    )
    own = committed_config()
    exch = committed_config(impact=EXCHANGE_IMPACT)
    reference = backtest(plan, own)
    base = backtest(plan, exch)
    rows = [
        row(f"backtest, policy's settings ({own.impact})", reference, plan, None),
        row(f"+ exchange impact ({EXCHANGE_IMPACT})", base, plan, reference.is_bps),
    ]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
        t0 = time.monotonic()
        locked = lockstep(plan, Path(tmp) / "lockstep", exch)
        lock_row = row("live, lock-step", locked, plan, base.is_bps)
        diffs = differences(base, locked)
        lock_row["match"] = not diffs
        lock_row["wall s"] = round(time.monotonic() - t0, 1)
        rows.append(lock_row)
        for speed in speeds:
            for i in range(args.repeats if speed > 1 else 1):
                label = f"{speed:g}x #{i + 1}"
                walked, info = walk(plan, speed, Path(tmp) / f"paced-{speed:g}-{i}", label)
                rows.extend(walked)
                runs.append(info)
    report(
        args.name,
        rows,
        {
            "plan": {
                "side": "sell",
                "qty": args.qty,
                "symbol": "AMZN",
                "start": args.start,
                "horizon_s": plan.horizon_s,
                "algo": plan.algo,
                "catchup_tolerance": plan.catchup_tolerance,
            },
            "lockstep_differences": diffs,
            "runs": runs,
            "conditions": "shared 2-core machine (other engineers' tests and a training run "
            "alongside), all processes on 127.0.0.1",
        },
    )
    for info in runs:
        print(
            f"{info['run']}: live {info['live_bps']:+.2f} - demo's in-process "
            f"{info['demo_reference_bps']:+.2f} = {info['gap_bps']:+.2f} bps: impact model "
            f"{info['impact_model_bps']:+.2f}, arrival delay {info['arrival_delay_bps']:+.2f}, "
            f"timing {info['timing_residual_bps']:+.2f} (started {info['start_s_late']:.1f} s "
            f"late, wall {info['wall_s']} s)"
        )
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())

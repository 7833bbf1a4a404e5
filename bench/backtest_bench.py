"""Backtest throughput: (policy, parent order) runs per second, on one core and on all.

The same fixed workload each time (the committed policy and TWAP on the shipped
held-out data: AMZN level 5 14:15-16:00 and AAPL 12:00-16:00, ``--orders`` orders per
group, the default 3-15 minute horizons), no cache, so every order is simulated:

- one core: this process only, pinned to one CPU (the in-process executor);
- all cores: one forked worker process per CPU this process may use.

Each figure is the median of ``--repeats`` runs; "orders/s" counts (policy, order)
runs through the whole backtest (planning, the simulation, the statistics), "sim
orders/s" the simulation alone (jobs dispatched to the last result back). The statistics
are kept small here (200 resamples) so the figure is about simulation; the report's
2,000 resamples cost extra once per run, not per order.

Run: python bench/backtest_bench.py [--orders 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import pin_one_core, report

from core.log import configure
from policies.backtest import BacktestConfig, parse_data, parse_policies, run_backtest
from policies.backtest.episodes import Job
from policies.backtest.scaleout import Executor, InProcess, LocalProcesses, Result

ROOT = Path(__file__).resolve().parents[1]
DATA = ["AMZN_2012-06-21_5@14:15-16:00", "AAPL_2012-06-21_1@12:00-16:00"]
POLICIES = f"rl:{ROOT / 'policies/artifacts/ppo_amzn'},twap"


class Timed:
    """Wraps an executor and times its jobs: first dispatch to last result."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds = 0.0

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        t0 = time.perf_counter()
        yield from self.inner.run(jobs)
        self.seconds = time.perf_counter() - t0

    def close(self) -> None:
        self.inner.close()


def one_run(orders: int, executor: Executor) -> dict[str, float]:
    cfg = BacktestConfig(
        policies=parse_policies(POLICIES),
        data=parse_data(DATA),
        orders=orders,
        seed=20240601,
        draws=200,
        chunk=5,
    )
    timed = Timed(executor)
    t0 = time.perf_counter()
    result = run_backtest(cfg, executor=timed)
    total = time.perf_counter() - t0
    return {
        "orders": result.computed,
        "seconds": total,
        "orders_per_s": result.computed / total,
        "sim_orders_per_s": result.computed / timed.seconds,
    }


def measure(label: str, orders: int, repeats: int, make: Any) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        ex = make()
        try:
            runs.append(one_run(orders, ex))
        finally:
            ex.close()
    return {
        "setup": label,
        "orders": runs[0]["orders"],
        "orders_per_s": statistics.median(r["orders_per_s"] for r in runs),
        "sim_orders_per_s": statistics.median(r["sim_orders_per_s"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--orders", type=int, default=40, help="orders per group")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    configure(level="ERROR")
    cpus = len(os.sched_getaffinity(0))
    rows = [
        measure(
            f"all cores ({cpus} processes)", args.orders, args.repeats, lambda: LocalProcesses(cpus)
        ),
    ]
    pinned = pin_one_core()
    rows.insert(0, measure(f"one core ({pinned})", args.orders, args.repeats, InProcess))
    rows[1]["speed-up"] = rows[1]["sim_orders_per_s"] / rows[0]["sim_orders_per_s"]
    table = [{k: v for k, v in r.items() if k != "runs"} for r in rows]
    report(
        "backtest_bench",
        table,
        {
            "data": DATA,
            "policies": POLICIES,
            "runs": {r["setup"]: r["runs"] for r in rows},
            "load_average": os.getloadavg(),
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

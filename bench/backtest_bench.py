"""Backtest throughput: (policy, parent order) runs per second, on one core and on all.

The same fixed workload each time (the committed policy and TWAP on the shipped
held-out data: AMZN level 5 14:15-16:00 and AAPL 12:00-16:00, ``--orders`` orders per
group, the default 3-15 minute horizons), no cache, so every order is simulated:

- one core: this process only, pinned to one CPU (the in-process executor);
- all cores: one forked worker process per CPU this process may use.

Each figure is the median of ``--repeats`` runs, the two set-ups alternated so a change
in the machine's load hits both; the days are parsed once before any measurement.
"orders/s" counts (policy, order) runs through the whole backtest (planning, the
simulation, the statistics), "sim orders/s" the simulation alone (jobs dispatched to
the last result back), "CPU ms/order" the processor time this process and its workers
spent per order, which does not depend on what else the machine runs: on an idle
machine, N cores do about N x 1000 / (CPU ms/order) orders/s. The statistics are kept
small here (200 resamples) so the figure is about simulation; the report's 2,000
resamples cost extra once per run, not per order.

Run: python bench/backtest_bench.py [--orders 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _cpu() -> float:
    """CPU seconds used by this process and its reaped children so far."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def one_run(orders: int, make: Any) -> dict[str, float]:
    cfg = BacktestConfig(
        policies=parse_policies(POLICIES),
        data=parse_data(DATA),
        orders=orders,
        seed=20240601,
        draws=200,
        chunk=5,
    )
    cpu0 = _cpu()
    timed = Timed(make())
    t0 = time.perf_counter()
    try:
        result = run_backtest(cfg, executor=timed)
    finally:
        timed.close()  # reaps the workers, so their CPU time is counted
    total = time.perf_counter() - t0
    return {
        "orders": result.computed,
        "seconds": total,
        "orders_per_s": result.computed / total,
        "sim_orders_per_s": result.computed / timed.seconds,
        "cpu_ms_per_order": (_cpu() - cpu0) / result.computed * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--orders", type=int, default=60, help="orders per group")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    configure(level="ERROR")
    everywhere = os.sched_getaffinity(0)
    cpus = len(everywhere)
    one_run(2, InProcess)  # parse the days once, outside every measurement
    setups = {
        "one core": (InProcess, True),
        f"all cores ({cpus} processes)": (lambda: LocalProcesses(cpus), False),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in setups}
    pinned = ""
    for _ in range(args.repeats):  # alternated, so a change in the machine's load hits both
        for name, (make, pin) in setups.items():
            if pin:
                pinned = pin_one_core()
            try:
                runs[name].append(one_run(args.orders, make))
            finally:
                os.sched_setaffinity(0, everywhere)
    rows = []
    for name, rs in runs.items():
        row: dict[str, Any] = {"setup": name + (f" ({pinned})" if name == "one core" else "")}
        row["orders"] = rs[0]["orders"]
        for k in ("orders_per_s", "sim_orders_per_s", "cpu_ms_per_order"):
            row[k] = statistics.median(r[k] for r in rs)
        rows.append(row)
    rows[1]["speed-up"] = rows[1]["sim_orders_per_s"] / rows[0]["sim_orders_per_s"]
    report(
        "backtest_bench",
        rows,
        {"data": DATA, "policies": POLICIES, "runs": runs, "load_average": os.getloadavg()},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

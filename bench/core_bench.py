"""Core hot paths: L2 delta application and the child-order reconciler.

Deltas are not synthetic: they are the level changes between consecutive rows of the
shipped LOBSTER AMZN level-5 order-book file (about 156k rows), applied to our
``L2Book`` in order, so the mix of updates, inserts and removals is a real one.

Goal (issue 2): >= 500,000 L2 delta applications per second on one core.
Run: python bench/core_bench.py
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, pin_one_core, report

from core.book import L2Book
from core.orders import ChildOrder
from core.reconciler import DesiredOrder, reconcile
from core.types import OrdStatus, Side

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "data/lobster/AMZN_2012-06-21_5/AMZN_2012-06-21_34200000_57600000_orderbook_5.csv.gz"


def lobster_deltas() -> tuple[
    list[tuple[list[tuple[int, int]], list[tuple[int, int]]]], list[tuple[Side, int, int]]
]:
    with gzip.open(BOOK, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    rows[:, 0::2] //= 100  # price x 10000 -> cents (ticks of $0.01)
    first = rows[0]
    snapshot = (
        [(int(first[4 * i + 2]), int(first[4 * i + 3])) for i in range(5)],
        [(int(first[4 * i]), int(first[4 * i + 1])) for i in range(5)],
    )
    deltas: list[tuple[Side, int, int]] = []
    prev_b = dict(snapshot[0])
    prev_a = dict(snapshot[1])
    for row in rows[1:]:
        b = {int(row[4 * i + 2]): int(row[4 * i + 3]) for i in range(5)}
        a = {int(row[4 * i]): int(row[4 * i + 1]) for i in range(5)}
        # removals first so the book never crosses mid-row
        deltas += [(Side.BUY, p, 0) for p in prev_b if p not in b]
        deltas += [(Side.SELL, p, 0) for p in prev_a if p not in a]
        deltas += [(Side.BUY, p, s) for p, s in b.items() if prev_b.get(p) != s]
        deltas += [(Side.SELL, p, s) for p, s in a.items() if prev_a.get(p) != s]
        prev_b, prev_a = b, a
    return [snapshot], deltas


def bench_book() -> dict[str, object]:
    (snapshot,), deltas = lobster_deltas()

    def run() -> None:
        book = L2Book("AMZN")
        book.apply_snapshot(*snapshot)
        apply = book.apply_delta
        for side, price, size in deltas:
            apply(side, price, size)

    secs = best_of(run)
    return {
        "case": "L2 delta apply (LOBSTER AMZN L5)",
        "ops": len(deltas),
        "ops_per_s": len(deltas) / secs,
        "us_per_op": secs / len(deltas) * 1e6,
        "goal_ops_per_s": 500_000,
        "meets_goal": len(deltas) / secs >= 500_000,
    }


def bench_reconciler() -> dict[str, object]:
    rng = np.random.default_rng(7)
    cases = []
    for i in range(2_000):
        live = []
        for j in range(int(rng.integers(0, 6))):
            o = ChildOrder(
                f"L{i}-{j}", "AMZN", Side.BUY, 100, int(rng.integers(9_990, 10_000)), created_ns=j
            )
            o.status = OrdStatus.NEW
            live.append(o)
        desired = [
            DesiredOrder(Side.BUY, int(rng.integers(9_990, 10_000)), 100)
            for _ in range(int(rng.integers(0, 4)))
        ]
        cases.append((desired, live))

    def run() -> None:
        for desired, live in cases:
            reconcile(desired, live)

    secs = best_of(run)
    return {
        "case": "reconcile (0-5 live, 0-3 desired)",
        "ops": len(cases),
        "ops_per_s": len(cases) / secs,
        "us_per_op": secs / len(cases) * 1e6,
    }


def main() -> None:
    pinned = pin_one_core()
    rows = [bench_book(), bench_reconciler()]
    report("core_bench", rows, {"affinity": pinned})


if __name__ == "__main__":
    main()

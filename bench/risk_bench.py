"""Latency of the pre-trade risk overlay's full check chain, per request.

Times one call of ``check_new`` / ``check_replace`` / ``check_cancel`` at a time with
``perf_counter_ns`` on a warmed-up overlay holding a realistic state (a live book
refreshed before every request, market prints, a filled position, resting orders on
both sides), and releases each approved order with the venue's report between timed
calls so the state stays steady. Book updates and reports are not timed: they are not
on the order path.

Chains: ``new_limit`` and ``new_market`` (approved new orders), ``replace`` (approved
price/size amendment), ``cancel``, and, for information, ``new_denied`` (a collar
denial, which logs). The goal is p99 <= 10 us for the approved chains on one core.

Run: ``python bench/risk_bench.py [--n 20000]``; pins itself to one core where the OS
allows, prints a table and writes ``bench/results/risk_bench.json``; exits 1 if the
goal is missed. The machine is shared and noisy: compare chains within one run rather
than runs with each other.

``--instructions`` adds, per chain, the CPU instructions one call executes, counted by
valgrind's callgrind (only inside the timed call, which a child run wraps in
``operator.call`` so callgrind can switch counting on and off around it). The count does
not depend on what else the machine runs, so it compares two versions of the overlay
exactly where wall-clock percentiles on a loaded machine cannot: run this script once
with each ``risk`` on ``PYTHONPATH``. Needs ``valgrind`` and a Python whose
``_operator_call`` symbol callgrind can see; otherwise the column says why not.
"""

from __future__ import annotations

import argparse
import gc
import io
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from _common import percentiles, pin_one_core, report

from core.book import L2Book
from core.events import ExecReport
from core.instruments import Instrument
from core.log import configure
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, OrdType, Side
from risk import RiskLimitsConfig, RiskOverlay
from risk.approval import Approved

GOAL_P99_NS = 10_000
GOAL_CHAINS = ("new_limit", "new_market", "replace", "cancel")
STEP_NS = 20_000_000  # 20 ms between requests: rates stay far from their limits
SYMBOL = "AMZN"
_perf = time.perf_counter_ns


def _overlay(tmp: Path, *, resting: bool) -> tuple[RiskOverlay, L2Book, list[int]]:
    cfg = RiskLimitsConfig(
        allowed_symbols=(SYMBOL, "AAPL"),
        max_order_qty=10_000,
        max_order_notional=Decimal("1000000"),
        max_position=100_000,
        max_open_orders=100,
        max_open_orders_per_symbol=50,
        orders_per_second=200,
        orders_per_minute=6_000,
        cancels_per_second=400,
        cancels_per_minute=12_000,
    )
    now = [1_700_000_000_000_000_000]
    ov = RiskOverlay.from_config(
        cfg,
        [Instrument(SYMBOL), Instrument("AAPL")],
        state_path=str(tmp / "kill_switch.json"),
        reset_key=os.urandom(32),
        now_ns=now[0],
        node_id="bench",
    )
    book = L2Book(SYMBOL)
    book.apply_snapshot(
        [(10_000 - i, 300 + 10 * i) for i in range(10)],
        [(10_002 + i, 300 + 10 * i) for i in range(10)],
        now[0],
    )
    ov.set_market_open(True, now[0])
    ov.on_book(SYMBOL, book, now[0])
    ov.on_market_trade(SYMBOL, 5_000_000, now[0])
    # a position and (but for market orders, which may not cross them) resting orders on
    # both sides, as mid-way through a parent order
    for i, (side, px) in enumerate(((Side.BUY, 9_990), (Side.SELL, 10_012), (Side.BUY, 9_985))):
        if resting:
            a = ov.check_new(NewOrderRequest(f"REST{i}", SYMBOL, side, 200, px), now[0])
            assert isinstance(a, Approved), a
    ov.adopt_position(SYMBOL, 1_500, 9_995, now[0])
    return ov, book, now


def _report(
    cl_ord_id: str, et: ExecType, st: OrdStatus, side: Side, ts: int, **kw: Any
) -> ExecReport:
    return ExecReport(cl_ord_id, f"E{cl_ord_id}{et.value}", et, st, SYMBOL, side, 0, 0, 0, ts, **kw)


TIMED = {  # the overlay method each chain times
    "new_limit": "check_new",
    "new_market": "check_new",
    "replace": "check_replace",
    "cancel": "check_cancel",
    "new_denied": "check_new",
}
_TOGGLE = "_operator_call"  # the C function callgrind counts inside (operator.call)


def _chain(kind: str, n: int, warmup: int, *, count_instructions: bool = False) -> list[int]:
    with tempfile.TemporaryDirectory() as tmp:
        ov, book, now = _overlay(Path(tmp), resting=kind != "new_market")
        if count_instructions:  # only the timed method goes through operator.call
            name = TIMED[kind]
            setattr(ov, name, partial(operator.call, getattr(ov, name)))
        samples: list[int] = []
        for i in range(n + warmup):
            now[0] += STEP_NS
            t = now[0]
            ov.on_book(SYMBOL, book, t)  # freshness, as the market-data feed would
            if i % 50 == 0:
                ov.on_market_trade(SYMBOL, 5_000, t)
            side = Side.BUY if i % 2 else Side.SELL
            cid = f"B{i}"
            if kind == "new_limit":
                req = NewOrderRequest(cid, SYMBOL, side, 100, 9_995 if side is Side.BUY else 10_007)
                t0 = _perf()
                res: object = ov.check_new(req, t)
                dt = _perf() - t0
                ov.on_exec_report(_report(cid, ExecType.CANCELED, OrdStatus.CANCELED, side, t))
            elif kind == "new_market":
                req = NewOrderRequest(cid, SYMBOL, side, 50, None, OrdType.MARKET)
                t0 = _perf()
                res = ov.check_new(req, t)
                dt = _perf() - t0
                ov.on_exec_report(_report(cid, ExecType.CANCELED, OrdStatus.CANCELED, side, t))
            elif kind == "replace":
                px = 9_995 if side is Side.BUY else 10_007
                first = ov.check_new(NewOrderRequest(cid, SYMBOL, side, 100, px), t)
                assert isinstance(first, Approved), first
                rep = ReplaceRequest(f"R{i}", cid, SYMBOL, side, 150, px - side.sign)
                t0 = _perf()
                res = ov.check_replace(rep, t)
                dt = _perf() - t0
                ov.on_exec_report(
                    _report(f"R{i}", ExecType.REPLACED, OrdStatus.NEW, side, t, orig_cl_ord_id=cid)
                )
                ov.on_exec_report(_report(f"R{i}", ExecType.CANCELED, OrdStatus.CANCELED, side, t))
            elif kind == "cancel":
                px = 9_995 if side is Side.BUY else 10_007
                first = ov.check_new(NewOrderRequest(cid, SYMBOL, side, 100, px), t)
                assert isinstance(first, Approved), first
                creq = CancelRequest(f"X{i}", cid, SYMBOL, side, 100)
                t0 = _perf()
                res = ov.check_cancel(creq, t)
                dt = _perf() - t0
                ov.on_exec_report(
                    _report(
                        f"X{i}", ExecType.CANCELED, OrdStatus.CANCELED, side, t, orig_cl_ord_id=cid
                    )
                )
            elif kind == "new_denied":
                req = NewOrderRequest(cid, SYMBOL, side, 100, 20_000)  # far outside the collar
                t0 = _perf()
                res = ov.check_new(req, t)
                dt = _perf() - t0
            else:
                raise ValueError(kind)
            if kind == "new_denied":
                assert not isinstance(res, Approved), res
            else:
                assert isinstance(res, Approved), res
            if i >= warmup:
                samples.append(dt)
        return samples


def _timer_overhead(n: int = 100_000) -> int:
    s = []
    for _ in range(n):
        t0 = _perf()
        s.append(_perf() - t0)
    s.sort()
    return s[len(s) // 2]


def _instructions(kind: str, n: int) -> float | str:
    """Instructions per timed call of ``kind``, from a callgrind child run; or why not."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return "no valgrind"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            valgrind,
            "--tool=callgrind",
            "--collect-atstart=no",
            f"--toggle-collect={_TOGGLE}",
            f"--callgrind-out-file={tmp}/callgrind.out",
            sys.executable,
            __file__,
            "--instructions-of",
            kind,
            "--n",
            str(n),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        return f"callgrind failed ({done.returncode})"
    if int(found[1]) == 0:
        return f"no {_TOGGLE} symbol"
    return int(found[1]) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=20_000, help="timed requests per chain")
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument(
        "--instructions", action="store_true", help="add instructions per call (callgrind)"
    )
    parser.add_argument(
        "--instructions-n", type=int, default=2_000, help="calls per chain under callgrind"
    )
    parser.add_argument("--instructions-of", help=argparse.SUPPRESS)  # the callgrind child
    args = parser.parse_args(argv)
    configure("json", "INFO", io.StringIO())  # denials log; keep the terminal for the table
    if args.instructions_of:
        _chain(args.instructions_of, args.n, 0, count_instructions=True)
        return 0
    pinned = pin_one_core()
    rows: list[dict[str, Any]] = []
    for kind in ("new_limit", "new_market", "replace", "cancel", "new_denied"):
        gc.collect()
        samples = _chain(kind, args.n, args.warmup)
        stats = percentiles(samples)
        goal = kind in GOAL_CHAINS
        rows.append(
            {
                "chain": kind,
                "n": len(samples),
                "mean_us": sum(samples) / len(samples) / 1000,
                **stats,
                "goal_p99_us": GOAL_P99_NS / 1000 if goal else "-",
                "meets_goal": stats["p99_us"] * 1000 <= GOAL_P99_NS if goal else "-",
            }
        )
        if args.instructions:
            rows[-1]["instr_per_call"] = _instructions(kind, args.instructions_n)
    ok = all(r["meets_goal"] is True for r in rows if r["chain"] in GOAL_CHAINS)
    overhead = _timer_overhead()
    print(
        f"risk overlay: one check_* call per sample, perf_counter_ns (~{overhead} ns of timer "
        f"overhead included), {pinned}, gc {'on' if gc.isenabled() else 'off'}\n"
    )
    report(
        "risk_bench",
        rows,
        {
            "affinity": pinned,
            "timer_overhead_ns": overhead,
            "gc_enabled": gc.isenabled(),
            "goal": f"p99 <= {GOAL_P99_NS / 1000:g} us for {', '.join(GOAL_CHAINS)}",
            "goal_met": ok,
            "instructions": (
                f"callgrind, {args.instructions_n} calls per chain, PYTHONHASHSEED=0"
                if args.instructions
                else "not counted (--instructions)"
            ),
        },
    )
    print(
        f"goal p99 <= {GOAL_P99_NS / 1000:g} us ({', '.join(GOAL_CHAINS)}): {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""`rlexec demo`: the whole product on one machine, no configuration.

Starts a real redis-server, the exchange replaying the shipped AMZN day (held-out
afternoon hours) at accelerated speed, and the daemon with the committed policy;
submits a parent order through the Redis control plane as a user would; shows its
progress; prints the result next to the backtest of the same parent (the policy and
TWAP, from the live run's own start, on the same replayed day, with the exchange's
impact model): like for like but for timing, which only the live run has (decisions and
orders reach the replay late by the loop's and the network's delay times the replay
speed; ``bench/parity_bench.py`` measures how much that moves the result). Stops
everything it started.

Without --workdir the logs, configs and journal go to a temporary folder that is
removed after a clean run and kept, and named, when anything fails. Exit status: 0 the
parent finished and every process stopped cleanly, 1 something failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from core.helptext import DefaultsHelpFormatter, positive_float, positive_int
from daemon.stack import Stack, StackError, StackSettings
from exchange.config import SHIPPED_LOBSTER, time_of_day_ns

DONE = ("completed", "canceled", "expired")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rlexec demo",
        description=__doc__,
        formatter_class=DefaultsHelpFormatter,
    )
    p.add_argument(
        "--symbol",
        default="AMZN",
        choices=sorted(SHIPPED_LOBSTER),
        help="the shipped LOBSTER day to trade",
    )
    p.add_argument("--side", choices=["buy", "sell"], default="sell", help="parent side")
    p.add_argument("--qty", type=positive_int, default=2_000, help="parent quantity, shares")
    p.add_argument(
        "--minutes", type=positive_float, default=10.0, help="parent horizon (market time)"
    )
    p.add_argument("--speed", type=positive_float, default=30.0, help="replay speed, x real time")
    p.add_argument(
        "--start", type=_replay_start, default="14:15:00", help="replay start (exchange local time)"
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep logs, configs and the journal here (default: a temporary folder, "
        "removed after a clean run, kept and named when something fails)",
    )
    p.add_argument(
        "--no-backtest",
        action="store_true",
        help="skip the in-process comparison (default: run it)",
    )
    return p


def _replay_start(text: str) -> str:
    """HH:MM[:SS] within the shipped day's trading hours (before 16:00)."""
    try:
        at = time_of_day_ns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not time_of_day_ns("09:30") <= at < time_of_day_ns("16:00"):
        raise argparse.ArgumentTypeError(f"{text} is outside the trading day (09:30-16:00)")
    return text


def shown_filled(filled: int, qty: int, state: str) -> int:
    """What the progress bar shows: never the whole quantity while the parent is still
    working (its last fill is in, but it is not done until the daemon says so)."""
    return filled if state in DONE else min(filled, max(0, qty - 1))


def _px(ticks: float) -> str:
    return f"${ticks / 100:,.4f}" if ticks else "-"


async def _work(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    reply = await stack.ctl(
        "submit_parent",
        {
            "symbol": args.symbol,
            "side": args.side,
            "qty": args.qty,
            "duration_s": args.minutes * 60,
            "parent_id": "DEMO-1",
        },
    )
    if not reply.get("ok"):
        raise StackError(f"the daemon refused the parent order: {reply}")
    view: dict[str, Any] = {}
    wall_budget = args.minutes * 60 / args.speed + 60
    deadline = time.monotonic() + wall_budget
    with tqdm(
        total=args.qty,
        unit="sh",
        desc=f"{args.side} {args.symbol}",
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        while time.monotonic() < deadline:
            status = await stack.ctl("status")
            views = [p for p in status["result"]["parents"] if p["parent_id"] == "DEMO-1"]
            if views:
                view = views[0]
                bar.update(shown_filled(view["filled"], args.qty, view["state"]) - bar.n)
                bar.set_postfix(
                    IS_bps=f"{view['shortfall_bps']:.2f}", state=view["state"], refresh=False
                )
                if view["state"] in DONE:
                    break
            await asyncio.sleep(0.2)
    if not view or view["state"] not in DONE:
        raise StackError(
            f"the parent did not finish within {wall_budget:.0f} s of wall time: {view}"
        )
    return view


def _backtest(view: dict[str, Any], args: argparse.Namespace, impact: str) -> list[Comparison]:
    """The same parent (side, size, the live run's own start and horizon) in the backtest:
    the policy and TWAP through the environment on the same replayed day, with the
    exchange's impact model, so the only difference left is timing (module doc)."""
    from core.types import Side
    from daemon.parity import ParentPlan, backtest, committed_config

    config = committed_config(impact=impact)
    start_ns, end_ns = int(view["start_ns"]), int(view["end_ns"])
    side = Side.BUY if args.side == "buy" else Side.SELL
    out = []
    for algo in ("policy", "twap"):
        plan = ParentPlan(
            side, args.qty, start_ns, round((end_ns - start_ns) / 1e9), args.symbol, algo
        )
        trace = backtest(plan, config)
        out.append(
            Comparison(algo if algo == "policy" else "TWAP", trace.is_bps, trace.arrival_mid)
        )
    return out


class Comparison(NamedTuple):
    name: str
    is_bps: float
    arrival_mid: float


def comparison_lines(
    live_bps: float, rows: list[Comparison], *, speed: float, impact: str, latency_us: int
) -> list[str]:
    """What the backtest lines are and what still differs, in words on the screen."""
    lines = [
        "  backtest of the same parent: from the live start, on the same replayed day,",
        f"  with the exchange's impact model ({impact}) and {latency_us} us order latency",
    ]
    for row in rows:
        gap = (
            f"   (live - backtest: {live_bps - row.is_bps:+.2f} bps)"
            if row.name == "policy"
            else ""
        )
        lines.append(f"  {row.name:<15} {row.is_bps:+.2f} bps{gap}")
    lines += [
        f"  live and backtest differ by timing alone: at {speed:g}x the loop's and the network's",
        f"  delays reach the replay {speed:g} times over (bench/parity_bench.py measures it;",
        "  a lock-stepped run matches the backtest order for order)",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scratch = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="rlexec-demo-")) if scratch else args.workdir
    print(
        f"rlexec demo: redis-server + exchange (LOBSTER {args.symbol} from {args.start}, "
        f"{args.speed:g}x) + daemon (committed policy); logs in {workdir}",
        file=sys.stderr,
    )
    rc = _demo(args, workdir)
    if rc != 0:
        print(
            f"rlexec demo: failed; logs, configs and the journal are kept in {workdir}",
            file=sys.stderr,
        )
    elif scratch:
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


def _demo(args: argparse.Namespace, workdir: Path) -> int:
    stack = Stack(
        StackSettings(
            workdir,
            symbol=args.symbol,
            levels=SHIPPED_LOBSTER[args.symbol],
            replay_start=args.start,
            speed=args.speed,
        )
    )
    view: dict[str, Any] = {}
    try:
        stack.start()
        print(
            f"daemon ready; submitting: {args.side} {args.qty:,} {args.symbol} within "
            f"{args.minutes:g} minutes (through the Redis control plane)",
            file=sys.stderr,
        )
        view = asyncio.run(_work(stack, args))
    except StackError as exc:
        print(f"rlexec demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        codes = stack.close()
    rc = 0
    bad = {k: v for k, v in codes.items() if v not in (0, -15)}
    if codes.get("daemon") != 0:
        print(f"rlexec demo: daemon exited with {codes.get('daemon')}", file=sys.stderr)
        rc = 1
    comparison: list[Comparison] = []
    if not args.no_backtest:
        from core import log as logs

        logs.configure("console", "WARNING")  # the in-process replay is quiet
        comparison = _backtest(view, args, stack.s.impact)
    print()
    print(
        f"parent {view['parent_id']}: {args.side} {view['qty']:,} {args.symbol}, "
        f"{args.minutes:g} min, state {view['state']}"
    )
    print(f"  filled          {view['filled']:,} / {view['qty']:,}")
    print(f"  arrival mid     {_px(view['arrival_mid'])}")
    print(f"  average price   {_px(view['avg_px'])}")
    print(
        f"  shortfall       {view['shortfall_bps']:+.2f} bps vs arrival (positive = cost)  [live, over FIX, replay at {args.speed:g}x]"
    )
    if comparison:
        from daemon.parity import committed_config

        lines = comparison_lines(
            view["shortfall_bps"],
            comparison,
            speed=args.speed,
            impact=stack.s.impact,
            latency_us=committed_config().latency_us,
        )
        print("\n".join(lines))
    if bad:
        print(f"  (processes exited with {bad})")
    return rc


if __name__ == "__main__":
    sys.exit(main())

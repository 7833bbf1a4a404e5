"""Exchange benchmark: LOBSTER replay throughput and matching-engine operation rates.

    python bench/exchange_bench.py [--repeat 5] [--out bench/results/exchange_bench.json]

Measures CPU time of this (single-threaded) process, best of ``--repeat`` runs, so
other work on a shared machine disturbs the figures less; still, compare ratios within
one run. Each run also times the barest possible replay (two dicts of level sizes,
no orders, no checks) over the same pre-parsed messages, as a yardstick for how much
the order-by-order book costs.


- replay: LOBSTER messages per second through the matching engine's book, book
  checks off, on the shipped AMZN files (goal: >= 500,000/s), also with market-data
  publishing on;
- engine: add / cancel / execute operations per second through the request API (with
  ExecReports) and through the background-flow API (no reports);
- simulators: environment-style steps per second (advance one second, a child order
  every tenth step) for the replay simulator and the synthetic flow.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.instruments import Instrument
from core.requests import CancelRequest, NewOrderRequest
from core.types import OrdType, Side, TimeInForce
from exchange.data import lobster_message_file
from exchange.engine import CollectingMarketData, CollectingReports, EngineConfig, MatchingEngine
from exchange.flow.model import load_params, regime
from exchange.flow.simulator import SyntheticSimulator
from exchange.replay import LobsterReplayer, ReplaySimulator, default_impact, load_day

NS = 1_000_000_000


def best_of(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def bench_replay(levels: int, repeat: int, publish: bool) -> dict[str, Any]:
    day = load_day(lobster_message_file("AMZN", "2012-06-21", levels))
    md = CollectingMarketData() if publish else None
    engine = MatchingEngine([Instrument("AMZN")], CollectingReports(), md)
    rp = LobsterReplayer(day, engine)

    def once() -> float:
        rp.seed(0)
        if md is not None:
            md.events.clear()
        t = time.process_time()
        rp.run_to(len(day))
        return time.process_time() - t

    secs = best_of(repeat, once)
    n = len(day) - 1
    return {"messages": n, "seconds": round(secs, 4), "messages_per_s": round(n / secs)}


def bench_bare_dict_loop(levels: int, repeat: int) -> dict[str, Any]:
    """The yardstick: price-level sizes in two dicts, no orders, no checks."""
    day = load_day(lobster_message_file("AMZN", "2012-06-21", levels))
    rows = day.rows

    def once() -> float:
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        t = time.process_time()
        for _, typ, _, q, p, s in rows:
            lv = bids if s == 1 else asks
            if typ == 1:
                lv[p] = lv.get(p, 0) + q
            elif typ <= 4:
                left = lv.get(p, 0) - q
                if left > 0:
                    lv[p] = left
                else:
                    lv.pop(p, None)
        return time.process_time() - t

    secs = best_of(repeat, once)
    return {
        "messages": len(rows),
        "seconds": round(secs, 4),
        "messages_per_s": round(len(rows) / secs),
    }


def bench_engine_requests(n: int, repeat: int) -> dict[str, float]:
    def run() -> tuple[float, float, float]:
        engine = MatchingEngine(
            [Instrument("AMZN")], CollectingReports(), None, EngineConfig(price_band_bps=None)
        )
        t = time.process_time()
        for i in range(n):
            engine.new_order(
                NewOrderRequest(f"a{i}", "AMZN", Side.BUY, 100, 10_000 - i % 50), "s", i
            )
        add = time.process_time() - t
        t = time.process_time()
        for i in range(n):
            engine.cancel(CancelRequest(f"c{i}", f"a{i}", "AMZN", Side.BUY, 100), "s", i)
        cancel = time.process_time() - t
        for i in range(n):
            engine.background_order("AMZN", 1, 10_000 - i % 50, 100, key=i + 1, ts_ns=i)
        t = time.process_time()
        for i in range(n):
            engine.new_order(
                NewOrderRequest(
                    f"x{i}",
                    "AMZN",
                    Side.SELL,
                    100,
                    None,
                    ord_type=OrdType.MARKET,
                    tif=TimeInForce.IOC,
                ),
                "s",
                i,
            )
        execute = time.process_time() - t
        return add, cancel, execute

    runs = [run() for _ in range(repeat)]
    return {
        "add_per_s": round(n / min(r[0] for r in runs)),
        "cancel_per_s": round(n / min(r[1] for r in runs)),
        "execute_per_s": round(n / min(r[2] for r in runs)),
    }


def bench_engine_background(n: int, repeat: int) -> dict[str, float]:
    def run() -> tuple[float, float, float]:
        engine = MatchingEngine([Instrument("AMZN")], CollectingReports())
        t = time.process_time()
        for i in range(n):
            engine.background_order("AMZN", 1, 10_000 - i % 50, 100, key=i + 1, ts_ns=i)
        add = time.process_time() - t
        t = time.process_time()
        for i in range(0, n, 2):
            engine.background_cancel("AMZN", 1, 10_000 - i % 50, key=i + 1, qty=100, ts_ns=i)
        cancel = (time.process_time() - t) * 2
        t = time.process_time()
        for i in range(n // 2):
            engine.background_order("AMZN", -1, None, 100, key=n + i + 1, ts_ns=i)
        execute = (time.process_time() - t) * 2
        return add, cancel, execute

    runs = [run() for _ in range(repeat)]
    return {
        "add_per_s": round(n / min(r[0] for r in runs)),
        "cancel_per_s": round(n / min(r[1] for r in runs)),
        "execute_per_s": round(n / min(r[2] for r in runs)),
    }


def env_steps(sim: Any, steps: int) -> float:
    """Seconds for ``steps`` one-second steps with a small child order every tenth."""
    rng = random.Random(1)
    t = time.process_time()
    for k in range(steps):
        if k % 10 == 0 and sim.book.best_bid:
            side = rng.choice([Side.BUY, Side.SELL])
            px = sim.book.best_bid if side is Side.BUY else sim.book.best_ask
            sim.send(NewOrderRequest(f"c{k}", sim.symbol, side, 100, px))
        sim.advance_to(sim.now_ns + NS)
    return time.process_time() - t


def bench_simulators(steps: int, repeat: int) -> dict[str, Any]:
    day = load_day(lobster_message_file("AMZN", "2012-06-21", 5))
    out: dict[str, Any] = {}
    for kind in ("none", "transient", "sqrt"):
        sim = ReplaySimulator(day, impact=default_impact(kind, "AMZN"))

        def once(sim: ReplaySimulator = sim) -> float:
            sim.reset(day.start_ns + 3600 * NS, day.start_ns + 3600 * NS + steps * NS, seed=1)
            return env_steps(sim, steps)

        out[f"replay_impact_{kind}_steps_per_s"] = round(steps / best_of(repeat, once))
    syn = SyntheticSimulator(load_params("AMZN"), regime=regime("calm"))

    def once_syn() -> float:
        syn.reset(seed=1)
        return env_steps(syn, steps)

    out["synthetic_calm_steps_per_s"] = round(steps / best_of(repeat, once_syn))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ops", type=int, default=50_000)
    ap.add_argument("--steps", type=int, default=3_000)
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "exchange_bench.json"
    )
    args = ap.parse_args(argv)
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "replay": {
            "amzn_level5": bench_replay(5, args.repeat, publish=False),
            "amzn_level1": bench_replay(1, args.repeat, publish=False),
            "amzn_level5_publishing_md": bench_replay(5, max(1, args.repeat // 2), publish=True),
            "bare_dict_loop_amzn_level5": bench_bare_dict_loop(5, args.repeat),
        },
        "engine_requests": bench_engine_requests(args.ops, args.repeat),
        "engine_background": bench_engine_background(args.ops, args.repeat),
        "simulators": bench_simulators(args.steps, args.repeat),
    }
    goal = 500_000
    rp = results["replay"]
    ratio = rp["amzn_level5"]["messages_per_s"] / rp["bare_dict_loop_amzn_level5"]["messages_per_s"]
    rp["ratio_to_bare_dict_loop"] = round(ratio, 3)
    rp["goal_messages_per_s"] = goal
    rp["goal_met"] = rp["amzn_level5"]["messages_per_s"] >= goal
    rows = [
        ("replay AMZN L5 (msgs/s)", results["replay"]["amzn_level5"]["messages_per_s"]),
        ("replay AMZN L1 (msgs/s)", results["replay"]["amzn_level1"]["messages_per_s"]),
        (
            "replay AMZN L5 + market data (msgs/s)",
            results["replay"]["amzn_level5_publishing_md"]["messages_per_s"],
        ),
        (
            "bare dict-of-levels loop AMZN L5 (msgs/s)",
            rp["bare_dict_loop_amzn_level5"]["messages_per_s"],
        ),
    ]
    for group in ("engine_requests", "engine_background", "simulators"):
        rows += [(f"{group}: {k}", v) for k, v in results[group].items()]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>12,}")
    print(f"goal {goal:,} replayed msgs/s (AMZN L5) met: {rp['goal_met']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

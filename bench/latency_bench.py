"""Daemon hot path: tick-to-order latency and the market-data rate it keeps up with.

(a) Tick to order: the real exchange process replays AMZN (level 5) over loopback; the
    daemon's Node runs in this process with the committed policy deciding on every book
    update (``decide_on = "book"``). A sample is taken for every NewOrderSingle: from
    the moment the market-data frame that prompted the decision reached the client
    (before decoding) to the moment the order was written to the FIX socket. It
    includes decode, book update, risk's book refresh, the event-loop hop to the
    parent's task, features, inference, reconciliation, the risk check, the journal
    write (SQLite WAL) and FIX encoding.
    Measured twice, alternating: with the event loop sleeping when idle (the default)
    and with ``[node] busy_poll`` (the loop never sleeps; see daemon/busy_poll.py).
(b) Throughput: a publisher in a child process sends book deltas as fast as it can;
    the Node consumes them through the same path as (a) minus deciding (decisions on
    their timer), and we report the rate and whether it ever fell behind (gaps).

Goals (issue 5): p50 <= 60 us, p99 <= 300 us; >= 100,000 book updates per second.
Run: python bench/latency_bench.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentiles, report

from core.config import load
from daemon.config import DaemonConfig
from daemon.control.commands import SubmitParent
from daemon.node import Node
from daemon.stack import Stack, StackSettings

REPO = Path(__file__).resolve().parents[1]


def _node_config(tmp: Path, env: dict[str, str]) -> DaemonConfig:
    base = {
        "RLEXEC__NODE__DATA_DIR": str(tmp / "daemon"),
        "RLEXEC__REDIS__ENABLED": "false",
        "RLEXEC__HTTP__PORT": "0",
        "RLEXEC__LOGGING__LEVEL": "WARNING",
        "RLEXEC__RISK__PARTICIPATION_BPS": "5000",
        "RLEXEC__RISK__PARTICIPATION_WINDOW_S": "600",
    }
    return load(DaemonConfig, None, env={**base, **env})


def replay_node_config(tmp: Path, stack: Stack, speed: float, env: dict[str, str]) -> DaemonConfig:
    """The node of the tick-to-order runs: the exchange's replay of AMZN at ``speed``,
    deciding on every book frame."""
    return _node_config(
        tmp,
        {
            "RLEXEC__FIX__PORT": str(stack.fix_port),
            "RLEXEC__MARKETDATA__URL": f"ws://127.0.0.1:{stack.md_port}/md",
            "RLEXEC__CLOCK__MODE": "scaled",
            "RLEXEC__CLOCK__SPEED": str(speed),
            "RLEXEC__EXECUTION__DECIDE_ON": "book",
            "RLEXEC__INSTRUMENTS": '[{symbol = "AMZN"}]',
            "RLEXEC__RISK__ALLOWED_SYMBOLS": '["AMZN"]',
            **env,
        },
    )


async def tick_to_order(seconds: float, busy_poll: bool) -> tuple[list[int], int]:
    """Order latencies (ns) and book updates seen, one exchange + node run."""
    from core import log as logs

    logs.configure("console", "ERROR")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        speed = 30.0
        stack = Stack(StackSettings(tmp, speed=speed, replay_start="14:15:00"))
        stack.start_exchange()
        try:
            cfg = replay_node_config(
                tmp, stack, speed, {"RLEXEC__NODE__BUSY_POLL": "true" if busy_poll else "false"}
            )
            node = Node(cfg)
            await node.start()
            while not node.recovered or node.halts:
                await asyncio.sleep(0.05)
            # One parent, as a desk usually runs per symbol; the policy re-prices on moves.
            for pid, side in (("LAT-S", "sell"),):
                await node.submit_parent(
                    pid, SubmitParent(symbol="AMZN", side=side, qty=3_000, duration_s=900)
                )
            await asyncio.sleep(seconds)
            samples = list(node.latency_samples)
            updates = node.md.stats.updates
            await node.stop()
        finally:
            stack.close()
    return samples, updates


def tick_to_order_rows(seconds: float, rounds: int) -> list[dict[str, object]]:
    """Both loop modes, alternated over ``rounds`` so each sees the same machine."""
    modes = {False: "loop sleeps when idle (default)", True: "busy poll ([node] busy_poll)"}
    got: dict[bool, tuple[list[int], int]] = {m: ([], 0) for m in modes}
    for _ in range(rounds):
        for mode in modes:
            samples, updates = asyncio.run(tick_to_order(seconds / rounds, mode))
            got[mode] = (got[mode][0] + samples, got[mode][1] + updates)
    rows: list[dict[str, object]] = []
    for mode, label in modes.items():
        samples, updates = got[mode]
        if not samples:
            raise SystemExit(f"no orders were sent ({label}): nothing to time")
        rows.append(
            {
                "case": f"tick to order (MD frame in -> NewOrderSingle on the FIX socket), {label}",
                "samples": len(samples),
                "book_updates": updates,
                **percentiles(samples),
                "goal": "p50 <= 60 us, p99 <= 300 us",
            }
        )
    return rows


_PUBLISHER = r"""
import asyncio, sys
from core.clock import WallClock
from core.instruments import Instrument
from core.types import Side
from exchange.service.md_publisher import MarketDataPublisher

async def main(n):
    pub = MarketDataPublisher({"AMZN": Instrument("AMZN")}, clock=WallClock(),
                              queue_limit=10**7, heartbeat_s=0.5, max_batch=100)
    pub.publish_snapshot("AMZN", [(22000 - i, 100) for i in range(10)],
                         [(22001 + i, 100) for i in range(10)], 0)
    port = await pub.start(port=0)
    print(port, flush=True)
    while not pub.stats.clients or not any(pub._subscribers["AMZN"]):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    for i in range(1, n + 1):
        lvl = i % 10
        if i % 2:
            pub.publish_delta("AMZN", [(Side.BUY, 22000 - lvl, 100 + i % 50)], i)
        else:
            pub.publish_delta("AMZN", [(Side.SELL, 22001 + lvl, 100 + i % 50)], i)
        if i % 2000 == 0:
            await asyncio.sleep(0)
    await asyncio.sleep(60)

asyncio.run(main(int(sys.argv[1])))
"""


async def throughput(n: int) -> dict[str, object]:
    from core import log as logs

    logs.configure("console", "ERROR")
    proc = subprocess.Popen(
        [sys.executable, "-c", _PUBLISHER, str(n)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with tempfile.TemporaryDirectory() as d:
            cfg = _node_config(
                Path(d),
                {
                    "RLEXEC__FIX__PORT": "1",  # no venue: only the market-data path runs
                    "RLEXEC__MARKETDATA__URL": f"ws://127.0.0.1:{port}/md",
                    "RLEXEC__MARKETDATA__STALE_AFTER_S": "30",
                    "RLEXEC__INSTRUMENTS": '[{symbol = "AMZN"}]',
                    "RLEXEC__RISK__ALLOWED_SYMBOLS": '["AMZN"]',
                },
            )
            node = Node(cfg)
            await node.start()
            first = last = 0.0
            seen = 0
            while seen < n:
                await asyncio.sleep(0.001)
                seen = node.md.stats.updates
                now = time.perf_counter()
                if seen and not first:
                    first = now
                if seen:
                    last = now
                if first and now - first > 120:
                    break
            stats = node.md.stats
            await node.stop()
    finally:
        proc.kill()
        proc.wait()
    secs = last - first
    return {
        "case": "book updates through the daemon (publisher in a child process)",
        "updates": stats.updates,
        "updates_per_s": stats.updates / secs if secs else 0.0,
        "gaps": stats.gaps,
        "resubscribes": stats.resubscribes,
        "goal": ">= 100,000 / s, no gaps",
    }


def main() -> None:
    seconds = float(os.environ.get("LATENCY_BENCH_SECONDS", "40"))
    rows = [*tick_to_order_rows(seconds, rounds=2), asyncio.run(throughput(300_000))]
    report("latency_bench", rows)


if __name__ == "__main__":
    main()

"""Load: 50 parents across 10 symbols at once, market data at 10 x the busiest LOBSTER
minute, against the real exchange process; and the same deployment unloaded.

Ten symbols from the shipped LOBSTER days: AMZN (level 5) and AAPL (level 1) and four
aliases of each (the same day's file under another ticker name), replayed from 15:50
(the busiest minutes of the day) in one exchange process. The busiest minute is read
from the AMZN file (15:59, 2,074 messages); the pace is set so the ten feeds together
carry ten times that. The daemon runs as its own process (``rlexec run``, Redis control
plane, decisions on every book frame); parents arrive through ``rlexec ctl``'s client.

Two runs in one sitting, same machine:
  unloaded  10 parents (one per symbol: no parent waits behind another), the feed at
            1/10 of that pace (1 x the busiest minute);
  loaded    50 parents (5 per symbol, alternating buy and sell), the full pace.

Measured from the daemon's own /metrics (what an operator sees): tick to order and
decision lag (histogram quantiles, interpolated within buckets as Prometheus does),
event-loop lag (sampled every second), book updates per second, decisions skipped
because a newer book arrived first (``rlexec_decisions_skipped_total``); from the
kernel: bytes waiting in the daemon's market-data socket (backlog) every second, and
per process (daemon, exchange, redis) memory and CPU, and how long the daemon was ready
to run but waited for a CPU (the machine's other load, which no code of ours removes).

Goal (issue 21): loaded p99 tick to order <= 3 x unloaded p99; no growing backlog.
Run: python bench/load_bench.py  [--seconds 90]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import report
from _procs import bucket_quantile as quantile
from _procs import gauge, histogram_buckets, process_figures, scrape

from daemon.stack import Stack, StackSettings
from gateways.marketdata.lobster import read_messages

REPO = Path(__file__).resolve().parents[1]
LOBSTER = REPO / "data" / "lobster"
DAY = "2012-06-21_34200000_57600000"
SOURCES = {
    "AMZN": ("AMZN", 5),
    "AAPL": ("AAPL", 1),
    **{f"AMZ{i}": ("AMZN", 5) for i in range(1, 5)},
    **{f"APL{i}": ("AAPL", 1) for i in range(1, 5)},
}
START, END = "15:50:00", "16:00:00"


def message_file(ticker: str, levels: int) -> Path:
    return LOBSTER / f"{ticker}_2012-06-21_{levels}" / f"{ticker}_{DAY}_message_{levels}.csv.gz"


def busiest_minute() -> tuple[str, int]:
    m = read_messages(message_file("AMZN", 5))
    minutes, counts = np.unique(m.ts_ns // 60_000_000_000, return_counts=True)
    i = int(counts.argmax())
    return f"{int(minutes[i]) // 60:02d}:{int(minutes[i]) % 60:02d}", int(counts[i])


def window_rate() -> float:
    """Messages per market second of all ten feeds together over the replay window."""
    total = 0
    lo, hi = (_tod(START), _tod(END))
    for ticker, levels in SOURCES.values():
        ts = read_messages(message_file(ticker, levels)).ts_ns % 86_400_000_000_000
        total += int(((ts >= lo) & (ts < hi)).sum())
    return total / ((hi - lo) / 1e9)


def _tod(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return ((h * 60 + m) * 60 + s) * 1_000_000_000


class TenSymbolStack(Stack):
    """The stack of daemon/stack.py with ten symbols served by one exchange."""

    def __init__(self, settings: StackSettings) -> None:
        super().__init__(settings)
        self.data = self.dir / "lobster"
        self.data.mkdir(parents=True, exist_ok=True)
        for symbol, (ticker, levels) in SOURCES.items():
            for kind in ("message", "orderbook"):
                src = message_file(ticker, levels).with_name(
                    f"{ticker}_{DAY}_{kind}_{levels}.csv.gz"
                )
                link = self.data / f"{symbol}_{DAY}_{kind}_{levels}.csv.gz"
                if not link.exists():  # a copy: the reader resolves links to the real name
                    shutil.copyfile(src, link)

    def exchange_toml(self) -> str:
        head = super().exchange_toml().split("[[instruments]]")[0]
        parts = [head]
        for symbol in SOURCES:
            parts.append(f'[[instruments]]\nsymbol = "{symbol}"\n')
        # aliases have no impact calibration of their own; impact does not change the load
        parts.append('[source]\nkind = "lobster"\nimpact = "none"\n')
        for symbol, (_, levels) in SOURCES.items():
            f = self.data / f"{symbol}_{DAY}_message_{levels}.csv.gz"
            parts.append(
                f'[[source.lobster]]\nmessage_file = "{f}"\nstart = "{self.s.replay_start}"\n'
                f'end = "{self.s.replay_end}"\n'
            )
        return "\n".join(parts)

    def daemon_toml(self) -> str:
        text = super().daemon_toml()
        one = f'[[instruments]]\nsymbol = "{self.s.symbol}"\n'
        many = "".join(f'[[instruments]]\nsymbol = "{s}"\n' for s in SOURCES)
        text = text.replace(one, many)
        return text.replace(
            f'allowed_symbols = ["{self.s.symbol}"]',
            "allowed_symbols = [" + ", ".join(f'"{s}"' for s in SOURCES) + "]",
        )


def md_backlog_bytes(pid: int, md_port: int) -> int:
    """Bytes received by the kernel but not yet read by the daemon on its market-data
    connection(s): the queue an overloaded reader leaves behind (/proc/<pid>/net/tcp)."""
    total = 0
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            remote_port = int(f[2].split(":")[1], 16)
            if remote_port == md_port:
                total += int(f[4].split(":")[1], 16)
    return total


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads were ready to run but waited for a CPU
    (/proc/<pid>/task/*/schedstat): what a busy machine adds to every latency."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


async def measure(
    name: str, speed: float, parents: int, seconds: float, workdir: Path
) -> dict[str, Any]:
    stack = TenSymbolStack(
        StackSettings(workdir, speed=speed, replay_start=START, replay_end=END, decide_on="book")
    )
    stack.start()
    try:
        url = f"http://127.0.0.1:{stack.http_port}/metrics"
        symbols = list(SOURCES)
        for i in range(parents):
            reply = await stack.ctl(
                "submit_parent",
                {
                    "symbol": symbols[i % len(symbols)],
                    "side": "buy" if (i // len(symbols)) % 2 == 0 else "sell",
                    "qty": 1_000,
                    "duration_s": 540,
                },
            )
            if not reply.get("ok"):
                raise SystemExit(f"{name}: parent {i} refused: {reply}")
        await asyncio.sleep(3)  # parents reach their arrival mids
        pids = {n: p.popen.pid for n, p in stack.procs.items()}
        first = scrape(url)
        cpu0 = process_figures(pids)
        wait0 = runqueue_wait_s(pids["daemon"])
        t0 = time.monotonic()
        lags, backlog, lag_windows = [], [], []
        prev = first
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(1.0)
            m = scrape(url)
            lags.append(gauge(m, "rlexec_event_loop_lag_seconds") * 1000)
            backlog.append(md_backlog_bytes(pids["daemon"], stack.md_port))
            b0 = histogram_buckets(prev, "rlexec_decision_lag_seconds")
            b1 = histogram_buckets(m, "rlexec_decision_lag_seconds")
            lag_windows.append(quantile(b0, b1, 0.5))
            prev = m
        elapsed = time.monotonic() - t0
        last = scrape(url)
        cpu1 = process_figures(pids)
        waited = runqueue_wait_s(pids["daemon"]) - wait0
        for n, p in stack.procs.items():
            if not p.alive():
                raise SystemExit(f"{name}: {n} died; see {p.log}")
    finally:
        stack.close()
    t2o0 = histogram_buckets(first, "rlexec_tick_to_order_seconds")
    t2o1 = histogram_buckets(last, "rlexec_tick_to_order_seconds")
    dl0 = histogram_buckets(first, "rlexec_decision_lag_seconds")
    dl1 = histogram_buckets(last, "rlexec_decision_lag_seconds")
    updates = gauge(last, "rlexec_md_updates_total") - gauge(first, "rlexec_md_updates_total")
    skipped = gauge(last, "rlexec_decisions_skipped_total") - gauge(
        first, "rlexec_decisions_skipped_total"
    )
    orders = t2o1.get(float("inf"), 0) - t2o0.get(float("inf"), 0)
    decisions = dl1.get(float("inf"), 0) - dl0.get(float("inf"), 0)
    half = len(backlog) // 2
    windows = [w for w in lag_windows if w is not None]
    row: dict[str, Any] = {
        "run": name,
        "parents": parents,
        "speed": round(speed, 3),
        "seconds": round(elapsed, 1),
        "book_updates_per_s": round(updates / elapsed, 1),
        "decisions_per_s": round(decisions / elapsed, 1),
        "decisions_skipped": int(skipped),
        "orders_timed": int(orders),  # samples behind the tick-to-order quantiles
        "t2o_p50_ms": _ms(quantile(t2o0, t2o1, 0.5)),
        "t2o_p99_ms": _ms(quantile(t2o0, t2o1, 0.99)),
        "decision_lag_p50_ms": _ms(quantile(dl0, dl1, 0.5)),
        "decision_lag_p99_ms": _ms(quantile(dl0, dl1, 0.99)),
        "loop_lag_p50_ms": round(statistics.median(lags), 2) if lags else None,
        "loop_lag_max_ms": round(max(lags), 2) if lags else None,
        "md_backlog_first_half_kib": round(statistics.mean(backlog[:half]) / 1024, 1)
        if half
        else None,
        "md_backlog_second_half_kib": round(statistics.mean(backlog[half:]) / 1024, 1)
        if half
        else None,
        "md_backlog_max_kib": round(max(backlog) / 1024, 1) if backlog else None,
        "md_gaps": int(gauge(last, "rlexec_md_gaps_total")),
        "daemon_waited_for_cpu_pct": round(100 * waited / elapsed, 1),
        "decisions_skipped_stale": int(_labelled(last, first, "stale")),
        "decision_lag_p50_first_half_ms": _ms(statistics.mean(windows[: len(windows) // 2]))
        if len(windows) > 1
        else None,
        "decision_lag_p50_second_half_ms": _ms(statistics.mean(windows[len(windows) // 2 :]))
        if len(windows) > 1
        else None,
    }
    row["t2o_histogram"] = _increase(t2o0, t2o1)
    row["decision_lag_histogram"] = _increase(dl0, dl1)
    for proc in cpu1:
        a, b = cpu0.get(proc, {}), cpu1[proc]
        row[f"{proc}_rss_mib"] = round(b["rss_mib"], 1)
        row[f"{proc}_cpu_pct"] = round(100 * (b["cpu_s"] - a.get("cpu_s", 0.0)) / elapsed, 1)
    return row


def _labelled(last: dict[str, Any], first: dict[str, Any], reason: str) -> float:
    def total(m: dict[str, Any]) -> float:
        return sum(
            v
            for lab, v in m.get("rlexec_decisions_skipped_total", [])
            if lab.get("reason") == reason
        )

    return total(last) - total(first)


def _increase(before: dict[float, float], after: dict[float, float]) -> dict[str, int]:
    """Observations per bucket (upper bound in ms) between two scrapes: the histogram."""
    out, prev = {}, 0.0
    for b in sorted(after):
        c = after[b] - before.get(b, 0.0)
        out["inf" if b == float("inf") else f"{b * 1000:g}"] = int(c - prev)
        prev = c
    return out


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 3)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=90.0, help="measured wall seconds per run")
    a = ap.parse_args()
    from core import log as logs

    logs.configure("console", "ERROR")
    when, busiest = busiest_minute()
    rate = window_rate()
    target = 10 * busiest / 60  # messages per second
    speed = target / rate
    rows = []
    with tempfile.TemporaryDirectory(prefix="rlexec-load-") as d:
        rows.append(
            asyncio.run(measure("unloaded", speed / 10, 10, a.seconds, Path(d) / "unloaded"))
        )
        rows.append(asyncio.run(measure("loaded", speed, 50, a.seconds, Path(d) / "loaded")))
    un, lo = rows
    ratio = (lo["t2o_p99_ms"] / un["t2o_p99_ms"]) if un["t2o_p99_ms"] and lo["t2o_p99_ms"] else None
    growing = lo["md_backlog_second_half_kib"] is not None and lo[
        "md_backlog_second_half_kib"
    ] > 2 * max(lo["md_backlog_first_half_kib"], 64.0)
    verdict = {
        "busiest_lobster_minute": f"AMZN {when}: {busiest} messages",
        "target_messages_per_s": round(target, 1),
        "window_messages_per_market_s": round(rate, 1),
        "p99_ratio_loaded_over_unloaded": round(ratio, 2) if ratio else None,
        "p99_within_3x": ratio is not None and ratio <= 3.0,
        "backlog_growing": growing,
        "load_average": os.getloadavg(),
    }
    print(verdict)
    hist = {
        r["run"]: {k: r.pop(k) for k in ("t2o_histogram", "decision_lag_histogram")} for r in rows
    }
    report("load_bench", rows, {"verdict": verdict, "histograms_ms": hist})


if __name__ == "__main__":
    main()

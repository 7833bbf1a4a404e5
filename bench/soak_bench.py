"""Soak: the whole deployment (redis-server, the exchange, the daemon: real processes)
trading for an hour of wall time at accelerated market time, measured every minute.

The exchange replays the AMZN level-5 LOBSTER day at ``--speed`` x (6 x: the 6.5-hour
session in about 65 minutes); the daemon decides on every book frame with the
committed policy. Parents arrive through the real control plane (``rlexec ctl``'s
client over Redis), alternating buy and sell so the position stays near flat, with
two working at any time. Every ``--interval`` seconds we record, per process: resident
memory, open file descriptors and CPU seconds; from the daemon's /metrics: tick to
order p50/p99 over the interval (histogram bucket bounds), orders sent, event-loop
lag; on disk: the journal (journal.db + WAL), the FIX store and message logs.

Verdict (issue 21): after the warm-up (``--warmup`` s), the daemon's memory stays
within +-10 % of its value at the end of the warm-up, and its file descriptors do not
grow. The journal grows by design (append-only, a record per request, report and
state change); its growth rate per order is reported.

Writes bench/results/soak_bench.json and soak_bench.png.
Run:  python bench/soak_bench.py --minutes 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import report
from _procs import bucket_quantile, gauge, histogram_buckets, process_figures, scrape

from daemon.stack import Stack, StackSettings

RESULTS = Path(__file__).resolve().parent / "results"


def _dir_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Soak:
    def __init__(self, stack: Stack, parent_qty: int, parent_s: float) -> None:
        self.stack = stack
        self.parent_qty = parent_qty
        self.parent_s = parent_s
        self.submitted = 0
        self.refused: list[str] = []
        self.died = ""

    async def submit(self) -> None:
        side = "buy" if self.submitted % 2 == 0 else "sell"
        reply = await self.stack.ctl(
            "submit_parent",
            {"symbol": "AMZN", "side": side, "qty": self.parent_qty, "duration_s": self.parent_s},
        )
        self.submitted += 1
        if not reply.get("ok"):
            self.refused.append(str(reply.get("error")))

    def working(self, metrics: dict[str, Any]) -> int:
        return int(gauge(metrics, "rlexec_parents_active"))


def sample(stack: Stack, prev: dict[str, Any], t0: float) -> tuple[dict[str, Any], dict[str, Any]]:
    metrics = scrape(f"http://127.0.0.1:{stack.http_port}/metrics")
    buckets = histogram_buckets(metrics, "rlexec_tick_to_order_seconds")
    pids = {n: p.popen.pid for n, p in stack.procs.items()}
    data = stack.daemon_data
    row: dict[str, Any] = {
        "t_s": round(time.monotonic() - t0, 1),
        "procs": process_figures(pids),
        "t2o_p50_ms": _ms(bucket_quantile(prev.get("buckets", {}), buckets, 0.50)),
        "t2o_p99_ms": _ms(bucket_quantile(prev.get("buckets", {}), buckets, 0.99)),
        "t2o_count": sum(v for lab, v in metrics.get("rlexec_tick_to_order_seconds_count", [])),
        "orders_sent": gauge(metrics, "rlexec_orders_sent_total"),
        "fills": gauge(metrics, "rlexec_fills_total"),
        "loop_lag_ms": gauge(metrics, "rlexec_event_loop_lag_seconds") * 1000,
        "parents_active": gauge(metrics, "rlexec_parents_active"),
        "halted": {
            lab.get("reason", ""): v for lab, v in metrics.get("rlexec_trading_halted", []) if v
        },
        "journal_bytes": _dir_bytes(data / "journal.db") + _dir_bytes(data / "journal.db-wal"),
        "fix_store_bytes": _dir_bytes(data / "fix"),
        "fix_log_bytes": _dir_bytes(data / "fix-log"),
    }
    return row, {"buckets": buckets}


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000


async def run(minutes: float, interval: float, speed: float, workdir: Path) -> list[dict[str, Any]]:
    stack = Stack(
        StackSettings(
            workdir,
            speed=speed,
            replay_start="09:30:00",
            replay_end="16:00:00",
            decide_on="book",
        )
    )
    stack.start()
    rows: list[dict[str, Any]] = []
    try:
        soak = Soak(stack, parent_qty=2_000, parent_s=1_800)
        t0 = time.monotonic()
        end = t0 + minutes * 60
        prev: dict[str, Any] = {}
        _, prev = sample(stack, prev, t0)
        next_sample = t0 + interval
        while time.monotonic() < end:
            metrics = scrape(f"http://127.0.0.1:{stack.http_port}/metrics")
            if soak.working(metrics) < 2:
                try:
                    await soak.submit()
                except Exception as exc:  # a refusal is data, not a reason to stop the soak
                    soak.refused.append(repr(exc))
            if time.monotonic() >= next_sample:
                row, prev = sample(stack, prev, t0)
                row["parents_submitted"] = soak.submitted
                rows.append(row)
                d = row["procs"].get("daemon", {})
                print(
                    f"[{row['t_s'] / 60:5.1f} min] daemon rss {d.get('rss_mib', 0):7.1f} MiB "
                    f"fds {d.get('fds', 0):4.0f}  t2o p50/p99 {row['t2o_p50_ms']}/{row['t2o_p99_ms']} ms  "
                    f"orders {row['orders_sent']:.0f}  journal {row['journal_bytes'] / 2**20:.1f} MiB",
                    flush=True,
                )
                next_sample += interval
                _write(rows, soak, minutes, interval, speed, partial=True)
            for name, proc in stack.procs.items():
                if not proc.alive():
                    tail = proc.log.read_text(errors="replace")[-3000:] if proc.log.exists() else ""
                    soak.died = f"{name} exited with {proc.popen.returncode} at {time.monotonic() - t0:.0f} s"
                    print(f"{soak.died}; the end of {proc.log}:\n{tail}", flush=True)
                    _write(rows, soak, minutes, interval, speed, partial=True)
                    raise RuntimeError(f"{soak.died}; see {proc.log} (the work directory is kept)")
            await asyncio.sleep(2.0)
        _write(rows, soak, minutes, interval, speed, partial=False)
    finally:
        stack.close()
    return rows


def verdict(rows: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    after = [r for r in rows if r["t_s"] >= warmup_s and "daemon" in r["procs"]]
    if len(after) < 2:
        return {"enough_samples": False}
    base = after[0]["procs"]["daemon"]
    rss = [r["procs"]["daemon"]["rss_mib"] for r in after]
    fds = [r["procs"]["daemon"]["fds"] for r in after]
    journal = [r["journal_bytes"] for r in after]
    orders = after[-1]["orders_sent"] - after[0]["orders_sent"]
    dev = [100 * (x - base["rss_mib"]) / base["rss_mib"] for x in rss]
    return {
        "enough_samples": True,
        "warmup_s": warmup_s,
        "daemon_rss_at_warmup_mib": round(base["rss_mib"], 1),
        "daemon_rss_min_max_mib": [round(min(rss), 1), round(max(rss), 1)],
        "daemon_rss_deviation_pct": [round(min(dev), 2), round(max(dev), 2)],
        "memory_within_10pct": max(abs(d) for d in dev) <= 10.0,
        "daemon_fds_at_warmup": fds[0],
        "daemon_fds_max": max(fds),
        "no_fd_growth": max(fds) <= fds[0],
        "journal_growth_bytes": journal[-1] - journal[0],
        "journal_bytes_per_order": round((journal[-1] - journal[0]) / orders, 1)
        if orders
        else None,
    }


def _write(
    rows: list[dict[str, Any]],
    soak: Soak,
    minutes: float,
    interval: float,
    speed: float,
    *,
    partial: bool,
    warmup_s: float = 600.0,
) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": "soak_bench",
        "partial": partial,
        "minutes": minutes,
        "interval_s": interval,
        "market_speed": speed,
        "parents_submitted": soak.submitted,
        "refusals": soak.refused[:20],
        "died": soak.died,
        "verdict": verdict(rows, min(warmup_s, minutes * 60 / 4)),
        "samples": rows,
        "load_average": os.getloadavg(),
    }
    (RESULTS / "soak_bench.json").write_text(json.dumps(payload, indent=2) + "\n")
    if rows:
        plot(rows, RESULTS / "soak_bench.png")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] / 60 for r in rows]
    fig, ax = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for name in ("daemon", "exchange", "redis"):
        ax[0][0].plot(t, [r["procs"].get(name, {}).get("rss_mib") for r in rows], label=name)
        ax[0][1].plot(t, [r["procs"].get(name, {}).get("fds") for r in rows], label=name)
    ax[0][0].set_title("resident memory (MiB)")
    ax[0][1].set_title("open file descriptors")
    ax[1][0].plot(t, [r["t2o_p50_ms"] for r in rows], label="p50")
    ax[1][0].plot(t, [r["t2o_p99_ms"] for r in rows], label="p99")
    ax[1][0].set_title("tick to order per minute (ms, bucket bound)")
    ax[1][1].plot(t, [r["journal_bytes"] / 2**20 for r in rows], label="journal")
    ax[1][1].plot(t, [r["fix_log_bytes"] / 2**20 for r in rows], label="FIX message log")
    ax[1][1].set_title("on disk (MiB)")
    for a in ax.flat:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    for a in ax[1]:
        a.set_xlabel("wall minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=60.0, help="wall minutes (default 60)")
    ap.add_argument(
        "--interval", type=float, default=60.0, help="seconds between samples (default 60)"
    )
    ap.add_argument(
        "--speed", type=float, default=6.0, help="market time per wall second (default 6)"
    )
    ap.add_argument(
        "--warmup", type=float, default=600.0, help="seconds before the verdict's baseline"
    )
    ap.add_argument("--workdir", type=Path, default=None, help="default: a new temp directory")
    a = ap.parse_args()
    # kept afterwards (logs, journal, FIX logs): what to read when a process died
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="rlexec-soak-"))
    print(f"work directory: {workdir}", flush=True)
    rows = asyncio.run(run(a.minutes, a.interval, a.speed, workdir))
    v = verdict(rows, min(a.warmup, a.minutes * 60 / 4))
    table = [
        {
            "minute": round(r["t_s"] / 60, 1),
            "daemon_rss_mib": round(r["procs"].get("daemon", {}).get("rss_mib", 0), 1),
            "daemon_fds": r["procs"].get("daemon", {}).get("fds", 0),
            "t2o_p50_ms": r["t2o_p50_ms"],
            "t2o_p99_ms": r["t2o_p99_ms"],
            "orders": r["orders_sent"],
            "journal_mib": round(r["journal_bytes"] / 2**20, 2),
        }
        for r in rows
    ]
    print(json.dumps(v, indent=2))
    report("soak_bench_table", table, {"verdict": v})


if __name__ == "__main__":
    main()

"""Shared helpers for benchmarks: timing, percentiles, a table and a JSON file per run."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import struct
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(
    samples_ns: Sequence[int], ps: Sequence[float] = (50, 90, 99, 99.9)
) -> dict[str, float]:
    """``p<P>_us`` for each P, and ``max_us``: numpy's percentiles (linear), the one way
    every bench here summarises samples."""
    data = np.asarray(samples_ns, dtype=np.float64)
    out = {f"p{p:g}_us": float(v) / 1000 for p, v in zip(ps, np.percentile(data, ps), strict=True)}
    out["max_us"] = float(data.max()) / 1000
    return out


def pin_one_core() -> str:
    """Run on one core when the OS allows it, so figures read 'per core'."""
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return f"pinned to cpu {min(os.sched_getaffinity(0))}"
    except (AttributeError, OSError):
        return "not pinned"


@contextlib.contextmanager
def cpu_idle_states_limited(max_latency_us: int = 0) -> Iterator[str | None]:
    """Hold a PM QoS request on /dev/cpu_dma_latency while the block runs.

    Why: a vCPU resuming from an idle state costs tens of microseconds here, which a
    ping-pong benchmark on an otherwise quiet machine pays on every message. Latency-
    sensitive hosts keep CPUs out of deep idle states (tuned's latency-performance
    profile holds exactly this request); a benchmark that claims a host-tuned figure
    must say so. Yields None when held, else why it could not be (not root, no device).
    The request lasts as long as the file stays open, and ends with it.
    """
    try:
        fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
    except OSError as exc:
        yield f"not held: {exc.strerror or exc}"
        return
    try:
        os.write(fd, struct.pack("i", max_latency_us))
        yield None
    finally:
        os.close(fd)


def best_of(fn: Any, repeats: int = 5) -> float:
    """Fastest of ``repeats`` runs in seconds: the least disturbed by a noisy machine."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def report(name: str, rows: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    """Print ``rows`` as a table and write them with machine info to results/<name>.json."""
    cols: list[str] = []
    for row in rows:
        cols.extend(k for k in row if k not in cols)
    widths = {c: max(len(c), *(len(_fmt(r.get(c, ""))) for r in rows)) for c in cols}
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-+-".join("-" * widths[c] for c in cols))
    for row in rows:
        print(" | ".join(_fmt(row.get(c, "")).ljust(widths[c]) for c in cols))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rows": rows,
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten {path}")
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)

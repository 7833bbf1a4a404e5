"""What the load and soak benchmarks read off running processes and the /metrics page."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

import psutil
from prometheus_client.parser import text_string_to_metric_families


def process_figures(pids: Mapping[str, int]) -> dict[str, dict[str, float]]:
    """RSS (MiB), open file descriptors and CPU seconds of each named process tree."""
    out: dict[str, dict[str, float]] = {}
    for name, pid in pids.items():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
            rss = fds = cpu = 0.0
            for p in procs:
                with p.oneshot():
                    rss += p.memory_info().rss
                    fds += p.num_fds()
                    t = p.cpu_times()
                    cpu += t.user + t.system
        except psutil.Error:
            continue
        out[name] = {"rss_mib": rss / 2**20, "fds": fds, "cpu_s": cpu}
    return out


def scrape(url: str, timeout: float = 5.0) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample on a /metrics page: name -> [(labels, value)]."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        text = r.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def histogram_buckets(
    metrics: Mapping[str, list[tuple[dict[str, str], float]]], name: str
) -> dict[float, float]:
    """Cumulative bucket counts of histogram ``name`` (upper bound -> count)."""
    return {float(lab["le"]): v for lab, v in metrics.get(f"{name}_bucket", [])}


def bucket_quantile(
    before: Mapping[float, float], after: Mapping[float, float], q: float
) -> float | None:
    """Prometheus' histogram_quantile (interpolated within the bucket) over what was
    observed between two scrapes, in the histogram's unit; None if nothing was."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    prev_b, prev_c = 0.0, 0.0
    for b, c in zip(bounds, counts, strict=True):
        if c >= rank:
            if b == float("inf"):
                return prev_b
            return prev_b + (b - prev_b) * (rank - prev_c) / max(c - prev_c, 1e-12)
        prev_b, prev_c = b, c
    return bounds[-1]


def gauge(metrics: Mapping[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    samples = metrics.get(name, [])
    return sum(v for _, v in samples)

"""Which metrics and labels a PromQL expression uses, and which the daemon exposes.

Why: alert rules and dashboard panels name metrics by string. A typo or a renamed
metric does not fail anywhere; the alert just never fires and the panel shows "No
data", which is found at 3 a.m. This module lets CI compare every name used in
deploy/ with the names daemon/metrics.py and exchange/health.py (the exchange's own
/metrics, scraped as job "exchange") actually register.

The extractor is deliberately small: it strips what cannot hold a metric name (string
literals, label matchers, range selectors, grouping clauses, Grafana variables) and
takes the remaining identifiers that are not functions or keywords. Syntax itself is
checked by promtool (see check_dashboard.py), not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

# Labels Prometheus attaches to every scraped series (the target's labels in
# deploy/prometheus/*.yml), plus the histogram bucket label.
TARGET_LABELS = frozenset({"job", "instance", "node"})
SPECIAL_LABELS = frozenset({"le", "__name__"})
# Series Prometheus itself synthesises for every target.
PROMETHEUS_SERIES = {"up": frozenset[str]()}

_KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "start", "end", "inf", "nan", "atan2",
    }
)  # fmt: skip
_STRING_RE = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS_RE = re.compile(r"\{[^{}]*\}")
_RANGE_RE = re.compile(r"\[[^\[\]]*\]")
_GROUPING_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_GRAFANA_VAR_RE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_IDENT_RE = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_IN_MATCHER_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_LEGEND_LABEL_RE = re.compile(r"\{\{\s*\.?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Usage:
    metrics: frozenset[str]
    labels: frozenset[str]


def _without_grafana_vars(expr: str) -> str:
    # $__rate_interval etc. sit inside [...] and are removed with it; elsewhere a
    # variable stands for a value, never a metric name.
    return _GRAFANA_VAR_RE.sub("0", expr)


def usage(expr: str) -> Usage:
    """Metric names and label names ``expr`` refers to."""
    text = _without_grafana_vars(expr)
    text = _STRING_RE.sub('""', text)
    labels: set[str] = set()
    for m in _MATCHERS_RE.finditer(text):
        labels.update(_LABEL_IN_MATCHER_RE.findall(m.group(0)))
    text = _MATCHERS_RE.sub(" ", text)
    text = _RANGE_RE.sub(" ", text)
    for m in _GROUPING_RE.finditer(text):
        labels.update(x.strip() for x in m.group(2).split(",") if x.strip())
    text = _GROUPING_RE.sub(" ", text)
    metrics: set[str] = set()
    for m in _IDENT_RE.finditer(text):
        name = m.group(0)
        before = text[m.start() - 1] if m.start() > 0 else " "
        after = text[m.end() :].lstrip()[:1]
        if before.isdigit() or before == ".":
            continue  # the unit of a duration or the exponent of a number
        if after == "(" or name.lower() in _KEYWORDS:
            continue
        metrics.add(name)
    return Usage(frozenset(metrics), frozenset(labels))


def legend_labels(legend: str) -> frozenset[str]:
    """Labels a Grafana legend template such as ``{{symbol}} {{side}}`` refers to."""
    return frozenset(_LEGEND_LABEL_RE.findall(legend))


def label_values_query(query: str) -> tuple[str | None, str] | None:
    """``label_values(metric{...}, label)`` -> (metric expression or None, label)."""
    m = re.fullmatch(r"\s*label_values\(\s*(?:(.*),)?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query)
    if m is None:
        return None
    return (m.group(1).strip() if m.group(1) else None), m.group(2)


def _daemon_metrics() -> list[MetricWrapperBase]:
    from daemon.metrics import Metrics

    return [v for v in vars(Metrics()).values() if isinstance(v, MetricWrapperBase)]


def series_of(metric: MetricWrapperBase) -> list[str]:
    """The series names one metric family is exposed under (text format, no OpenMetrics)."""
    name: str = metric._name
    kind = str(metric._type)
    if kind == "counter":
        return [f"{name}_total", f"{name}_created"]
    if kind == "histogram":
        return [f"{name}_bucket", f"{name}_count", f"{name}_sum", f"{name}_created"]
    if kind == "summary":
        return [name, f"{name}_count", f"{name}_sum", f"{name}_created"]
    return [name]


def _exchange_families() -> list[Metric]:
    """The exchange's families, read from its collector as a scrape would, for one
    paper symbol (so the families only paper mode exports are there too)."""
    from exchange.health import SymbolHealth, metrics_registry

    one = SymbolHealth("X", True, "", None, False, 1, "")
    return list(metrics_registry(lambda: [one]).collect())


def _exchange_series() -> dict[str, tuple[str, frozenset[str]]]:
    return {
        sample.name: (family.name, frozenset(sample.labels))
        for family in _exchange_families()
        for sample in family.samples
    }


def exposed_series() -> dict[str, frozenset[str]]:
    """Every series name the daemon and the exchange expose, with the label names each
    carries."""
    out = {s: frozenset(m._labelnames) for m in _daemon_metrics() for s in series_of(m)}
    out.update({s: labels for s, (_, labels) in _exchange_series().items()})
    return out


def source_of(family: str) -> str:
    """The module that registers ``family`` (for problem messages)."""
    exchange = {f.name for f in _exchange_families()}
    return "exchange/health.py" if family in exchange else "daemon/metrics.py"


def families() -> dict[str, str]:
    """Exposed series name -> the family it belongs to (for 'is every family shown?')."""
    out = {s: m._name for m in _daemon_metrics() for s in series_of(m)}
    out.update({s: family for s, (family, _) in _exchange_series().items()})
    return out


def problems_in(
    expr: str, where: str, known: dict[str, frozenset[str]], legend: str = ""
) -> list[str]:
    """What is wrong with the names in ``expr``: unknown metrics, labels no metric has."""
    use = usage(expr)
    out = []
    available = dict(known)
    available.update(PROMETHEUS_SERIES)
    for name in sorted(use.metrics - set(available)):
        out.append(f"{where}: unknown metric {name!r} (not registered in daemon/metrics.py)")
    labels_here: set[str] = set(TARGET_LABELS | SPECIAL_LABELS)
    for name in use.metrics & set(available):
        labels_here |= available[name]
    for label in sorted((use.labels | legend_labels(legend)) - labels_here):
        out.append(
            f"{where}: label {label!r} is not a label of {', '.join(sorted(use.metrics)) or 'any metric'}"
        )
    return out

#!/usr/bin/env python3
"""Sanity of the provisioned Grafana dashboard, without a Grafana server.

- the JSON loads and has a uid, a title and panels;
- panels have unique ids, sit inside the 24-column grid and do not overlap;
- every query panel uses the provisioned Prometheus datasource (by uid), and every
  target has a unique refId and a non-empty expression;
- every metric and label a query, legend or template variable uses is registered in
  daemon/metrics.py or exchange/health.py, and every metric family there is shown on some
  panel;
- every expression parses as PromQL: they are written, with Grafana's variables
  substituted, into a scratch rules file and handed to ``promtool check rules``.

Usage: check_dashboard.py [--root DIR] [--promtool PATH]; exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import promql_names
import yaml
from report import report

DASHBOARDS = "deploy/grafana/dashboards"
DATASOURCES = "deploy/grafana/provisioning/datasources"
GRID_WIDTH = 24
# What Grafana puts in place of its built-in and our template variables.
_SUBSTITUTES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
}


def substitute(expr: str) -> str:
    for var, value in _SUBSTITUTES.items():
        expr = expr.replace(var, value)
    # Our variables are used in regex matchers (=~"$instance"); any regex will do.
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def provisioned_uids(root: Path) -> set[str]:
    out = set()
    for path in sorted((root / DATASOURCES).glob("*.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for ds in doc.get("datasources", []):
            if ds.get("type") == "prometheus" and ds.get("uid"):
                out.add(ds["uid"])
    return out


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))  # panels inside collapsed rows
    return out


def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def check_dashboard(
    path: Path, uids: set[str], known: dict[str, frozenset[str]]
) -> tuple[list[str], list[tuple[str, str]], set[str]]:
    """Problems, (where, expr) pairs for the syntax check, and the metrics used."""
    name = path.name
    problems: list[str] = []
    exprs: list[tuple[str, str]] = []
    used: set[str] = set()
    try:
        dash = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        return [f"{name}: not JSON: {exc}"], [], set()
    for key in ("uid", "title", "panels"):
        if not dash.get(key):
            problems.append(f"{name}: no {key}")
    panels = _panels(dash)
    ids = [p.get("id") for p in panels]
    for dupe in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        problems.append(f"{name}: panel id {dupe} used twice")
    placed: list[tuple[str, dict[str, int]]] = []
    for p in panels:
        title = p.get("title") or f"id {p.get('id')}"
        where = f"{name}: panel {title!r}"
        grid = p.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(f"{where}: gridPos needs integer x, y, w, h")
        else:
            if grid["x"] < 0 or grid["w"] <= 0 or grid["x"] + grid["w"] > GRID_WIDTH:
                problems.append(f"{where}: outside the {GRID_WIDTH}-column grid")
            for other_title, other in placed:
                if _overlap(grid, other):
                    problems.append(f"{where}: overlaps panel {other_title!r}")
            placed.append((title, grid))
        if p.get("type") == "row":
            continue
        if not p.get("title"):
            problems.append(f"{where}: no title")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no queries")
        ds = (p.get("datasource") or {}).get("uid")
        if ds not in uids:
            problems.append(
                f"{where}: datasource uid {ds!r} is not a provisioned one {sorted(uids)}"
            )
        refs = [t.get("refId") for t in targets]
        for dupe in sorted({r for r in refs if refs.count(r) > 1}, key=str):
            problems.append(f"{where}: refId {dupe} used twice")
        for t in targets:
            expr = str(t.get("expr") or "")
            tw = f"{where} query {t.get('refId')}"
            if not expr.strip():
                problems.append(f"{tw}: empty expression")
                continue
            if (t.get("datasource") or {}).get("uid", ds) not in uids:
                problems.append(f"{tw}: datasource is not a provisioned one")
            problems += promql_names.problems_in(expr, tw, known, str(t.get("legendFormat") or ""))
            used |= promql_names.usage(expr).metrics
            exprs.append((tw, expr))
    for var in (dash.get("templating") or {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        text = q.get("query", "") if isinstance(q, dict) else str(q or "")
        where = f"{name}: variable ${var.get('name')}"
        parsed = promql_names.label_values_query(text)
        if parsed is None:
            problems.append(f"{where}: expected label_values(metric, label), got {text!r}")
            continue
        metric_expr, label = parsed
        if metric_expr is None:
            problems.append(f"{where}: label_values without a metric scans every series")
            continue
        problems += promql_names.problems_in(metric_expr, where, known)
        use = promql_names.usage(metric_expr)
        have = set(promql_names.TARGET_LABELS)
        for m in use.metrics & set(known):
            have |= known[m]
        if label not in have:
            problems.append(
                f"{where}: label {label!r} is not a label of {', '.join(sorted(use.metrics))}"
            )
        exprs.append((where, metric_expr))
    return problems, exprs, used


def promql_syntax(exprs: list[tuple[str, str]], promtool: str) -> list[str]:
    """Parse every expression with Prometheus' own parser, via promtool check rules."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": substitute(e)} for i, (_, e) in enumerate(exprs)
    ]
    doc = {"groups": [{"name": "dashboard", "rules": rules}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="dashboard-promql-") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
        fh.flush()
        res = subprocess.run(
            [promtool, "check", "rules", fh.name], capture_output=True, text=True, check=False
        )
    if res.returncode == 0:
        return []
    out = []
    for line in (res.stdout + res.stderr).splitlines():
        m = re.search(r"group \"dashboard\", rule (\d+)", line)
        if m and int(m.group(1)) - 1 < len(exprs):
            where, expr = exprs[int(m.group(1)) - 1]
            out.append(f"{where}: not valid PromQL: {expr!r}: {line.strip()}")
        elif line.strip() and "SUCCESS" not in line and not line.startswith("Checking"):
            out.append(f"promtool: {line.strip()}")
    return out or [f"promtool check rules failed: {res.stdout}{res.stderr}".strip()]


def check(root: Path, promtool: str) -> list[str]:
    known = promql_names.exposed_series()
    uids = provisioned_uids(root)
    if not uids:
        return [f"{DATASOURCES}: no provisioned Prometheus datasource with a uid"]
    problems: list[str] = []
    exprs: list[tuple[str, str]] = []
    used: set[str] = set()
    files = sorted((root / DASHBOARDS).glob("*.json"))
    if not files:
        return [f"{DASHBOARDS}: no dashboard JSON"]
    for path in files:
        p, e, u = check_dashboard(path, uids, known)
        problems += p
        exprs += e
        used |= u
    fams = promql_names.families()
    shown = {fams[m] for m in used if m in fams}
    for fam in sorted(set(fams.values()) - shown):
        problems.append(
            f"{DASHBOARDS}: metric family {fam} ({promql_names.source_of(fam)}) is on no panel"
        )
    if exprs:
        problems += promql_syntax(exprs, promtool)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--promtool", default="promtool")
    args = parser.parse_args(argv)
    problems = check(args.root, args.promtool)
    return report("dashboard", problems)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""What promtool cannot know about rlexec's alert rules.

promtool (scripts/check_deploy.sh) checks syntax and runs the rule unit tests. This
checks the rules against the rest of the project:

- every metric and label an expression uses is registered in daemon/metrics.py
  (or, for the exchange's job, exchange/health.py);
- every alert has a severity (critical/warning), a summary, a description and a
  runbook annotation whose anchor is a heading of docs/operations.md;
- every alert is shown firing in the promtool test file;
- the alerts the issue asks for exist (FIX down, data stale, kill switch, loss near
  limit, event-loop lag).

Usage: check_alerts.py [--root DIR]; exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import promql_names
import yaml
from report import report

RULES_DIR = "deploy/prometheus/rules"
TESTS = "deploy/prometheus/tests/rlexec.rules.test.yml"
RUNBOOK = "docs/operations.md"
REQUIRED = (
    "RlexecFixSessionDown",
    "RlexecMarketDataStale",
    "RlexecKillSwitchEngaged",
    "RlexecLossNearLimit",
    "RlexecEventLoopLag",
)
SEVERITIES = ("critical", "warning")


def github_anchor(heading: str) -> str:
    """The anchor GitHub (and most Markdown renderers) give a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    out = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and (m := re.match(r"^#{1,6}\s+(.*)$", line)):
            out.add(github_anchor(m.group(1)))
    return out


def alerts_in(rules_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(rules_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                out.append((path, rule))
    return out


def firing_in_tests(tests_path: Path) -> set[str]:
    doc = yaml.safe_load(tests_path.read_text()) or {}
    out = set()
    for test in doc.get("tests", []):
        for case in test.get("alert_rule_test", []):
            if case.get("exp_alerts"):
                out.add(case["alertname"])
    return out


def check(root: Path) -> list[str]:
    problems: list[str] = []
    known = promql_names.exposed_series()
    runbook_path = root / RUNBOOK
    heads = anchors(runbook_path.read_text()) if runbook_path.exists() else set()
    if not heads:
        problems.append(f"{RUNBOOK}: missing or has no headings (the alerts' runbook)")
    tests_path = root / TESTS
    tested = firing_in_tests(tests_path) if tests_path.exists() else set()
    names: list[str] = []
    for path, rule in alerts_in(root / RULES_DIR):
        rel = path.relative_to(root)
        name = rule.get("alert") or rule.get("record") or "?"
        where = f"{rel}: {name}"
        problems += promql_names.problems_in(str(rule.get("expr", "")), where, known)
        if "alert" not in rule:
            continue
        names.append(name)
        severity = (rule.get("labels") or {}).get("severity")
        if severity not in SEVERITIES:
            problems.append(f"{where}: severity must be one of {SEVERITIES} (got {severity!r})")
        notes = rule.get("annotations") or {}
        for key in ("summary", "description", "runbook"):
            if not notes.get(key):
                problems.append(f"{where}: no {key} annotation")
        runbook = str(notes.get("runbook", ""))
        doc, _, anchor = runbook.partition("#")
        if runbook and (doc != RUNBOOK or anchor not in heads):
            problems.append(f"{where}: runbook {runbook!r} is not a heading of {RUNBOOK}")
        if name not in tested:
            problems.append(f"{where}: never shown firing in {TESTS}")
    for dupe in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{RULES_DIR}: alert {dupe} defined twice")
    for name in REQUIRED:
        if name not in names:
            problems.append(f"{RULES_DIR}: required alert {name} is missing")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    problems = check(args.root)
    return report("alert rules", problems)


if __name__ == "__main__":
    sys.exit(main())

"""docs/security.md makes no claim without a test: every row of its tables names at
least one test (``path::name``), and every test it names exists."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "security.md"
REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _rows() -> list[str]:
    rows = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("|") or set(line) <= {"|", "-", " "}:
            continue
        if line.replace(" ", "") == "|claim|test|":
            continue
        rows.append(line)
    return rows


@cache
def _tests_in(path: str) -> frozenset[str]:
    tree = ast.parse((REPO / path).read_text())
    return frozenset(
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def test_every_claim_names_a_test() -> None:
    rows = _rows()
    assert len(rows) >= 30, "the claims tables went missing"
    bare = [r[:100] for r in rows if not REF.search(r)]
    assert not bare, f"claims without a test: {bare}"


def test_every_test_the_page_names_exists() -> None:
    missing = []
    for row in _rows():
        for path, name in REF.findall(row):
            if not (REPO / path).is_file() or name not in _tests_in(path):
                missing.append(f"{path}::{name}")
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"

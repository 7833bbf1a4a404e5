"""docs/risk.md's checks table is the code: read one, you have read the other.

Each row names a method of ``RiskOverlay`` (``_check_<name>``; the first row is the
request-type guard before anything can be bound). The rows that apply to a new order are
``check_new``'s chain in order, those that apply to a replace are ``check_replace``'s,
and each row lists the reason codes its method can return, in the order it tests for
them. Both sides are read from source (the table from the page, the chains and reasons
from the syntax tree), so neither can change without the other.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from risk.overlay import RiskOverlay
from risk.reasons import DenyReason

DOC = Path(__file__).resolve().parents[3] / "docs" / "risk.md"
GUARD = "request_type"  # row 1: the type guard at the top of check_new / check_replace


def _table_rows() -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(check, applies to, reason codes) for each row of the table under "The checks"."""
    text = DOC.read_text()
    section = text.split("\n## The checks\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    col = {name: header.index(name) for name in ("check", "applies to", "reason codes")}
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        [check] = re.findall(r"`(\w+)`", cells[col["check"]])
        applies = tuple(
            k.strip() for k in re.sub(r"\(.*?\)", "", cells[col["applies to"]]).split(",")
        )
        reasons = tuple(re.findall(r"`(\w+)`", cells[col["reason codes"]]))
        rows.append((check, applies, reasons))
    return rows


def _tree(fn: object) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(fn)))  # type: ignore[arg-type]


def _chain(entry: object) -> list[str]:
    """The checks an entry point calls, in order: its guard, then the ``or`` chain."""
    [chain] = [n for n in ast.walk(_tree(entry)) if isinstance(n, ast.BoolOp)]
    calls = [v.func.attr for v in chain.values if isinstance(v, ast.Call)]  # type: ignore[attr-defined]
    assert len(calls) == len(chain.values), "every link of the chain is one check call"
    assert all(c.startswith("_check_") for c in calls), calls
    return [GUARD] + [c.removeprefix("_check_") for c in calls]


def _reasons(check: str) -> tuple[str, ...]:
    """The reason codes a check's method names (``R.X``), in source order, once each."""
    fn = RiskOverlay._wrong_request if check == GUARD else getattr(RiskOverlay, f"_check_{check}")
    named = [
        node
        for node in ast.walk(_tree(fn))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ("R", "DenyReason")
    ]
    named.sort(key=lambda node: (node.lineno, node.col_offset))
    return tuple(dict.fromkeys(DenyReason[node.attr].value for node in named))


ROWS = _table_rows()


@pytest.mark.parametrize(
    ("kind", "entry"), [("new", RiskOverlay.check_new), ("replace", RiskOverlay.check_replace)]
)
def test_each_kinds_rows_are_its_check_chain_in_order(kind: str, entry: object):
    documented = [check for check, applies, _ in ROWS if kind in applies]
    assert documented == _chain(entry)


def test_the_type_guard_comes_first_and_names_row_one():
    for entry, want in (
        (RiskOverlay.check_new, "NewOrderRequest"),
        (RiskOverlay.check_replace, "ReplaceRequest"),
    ):
        body = _tree(entry).body[0].body  # type: ignore[attr-defined]
        [try_] = [n for n in body if isinstance(n, ast.Try)]
        guard = try_.body[0]
        assert isinstance(guard, ast.If)
        assert ast.unparse(guard.test) == f"type(req) is not {want}"
        assert "_wrong_request" in ast.unparse(guard.body[0])
    assert ROWS[0][0] == GUARD


@pytest.mark.parametrize(
    ("check", "reasons"), [(c, r) for c, _, r in ROWS], ids=[c for c, _, _ in ROWS]
)
def test_each_row_lists_the_reason_codes_its_check_returns_in_order(
    check: str, reasons: tuple[str, ...]
):
    assert reasons == _reasons(check)


def test_every_reason_code_is_documented_and_only_internal_error_comes_from_outside_a_check():
    in_table = {r for _, _, reasons in ROWS for r in reasons}
    assert in_table | {DenyReason.INTERNAL_ERROR.value} == {r.value for r in DenyReason}
    assert DenyReason.INTERNAL_ERROR.value not in in_table
    assert "**`internal_error`**" in DOC.read_text()
    source = inspect.getsource(RiskOverlay._internal_error)
    assert "R.INTERNAL_ERROR" in source


def test_every_check_method_is_a_row_of_the_table():
    methods = {n.removeprefix("_check_") for n in vars(RiskOverlay) if n.startswith("_check_")}
    assert methods == {check for check, _, _ in ROWS} - {GUARD}

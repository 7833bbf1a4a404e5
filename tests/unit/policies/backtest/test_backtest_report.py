"""The report folder renders: the HTML parses and carries every figure inline (nothing
outside the file is referenced), every PNG exists and is a non-empty PNG, the Markdown
tables are well formed, and the docs block is replaced in place."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from policies.backtest.gate import promotion_gate
from policies.backtest.report import DOCS_BEGIN, DOCS_END, write_docs, write_report
from tests.unit.policies.backtest.synthetic import group, noise, summary_of

pytest.importorskip("matplotlib", reason="the report's figures need the `report` extra")

VOID = {"meta", "img", "br", "hr", "link", "input"}
ACTIONS = ["wait", "hold", "touch_x1"]


class _Checker(HTMLParser):
    """Fails on unbalanced tags; collects every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.refs: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables += 1
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One report, rendered once for the module (matplotlib takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("report")
    w = noise(1.0, 30)
    g = group(
        60,
        {
            "cand": lambda o, m: m + 1.0 + w(o, m),
            "twap": lambda o, m: m + 2.0,
            "vwap": lambda o, m: m + 2.1,
        },
    )
    summary = summary_of(g)
    summary.update(
        command="rlexec backtest --orders 60",
        seed=1,
        orders_per_group=60,
        impact_text="'permanent' (TEST: LinearPermanentImpact(gamma=0.1))",
        code="f" * 64,
        elapsed_s=1.0,
        executor="this process",
        computed=180,
        reused=0,
    )
    gates = [promotion_gate(summary, "cand")]
    return write_report(tmp_path, summary, [g], gates, action_names={"cand": ACTIONS})


def test_the_report_folder_holds_a_self_contained_html_and_every_png(
    files: dict[str, Path],
) -> None:
    pngs = sorted(files["html"].parent.glob("*.png"))
    names = {p.name for p in pngs}
    assert {
        "inventory.png",
        "is_distribution.png",
        "is_vs_size.png",
        "cost_by_regime.png",
        "cost_by_time_of_day.png",
        "cost_split.png",
        "action_mix_cand.png",
        "vs_twap_by_bucket.png",
    } <= names
    for p in pngs:
        data = p.read_bytes()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n", p
    text = files["html"].read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == []
    assert checker.tables >= 5  # all orders, three times of day, the breakdown
    assert len(checker.refs) == len(pngs)
    assert all(r.startswith("data:image/png;base64,") for r in checker.refs)
    assert "winsorised at 1 % / 99 %" in text
    assert "without our orders" in text  # how impact is measured


def test_the_summary_json_and_orders_csv_round_trip(files: dict[str, Path]) -> None:
    summary = json.loads(files["summary"].read_text())
    assert set(summary["groups"]) == {"TEST 2012-06-21 L5 09:30-16:00"}
    assert summary["gates"][0]["candidate"] == "cand"
    lines = files["orders"].read_text().splitlines()
    assert len(lines) == 1 + 60 * 3


def test_markdown_tables_have_a_cell_for_every_column(files: dict[str, Path]) -> None:
    md = files["markdown"].read_text()
    tables: list[list[str]] = [[]]
    for line in md.splitlines():
        if line.startswith("|"):
            tables[-1].append(line)
        elif tables[-1]:
            tables.append([])
    tables = [t for t in tables if t]
    assert len(tables) >= 5  # all orders, three times of day, the learned policy by bucket
    for t in tables:
        assert len({line.count("|") for line in t}) == 1, t[0]
        assert set(t[1].replace("|", "")) == {"-"}  # the header rule
    assert "Promotion gate, cand" in md


def test_write_docs_replaces_only_the_marked_block(tmp_path: Path) -> None:
    doc = tmp_path / "results.md"
    doc.write_text(f"# Results\n\nbefore\n{DOCS_BEGIN}\nold table\n{DOCS_END}\nafter\n")
    write_docs(doc, "new table\n")
    text = doc.read_text()
    assert "old table" not in text and "new table" in text
    assert text.startswith("# Results\n\nbefore\n") and text.endswith("after\n")
    write_docs(doc, "newer\n")  # idempotent shape
    assert doc.read_text().count(DOCS_BEGIN) == 1


def test_write_docs_refuses_a_file_without_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "other.md"
    doc.write_text("no markers here\n")
    with pytest.raises(ValueError, match=r"no .* block"):
        write_docs(doc, "x")
    assert doc.read_text() == "no markers here\n"

"""The dashboard check: names, grid, datasource and PromQL syntax, each shown failing."""

from __future__ import annotations

import json
from typing import Any

from deploy_tree import REPO, Tree

DASHBOARD = "deploy/grafana/dashboards/rlexec.json"


def _load(tree: Tree) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(tree.read(DASHBOARD))
    return data


def _save(tree: Tree, dash: dict[str, Any]) -> None:
    tree.write(DASHBOARD, json.dumps(dash, indent=2))


def _panel(dash: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in dash["panels"] if p.get("title") == title)


def test_dashboard_shows_the_issue_s_metrics() -> None:
    dash = json.loads((REPO / DASHBOARD).read_text())
    text = json.dumps(dash)
    for metric in (
        "rlexec_orders_rejected_total",  # rejects by reason
        "rlexec_risk_denials_total",  # risk rejects by check
        "rlexec_kill_switch_engaged",
        "rlexec_fix_seq_num",
        "rlexec_md_gaps_total",
        "rlexec_tick_to_order_seconds_bucket",
        "rlexec_inference_seconds_bucket",
        "rlexec_parent_shortfall_bps",
        "rlexec_event_loop_lag_seconds",
    ):
        assert metric in text
    assert dash["uid"] and dash["title"] == "rlexec"


def test_misspelt_metric_in_a_panel_is_named(tree: Tree) -> None:
    dash = _load(tree)
    target = _panel(dash, "Position")["targets"][0]
    target["expr"] = target["expr"].replace("rlexec_position", "rlexec_positions")
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "panel 'Position' query A: unknown metric 'rlexec_positions'" in result.output


def test_legend_with_a_label_the_metric_lacks_is_named(tree: Tree) -> None:
    dash = _load(tree)
    _panel(dash, "Position")["targets"][0]["legendFormat"] = "{{ticker}}"
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "label 'ticker'" in result.output


def test_invalid_promql_is_caught_by_prometheus_own_parser(tree: Tree) -> None:
    dash = _load(tree)
    target = _panel(dash, "Fills")["targets"][0]
    target["expr"] = target["expr"].replace("[$__rate_interval]))", "[$__rate_interval])")
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "panel 'Fills' query A: not valid PromQL" in result.output


def test_overlapping_panels_fail(tree: Tree) -> None:
    dash = _load(tree)
    pnl = _panel(dash, "P&L")
    pnl["gridPos"]["x"] = 6
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "panel 'P&L': overlaps panel 'Position'" in result.output


def test_panel_past_the_grid_fails(tree: Tree) -> None:
    dash = _load(tree)
    _panel(dash, "Sequence gaps")["gridPos"]["w"] = 12
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "outside the 24-column grid" in result.output


def test_unprovisioned_datasource_fails(tree: Tree) -> None:
    dash = _load(tree)
    _panel(dash, "Kill switch")["datasource"] = {"type": "prometheus", "uid": "my-laptop"}
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "datasource uid 'my-laptop' is not a provisioned one" in result.output


def test_a_metric_on_no_panel_fails(tree: Tree) -> None:
    dash = _load(tree)
    dash["panels"] = [p for p in dash["panels"] if p.get("title") != "Dropped FIX messages"]
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "rlexec_fix_messages_dropped (daemon/metrics.py) is on no panel" in result.output


def test_an_exchange_metric_on_no_panel_fails_naming_the_exchange(tree: Tree) -> None:
    dash = _load(tree)
    dash["panels"] = [p for p in dash["panels"] if p.get("title") != "Unreadable upstream messages"]
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert (
        "rlexec_exchange_upstream_bad_messages (exchange/health.py) is on no panel" in result.output
    )


def test_template_variable_on_a_wrong_label_fails(tree: Tree) -> None:
    dash = _load(tree)
    var = dash["templating"]["list"][1]
    var["query"]["query"] = 'label_values(rlexec_md_updates_total{instance=~"$instance"}, ticker)'
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "variable $symbol: label 'ticker'" in result.output


def test_duplicate_panel_ids_fail(tree: Tree) -> None:
    dash = _load(tree)
    dash["panels"][3]["id"] = dash["panels"][2]["id"]
    _save(tree, dash)
    result = tree.check("dashboard")
    assert not result.passed
    assert "used twice" in result.output

"""The Prometheus and alert checks fail, and say why, when the files are broken."""

from __future__ import annotations

import yaml
from deploy_tree import Tree

RULES = "deploy/prometheus/rules/rlexec.rules.yml"
RULE_TESTS = "deploy/prometheus/tests/rlexec.rules.test.yml"


def test_every_alert_has_a_promtool_test_showing_it_fire() -> None:
    from deploy_tree import REPO

    rules = yaml.safe_load((REPO / RULES).read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((REPO / RULE_TESTS).read_text())
    firing = {
        c["alertname"] for t in tests["tests"] for c in t["alert_rule_test"] if c.get("exp_alerts")
    }
    silent = {
        c["alertname"]
        for t in tests["tests"]
        for c in t["alert_rule_test"]
        if not c.get("exp_alerts")
    }
    assert alerts == firing
    # Most alerts are also shown *not* firing (before 'for', below threshold, other job).
    assert len(silent & alerts) >= len(alerts) - 2


def test_a_weakened_for_clause_fails_the_rule_tests(tree: Tree) -> None:
    # A FIX session that flaps for 20 s must not page anyone; the tests pin that down.
    tree.replace(
        RULES,
        "expr: rlexec_fix_session_up == 0\n        for: 30s",
        "expr: rlexec_fix_session_up == 0\n        for: 5s",
    )
    result = tree.check("prometheus")
    assert not result.passed
    assert "RlexecFixSessionDown" in result.output


def test_a_wrong_threshold_fails_the_rule_tests(tree: Tree) -> None:
    tree.replace(RULES, "rlexec_daily_loss_ratio >= 0.8 and", "rlexec_daily_loss_ratio >= 0.95 and")
    result = tree.check("prometheus")
    assert not result.passed
    assert "RlexecLossNearLimit" in result.output


def test_an_invalid_prometheus_config_fails(tree: Tree) -> None:
    tree.replace(
        "deploy/prometheus/prometheus-compose.yml",
        "scrape_interval: 5s",
        "scrape_interval: 5 seconds",
    )
    result = tree.check("prometheus")
    assert not result.passed
    assert "prometheus-compose.yml" in result.output


def test_a_rule_syntax_error_fails(tree: Tree) -> None:
    tree.replace(
        RULES, "expr: rlexec_kill_switch_engaged == 1", "expr: rlexec_kill_switch_engaged =="
    )
    result = tree.check("prometheus")
    assert not result.passed
    assert "rlexec.rules.yml" in result.output


def test_a_misspelt_metric_in_a_rule_is_named(tree: Tree) -> None:
    tree.replace(RULES, "expr: rlexec_fix_session_up == 0", "expr: rlexec_fix_sesion_up == 0")
    result = tree.check("alerts")
    assert not result.passed
    assert "unknown metric 'rlexec_fix_sesion_up'" in result.output


def test_a_label_the_metric_does_not_have_is_named(tree: Tree) -> None:
    tree.replace(
        RULES, "sum by (instance, symbol, reason)", "sum by (instance, symbol, venue_reason)"
    )
    result = tree.check("alerts")
    assert not result.passed
    assert "label 'venue_reason'" in result.output


def test_an_alert_without_a_runbook_section_fails(tree: Tree) -> None:
    tree.replace("docs/operations.md", "### RlexecMarketDataGaps", "### Market data gaps")
    result = tree.check("alerts")
    assert not result.passed
    assert (
        "RlexecMarketDataGaps: runbook 'docs/operations.md#rlexecmarketdatagaps'" in result.output
    )


def test_an_untested_alert_fails(tree: Tree) -> None:
    rules = yaml.safe_load(tree.read(RULES))
    rules["groups"][0]["rules"].append(
        {
            "alert": "RlexecSomethingNew",
            "expr": "rlexec_parents_active > 100",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "s",
                "description": "d",
                "runbook": "docs/operations.md#runbook",
            },
        }
    )
    tree.write(RULES, yaml.safe_dump(rules, sort_keys=False))
    result = tree.check("alerts")
    assert not result.passed
    assert "RlexecSomethingNew: never shown firing" in result.output


def test_a_required_alert_cannot_be_dropped(tree: Tree) -> None:
    rules = yaml.safe_load(tree.read(RULES))
    for group in rules["groups"]:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != "RlexecEventLoopLag"]
    tree.write(RULES, yaml.safe_dump(rules, sort_keys=False))
    result = tree.check("alerts")
    assert not result.passed
    assert "required alert RlexecEventLoopLag is missing" in result.output


def test_a_bad_severity_fails(tree: Tree) -> None:
    tree.replace(RULES, "severity: critical", "severity: page-me")
    result = tree.check("alerts")
    assert not result.passed
    assert "severity must be one of" in result.output

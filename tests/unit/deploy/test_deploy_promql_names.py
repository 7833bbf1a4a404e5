"""The metric-name extractor that keeps rules and panels honest: what it sees and ignores."""

from __future__ import annotations

import pytest
from deploy_tree import CHECKS_DIR, load_module
from hypothesis import given, settings
from hypothesis import strategies as st

pn = load_module("promql_names", CHECKS_DIR / "promql_names.py")
KNOWN: dict[str, frozenset[str]] = pn.exposed_series()


@pytest.mark.parametrize(
    ("expr", "metrics", "labels"),
    [
        ("up == 0", {"up"}, set()),
        ('rlexec_md_stale{symbol="AMZN"} == 1', {"rlexec_md_stale"}, {"symbol"}),
        (
            'sum by (kind) (rate(rlexec_orders_sent_total{instance=~"$instance"}[$__rate_interval]))',
            {"rlexec_orders_sent_total"},
            {"kind", "instance"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(rlexec_inference_seconds_bucket[5m])))",
            {"rlexec_inference_seconds_bucket"},
            {"le"},
        ),
        (
            "(rlexec_trading_halted == 1) unless on(instance) (rlexec_kill_switch_engaged == 1)",
            {"rlexec_trading_halted", "rlexec_kill_switch_engaged"},
            {"instance"},
        ),
        ("sum(rlexec_pnl) without (kind) > 1e3 offset 5m", {"rlexec_pnl"}, {"kind"}),
        (
            'label_replace(rlexec_position, "dst", "$1", "symbol", "(.*)")',
            {"rlexec_position"},
            set(),
        ),
        (
            "max_over_time(rlexec_event_loop_lag_seconds[1m:10s]) > bool 1",
            {"rlexec_event_loop_lag_seconds"},
            set(),
        ),
    ],
)
def test_usage(expr: str, metrics: set[str], labels: set[str]) -> None:
    use = pn.usage(expr)
    assert use.metrics == metrics
    assert use.labels == labels


def test_exposed_series_follow_prometheus_naming() -> None:
    assert "rlexec_orders_sent_total" in KNOWN  # counter: _total
    assert "rlexec_orders_sent" not in KNOWN
    assert {"rlexec_tick_to_order_seconds_bucket", "rlexec_tick_to_order_seconds_count"} <= set(
        KNOWN
    )
    assert KNOWN["rlexec_orders_rejected_total"] == {"symbol", "reason"}
    assert all(name.startswith("rlexec_") for name in KNOWN)


def test_the_exchange_s_series_are_known_with_their_labels() -> None:
    """Rules and panels on the exchange's job (exchange/health.py) are checked too."""
    assert KNOWN["rlexec_exchange_symbol_halted"] == {"symbol"}
    assert KNOWN["rlexec_exchange_symbol_never_traded"] == {"symbol"}
    assert KNOWN["rlexec_exchange_upstream_bad_messages_total"] == {"symbol"}
    assert pn.source_of("rlexec_exchange_symbol_halted") == "exchange/health.py"
    assert pn.source_of("rlexec_orders_sent") == "daemon/metrics.py"


def test_problems_name_unknown_metrics_and_labels() -> None:
    problems = pn.problems_in(
        'sum by (sym) (rlexec_positon{symbol="A"})', "here", KNOWN, legend="{{side}}"
    )
    assert "here: unknown metric 'rlexec_positon' (not registered in daemon/metrics.py)" in problems
    assert any("label 'sym'" in p for p in problems)
    assert any("label 'side'" in p for p in problems)
    assert (
        pn.problems_in(
            'rlexec_position{symbol="A", instance="x"}', "ok", KNOWN, legend="{{symbol}}"
        )
        == []
    )


def test_label_values_queries() -> None:
    assert pn.label_values_query(
        'label_values(rlexec_md_updates_total{instance=~"$instance"}, symbol)'
    ) == (
        'rlexec_md_updates_total{instance=~"$instance"}',
        "symbol",
    )
    assert pn.label_values_query("label_values(instance)") == (None, "instance")
    assert pn.label_values_query("query_result(up)") is None


names = st.sampled_from(sorted(KNOWN))
wrappers = st.sampled_from(
    [
        "{m}",
        "rate({m}[5m])",
        'sum by (instance) (increase({m}{{instance=~"$instance"}}[$__range]))',
        "max_over_time({m}[1m]) > 0.5",
        "{m} offset 1h",
        "avg without (job) ({m}) * 100",
        'count({m}{{job="rlexec"}} == 1) or vector(0)',
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    names,
    names,
    wrappers,
    wrappers,
    st.sampled_from(["+", " and ", " unless ", " / on(instance) "]),
)
def test_composed_expressions_yield_exactly_their_metrics(
    a: str, b: str, wa: str, wb: str, op: str
) -> None:
    expr = f"({wa.format(m=a)}){op}({wb.format(m=b)})"
    assert pn.usage(expr).metrics == {a, b}

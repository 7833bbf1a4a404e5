"""The promotion gate on hand-built results: it passes a candidate only when it is
cheaper than TWAP and than the best other baseline in every group and time-of-day
bucket (intervals excluding zero), no riskier than TWAP, on enough orders."""

from __future__ import annotations

from typing import Any

from policies.backtest.gate import promotion_gate
from tests.unit.policies.backtest.synthetic import CLOSE, group, noise, summary_of

N = 150
BASE = noise(1.0, 10)
EXTRA = noise(1.0, 11)


def baselines(extra: float = 0.0) -> dict[str, Any]:
    return {
        "twap": lambda o, m: m + 5.0 + BASE(o, m),
        "vwap": lambda o, m: m + 5.2 + BASE(o, m),
        "pov": lambda o, m: m + 5.5 + EXTRA(o, m),
    }


def test_a_candidate_cheaper_everywhere_and_no_riskier_passes() -> None:
    g = group(N, {"cand": lambda o, m: 0.9 * m + 3.0 + 0.5 * BASE(o, m), **baselines()})
    verdict = promotion_gate(summary_of(g), "cand")
    assert verdict.passed, verdict.explain()
    cells = {c.cell for c in verdict.checks}
    assert cells == {"all", "tod:open", "tod:midday", "tod:close"}
    checks = {c.check for c in verdict.checks}
    assert checks == {"below twap", "below best other baseline", "timing risk"}


def test_cheaper_on_average_but_dearer_at_the_close_fails_there() -> None:
    def cand(o: Any, m: float) -> float:
        return 0.9 * m + (6.0 if o.tod_s == CLOSE else 2.0) + 0.5 * BASE(o, m)

    g = group(N, {"cand": cand, **baselines()})
    summary = summary_of(g)
    assert summary["groups"][g.key]["cells"]["all"]["rows"]["cand"]["vs"]["twap"]["diff"][2] < 0
    verdict = promotion_gate(summary, "cand")
    assert not verdict.passed
    failed = {(c.cell, c.check) for c in verdict.failures}
    assert ("tod:close", "below twap") in failed
    assert all(c.cell == "tod:close" for c in verdict.failures)
    assert "tod:close" in verdict.explain()


def test_an_edge_lost_in_noise_fails_because_the_interval_holds_zero() -> None:
    wobble = noise(8.0, 12)
    g = group(N, {"cand": lambda o, m: m + 4.9 + wobble(o, m), **baselines()})
    verdict = promotion_gate(summary_of(g), "cand")
    assert not verdict.passed
    assert any("does not exclude zero" in c.detail for c in verdict.failures)


def test_higher_timing_risk_than_twap_fails_even_when_cheaper() -> None:
    g = group(N, {"cand": lambda o, m: 1.3 * m + 2.0, **baselines()})
    verdict = promotion_gate(summary_of(g), "cand")
    assert not verdict.passed
    assert {c.check for c in verdict.failures} == {"timing risk"}


def test_a_bucket_with_too_few_orders_cannot_vouch_and_fails() -> None:
    g = group(60, {"cand": lambda o, m: 0.9 * m + 3.0 + 0.5 * BASE(o, m), **baselines()})
    verdict = promotion_gate(summary_of(g), "cand", min_orders=30)
    failed = {(c.cell, c.check) for c in verdict.failures}
    assert failed == {("tod:open", "orders"), ("tod:midday", "orders"), ("tod:close", "orders")}


def test_every_group_must_pass() -> None:
    good = group(N, {"cand": lambda o, m: 0.9 * m + 3.0 + 0.5 * BASE(o, m), **baselines()})
    bad = group(
        N,
        {"cand": lambda o, m: 0.9 * m + 7.0 + 0.5 * BASE(o, m), **baselines()},
        key="OTHER 2012-06-21 L1 09:30-16:00",
    )
    verdict = promotion_gate(summary_of(good, bad), "cand")
    assert not verdict.passed
    assert {c.group for c in verdict.failures} == {"OTHER 2012-06-21 L1 09:30-16:00"}


def test_a_missing_candidate_or_reference_fails_with_the_reason() -> None:
    g = group(N, {"cand": lambda o, m: m, **baselines()})
    summary = summary_of(g)
    assert "not in this backtest" in promotion_gate(summary, "nope").explain()
    assert not promotion_gate(summary, "cand", reference="absent").passed
    summary["statistics"]["level"] = 0.9
    assert "needs 95%" in promotion_gate(summary, "cand").explain()

"""Expected shortfall by size and regime, and feature drift as PSI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signals.monitoring import (
    DriftMonitor,
    ExpectedShortfall,
    FeatureStats,
    MonitoringError,
    ShortfallMonitor,
    psi,
)

RNG = np.random.default_rng(2)


def outcomes() -> list[tuple[float, str, float]]:
    rows = []
    for size, base in ((0.5, 2.0), (3.0, 8.0)):  # small orders cost less than large ones
        for regime, extra in (("calm", 0.0), ("volatile", 6.0)):
            for _ in range(40):
                rows.append((size, regime, base + extra + RNG.normal(scale=2.0)))
    rows += [(0.5, "thin", 30.0)] * 3  # too few to stand alone
    return rows


def test_the_table_answers_by_size_and_regime_and_falls_back_when_a_cell_is_thin() -> None:
    t = ExpectedShortfall.fit(outcomes(), size_edges=[1.0], min_n=20)
    calm_small, which = t.expected(0.5, "calm")
    assert which == "size 0/calm" and calm_small.mean_bps == pytest.approx(2.0, abs=1.0)
    assert t.expected(3.0, "volatile")[0].mean_bps == pytest.approx(14.0, abs=1.0)
    thin, which = t.expected(0.5, "thin")
    assert which == "size 0/*" and thin.n == 83
    assert t.expected(float("nan"), "calm")[1] == "all"


def test_the_table_round_trips_through_json_and_refuses_a_broken_one() -> None:
    t = ExpectedShortfall.fit(outcomes(), size_edges=[1.0])
    again = ExpectedShortfall.from_json(json.loads(json.dumps(t.to_json())))
    assert again.cells == t.cells and again.size_edges == t.size_edges
    body = t.to_json()
    del body["cells"][0]["mean_bps"]
    with pytest.raises(MonitoringError, match="unreadable"):
        ExpectedShortfall.from_json(body)
    with pytest.raises(MonitoringError, match="ascending"):
        ExpectedShortfall(np.array([2.0, 1.0]).tolist(), t.cells, 20)


def test_a_run_of_costly_parents_moves_the_mean_z_and_one_does_not_much() -> None:
    m = ShortfallMonitor(ExpectedShortfall.fit(outcomes(), size_edges=[1.0]), window=10)
    for _ in range(9):
        m.observe(0.5, "calm", 2.0)
    m.observe(0.5, "calm", 12.0)
    assert 0.3 < m.mean_z < 0.7
    for _ in range(10):
        m.observe(0.5, "calm", 12.0)
    assert m.mean_z > 4 and m.snapshot()["cell"] == "size 0/calm"
    assert np.isnan(m.observe(0.5, "calm", float("nan"))) and m.parents == 20


def test_psi_is_near_zero_for_the_training_population_and_large_for_a_shifted_one() -> None:
    x = RNG.normal(size=(20_000, 2))
    stats = FeatureStats.fit(x, ("a", "b"))
    same, shifted = DriftMonitor(stats, half_life=10**9), DriftMonitor(stats, half_life=10**9)
    for row in RNG.normal(size=(5_000, 2)):
        same.observe(row)
    for row in RNG.normal(size=(5_000, 2)) + np.array([0.0, 1.0]):
        shifted.observe(row)
    assert max(same.psi().values()) < 0.01
    p = shifted.psi()
    assert p["a"] < 0.01 and p["b"] > 0.25
    assert shifted.snapshot()["worst_feature"] == "b"


def test_drift_forgets_the_old_population_at_its_half_life() -> None:
    stats = FeatureStats.fit(RNG.normal(size=(5_000, 1)), ("a",))
    m = DriftMonitor(stats, half_life=200)
    for v in RNG.normal(size=2_000) + 3.0:
        m.observe(np.array([v]))
    assert m.psi()["a"] > 1.0
    for v in RNG.normal(size=3_000):
        m.observe(np.array([v]))
    assert m.psi()["a"] < 0.1


def test_non_finite_or_misshapen_observations_are_counted_not_binned() -> None:
    m = DriftMonitor(FeatureStats.fit(RNG.normal(size=(500, 2)), ("a", "b")))
    m.observe(np.array([np.nan, 1.0]))
    assert (m.observations, m.non_finite) == (0, 1)
    with pytest.raises(MonitoringError, match="shape"):
        m.observe(np.zeros(3))


def test_statistics_round_trip_and_refuse_shares_that_do_not_add_up() -> None:
    stats = FeatureStats.fit(RNG.normal(size=(500, 2)), ("a", "b"))
    again = FeatureStats.from_json(json.loads(json.dumps(stats.to_json())))
    np.testing.assert_array_equal(again.edges, stats.edges)
    body = stats.to_json()
    body["shares"][0][0] += 0.5
    with pytest.raises(MonitoringError, match="unreadable"):
        FeatureStats.from_json(body)


def test_psi_of_identical_shares_is_zero() -> None:
    s = np.full((1, 10), 0.1)
    assert psi(s, s)[0] == 0.0


def test_an_order_with_no_regime_counts_once_in_its_size_bucket() -> None:
    t = ExpectedShortfall.fit([(0.5, "*", 1.0), (0.5, "*", 3.0)], size_edges=[1.0], min_n=1)
    assert t.cells[(0, "*")].n == 2 and t.cells[(-1, "*")].n == 2

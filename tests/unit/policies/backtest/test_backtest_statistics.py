"""The report's statistics: winsorising, and bootstrap intervals that cover a known mean
about as often as they claim to (synthetic data, fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from policies.backtest.statistics import (
    cell_rng,
    mean_and_std_ci,
    mean_ci,
    resample,
    tercile_labels,
    winsorise,
    winsorise_rows,
)

REPLICATIONS = 400
DRAWS = 1000
# With 400 replications the coverage of a true 95 % interval is 0.95 +- 0.011 (1 se):
# these bounds are about 3 se either side, loose enough for the percentile interval's
# known slight under-coverage at small n, tight enough to catch a wrong interval.
LOW, HIGH = 0.915, 0.98


def _coverage(draw: object, true_mean: float, n: int, *, winsor: bool, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(REPLICATIONS):
        x = draw(rng, n)  # type: ignore[operator]
        est = mean_ci(x, resample(n, DRAWS, rng), winsor=winsor)
        hits += est.lo <= true_mean <= est.hi
    return hits / REPLICATIONS


def test_bootstrap_interval_covers_a_known_mean_95_percent_of_the_time() -> None:
    cover = _coverage(lambda r, n: r.normal(3.0, 10.0, n), 3.0, 120, winsor=False, seed=1)
    assert LOW <= cover <= HIGH


def test_winsorised_interval_covers_the_centre_of_heavy_tailed_symmetric_costs() -> None:
    # t with 3 degrees of freedom: rare huge orders, the case winsorising is for
    cover = _coverage(lambda r, n: 2.0 + 5.0 * r.standard_t(3, n), 2.0, 200, winsor=True, seed=2)
    assert LOW <= cover <= HIGH


def test_paired_difference_interval_covers_the_true_edge() -> None:
    # both policies share each order's market move (sd 20 bp); the edge is -0.5 bp
    def draw(r: np.random.Generator, n: int) -> np.ndarray:
        market = r.normal(0, 20.0, n)
        a = market + r.normal(-0.5, 1.0, n)
        b = market + r.normal(0.0, 1.0, n)
        return a - b

    cover = _coverage(draw, -0.5, 150, winsor=False, seed=3)
    assert LOW <= cover <= HIGH


def test_an_interval_that_is_too_narrow_is_caught() -> None:
    """The coverage check itself can fail: half-width intervals cover far too rarely."""
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(REPLICATIONS):
        x = rng.normal(3.0, 10.0, 120)
        est = mean_ci(x, resample(120, DRAWS, rng), winsor=False)
        half = (est.hi - est.lo) / 4
        hits += est.value - half <= 3.0 <= est.value + half
    assert hits / REPLICATIONS < LOW


def test_std_interval_brackets_the_sample_std() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0, 4.0, 300)
    mean, std = mean_and_std_ci(x, resample(300, DRAWS, rng))
    assert std.lo < std.value < std.hi
    assert std.lo < 4.0 < std.hi
    assert mean.lo < 0.0 < mean.hi


def test_winsorise_rows_matches_numpys_percentiles_row_by_row() -> None:
    rng = np.random.default_rng(6)
    m = rng.standard_t(2, (20, 137))
    lo, hi = np.percentile(m, [1, 99], axis=1, keepdims=True)
    np.testing.assert_allclose(winsorise_rows(m), np.clip(m, lo, hi), rtol=0, atol=1e-12)


def test_winsorise_clips_to_the_samples_own_1st_and_99th_percentiles() -> None:
    x = np.arange(101, dtype=float)  # percentiles 1 and 99 are 1 and 99
    x[0], x[100] = -1e6, 1e6
    w = winsorise(x)
    assert w.min() == pytest.approx(np.percentile(x, 1))
    assert w.max() == pytest.approx(np.percentile(x, 99))
    assert np.array_equal(w[2:99], x[2:99])
    assert winsorise([]).size == 0


def test_cell_generators_depend_on_the_seed_and_cell_only() -> None:
    a = resample(50, 10, cell_rng(7, "AMZN 14:15-16:00", "tod:close"))
    b = resample(50, 10, cell_rng(7, "AMZN 14:15-16:00", "tod:close"))
    c = resample(50, 10, cell_rng(7, "AMZN 14:15-16:00", "tod:midday"))
    d = resample(50, 10, cell_rng(8, "AMZN 14:15-16:00", "tod:close"))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_tercile_labels_split_into_thirds_with_their_ranges() -> None:
    values = np.arange(9, dtype=float)
    labels, ranges = tercile_labels(values, ("low", "mid", "high"))
    assert labels == ["low"] * 3 + ["mid"] * 3 + ["high"] * 3
    assert ranges[0].startswith("0-") and ranges[2].endswith("-8")

"""The population stability index: zero for the same distribution, large for a shift."""

from __future__ import annotations

import numpy as np
import pytest

from policies.feature_shift import (
    SIGNIFICANT,
    format_table,
    inside_share,
    psi,
    shift_table,
    unclipped_share,
)


def test_a_resample_of_the_same_distribution_is_stable() -> None:
    rng = np.random.default_rng(0)
    assert psi(rng.normal(size=20_000), rng.normal(size=20_000)) < 0.01


def test_a_shifted_or_rescaled_distribution_is_flagged() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=20_000)
    assert psi(ref, rng.normal(1.0, 1.0, size=20_000)) > SIGNIFICANT
    assert psi(ref, rng.normal(0.0, 3.0, size=20_000)) > SIGNIFICANT
    # what a spread in ticks does on a ticker quoting twice as many ticks
    assert psi(np.log(ref**2 + 1), np.log(4 * ref**2 + 1)) > SIGNIFICANT


def test_a_discrete_feature_gets_one_bin_per_value() -> None:
    ref = np.array([0.0] * 500 + [1.0] * 500)
    assert psi(ref, np.array([0.0] * 500 + [1.0] * 500)) == pytest.approx(0.0)
    half = psi(ref, np.array([0.0] * 900 + [1.0] * 100))
    assert half == pytest.approx(0.4 * np.log(0.9 / 0.5) + (-0.4) * np.log(0.1 / 0.5))


def test_the_range_share_and_the_table() -> None:
    ref = np.linspace(0, 1, 101)
    assert inside_share(ref, np.array([0.5, 1.0, 1.5, -0.1])) == 0.5
    z = np.random.default_rng(2).normal(size=10_000)
    assert unclipped_share(z, np.array([0.0, 4.0, 6.0, -7.0])) == 0.5  # beyond 5 sigma clips
    assert unclipped_share(np.zeros(10), np.array([0.5, 9.0])) == 0.5  # constant: std 1
    rows = np.stack([ref, ref[::-1]], axis=1)
    table = shift_table(["a", "b"], rows, {"same": rows, "up": rows + 2})
    assert table["same"]["a"]["psi"] < 0.01 and table["up"]["b"]["inside"] == 0.0
    text = format_table(["a", "b"], table)
    assert text.splitlines()[0] == "| feature | same | up |" and "**" in text

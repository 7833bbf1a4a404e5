"""Impact models and their estimation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from exchange.replay import (
    LinearPermanentImpact,
    NoImpact,
    TransientPropagatorImpact,
    default_impact,
)
from exchange.replay.impact import PARAMS_FILE, to_offset
from exchange.replay.impact_estimation import fit_decay, response

S = 1_000_000_000


@pytest.mark.parametrize(
    ("x", "want"), [(0.49, 0), (0.5, 1), (-0.5, -1), (1.49, 1), (-2.51, -3), (0.0, 0)]
)
def test_offset_rounds_half_away_from_zero(x: float, want: int) -> None:
    assert to_offset(x) == want


def test_no_impact() -> None:
    m = NoImpact()
    m.on_trade(0, 1000)
    assert m.value(10) == 0.0 and m.next_change_ns(10, 0) is None


def test_linear_permanent_impact_accumulates_signed_volume() -> None:
    m = LinearPermanentImpact(gamma=0.01)
    m.on_trade(0, 300)
    m.on_trade(5, -100)
    assert m.value(10**12) == pytest.approx(2.0)
    assert m.next_change_ns(7, 0) == 7  # the offset should be 2 now
    assert m.next_change_ns(7, 2) is None  # and stays there forever
    m.reset()
    assert m.value(0) == 0.0
    with pytest.raises(ValueError):
        LinearPermanentImpact(gamma=-1.0)


def test_transient_impact_decays_exponentially() -> None:
    m = TransientPropagatorImpact(kappa=0.5, decay_s=10.0, beta=0.5)
    m.on_trade(0, 400)  # 0.5 * sqrt(400) = 10 ticks
    assert m.value(0) == pytest.approx(10.0)
    assert m.value(10 * S) == pytest.approx(10.0 / math.e)
    m.on_trade(10 * S, -100)  # minus 5 ticks on top of what is left
    assert m.value(10 * S) == pytest.approx(10.0 / math.e - 5.0)
    assert m.next_change_ns(10 * S, 0) == 10 * S  # -1.32 rounds to -1: change due now
    t = m.next_change_ns(10 * S, -1)
    assert t is not None
    assert to_offset(m.value(t - 1)) == -1 and to_offset(m.value(t)) == 0
    with pytest.raises(ValueError):
        TransientPropagatorImpact(kappa=1.0, decay_s=0.0)
    with pytest.raises(ValueError):
        TransientPropagatorImpact(kappa=1.0, decay_s=1.0, beta=2.0)


def test_default_impact_uses_shipped_parameters() -> None:
    params = json.loads(PARAMS_FILE.read_text())
    t = default_impact("transient", "AMZN")
    assert isinstance(t, TransientPropagatorImpact)
    assert t.kappa == pytest.approx(params["tickers"]["AMZN"]["transient"]["kappa"])
    assert isinstance(default_impact("none"), NoImpact)
    with pytest.raises(ValueError, match="unknown impact model"):
        default_impact("square-root")


@pytest.mark.parametrize("kind", ["permanent", "transient", "sqrt"])
def test_a_ticker_without_parameters_is_refused_rather_than_given_another_tickers(
    kind: str,
) -> None:
    with pytest.raises(ValueError, match="no impact parameters for ticker 'UNKNOWN'"):
        default_impact(kind, "UNKNOWN")


def test_response_regression_recovers_a_known_kernel() -> None:
    rng = np.random.default_rng(5)
    lags, n = 40, 30_000
    true_k = 0.01 * np.exp(-np.arange(lags) / 8.0) + 0.002
    b = np.diff(true_k, prepend=0.0)
    q = rng.normal(0, 100, n)
    dm = np.convolve(q, b)[:n] + rng.normal(0, 0.5, n)
    est = response(q, dm, lags, 1.0)
    assert np.allclose(est.kernel, true_k, atol=5e-4)
    assert est.r2 > 0.5
    kappa, decay_s, at_bound = fit_decay(est.kernel - 0.002, bucket_s=1.0)
    assert kappa == pytest.approx(0.01, rel=0.1)
    assert decay_s == pytest.approx(8.0, rel=0.2) and not at_bound

"""Estimation from training data: Almgren-Chriss closed form and parameters, volume profile."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from policies.estimation import (
    AlmgrenChrissParams,
    MarketArrays,
    VolumeProfile,
    ac_holdings,
    estimate_almgren_chriss,
    estimate_volume_profile,
)

S = 1_000_000_000


def test_ac_holdings_is_the_closed_form() -> None:
    x, k, t_end = 1000.0, 0.01, 600.0
    for t in (0.0, 100.0, 350.0, 600.0):
        assert ac_holdings(x, k, t_end, t) == pytest.approx(
            x * math.sinh(k * (t_end - t)) / math.sinh(k * t_end)
        )
    assert ac_holdings(x, k, t_end, 0) == pytest.approx(x)
    assert ac_holdings(x, k, t_end, t_end) == pytest.approx(0.0)


def test_ac_holdings_limits() -> None:
    assert ac_holdings(1000, 0.0, 100, 25) == pytest.approx(750)  # TWAP line
    assert ac_holdings(1000, 10.0, 100, 1) == pytest.approx(1000 * math.exp(-10))  # no overflow
    front = [ac_holdings(1000, 0.02, 300, t) for t in range(0, 301, 30)]
    assert all(a >= b for a, b in itertools.pairwise(front))
    assert front[5] < 500  # urgency front-loads


def test_kappa_from_parameters() -> None:
    p = AlmgrenChrissParams(2.0, 3.0, 10.0, 0.0, 50.0, risk_aversion=1e-3)
    assert p.kappa(5.0) == pytest.approx(math.sqrt(1e-3 * 4.0 / 10.0))
    assert p.with_risk_aversion(0.0).kappa(5.0) == 0.0
    assert AlmgrenChrissParams.from_json(p.to_json()) == p


def synthetic(
    seed: int = 0, seconds: int = 20_000, sigma_bps: float = 1.5, kyle_bps_per_u: float = 0.0
) -> MarketArrays:
    """A mid random walk with known per-second volatility; trades at a known rate."""
    rng = np.random.default_rng(seed)
    ts = np.arange(seconds, dtype=np.int64) * S
    rate = 20.0
    sign = rng.choice([-1, 1], size=seconds)
    qty = np.full(seconds, int(rate), dtype=np.int64)
    flow_u = sign * qty / rate
    ret = rng.normal(0, sigma_bps, size=seconds) + kyle_bps_per_u * flow_u
    mid = 10_000 * np.exp(np.cumsum(ret) / 1e4)
    spread = np.full(seconds, 4, dtype=np.int64)
    bid = (mid - 2).astype(np.int64)[:, None]
    ask = (mid + 2).astype(np.int64)[:, None]
    size = np.full((seconds, 1), 200, dtype=np.int64)
    return MarketArrays(ts, mid, spread, bid, size, ask, size, ts, qty, sign.astype(np.int64), 0)


def test_sigma_and_gamma_are_recovered() -> None:
    p = estimate_almgren_chriss(
        [synthetic(sigma_bps=1.5, kyle_bps_per_u=0.8)], tau_s=5.0, sample_s=30.0
    )
    expected_sigma = math.sqrt(1.5**2 + 0.8**2)  # the flow adds its own variance
    assert p.sigma_bps_sqrt_s == pytest.approx(expected_sigma, rel=0.1)
    assert p.gamma_bps_per_u == pytest.approx(0.8, rel=0.25)
    assert p.volume_rate == pytest.approx(20.0, rel=1e-3)  # n trades over n - 1 seconds
    assert p.eps_bps == pytest.approx(2.0, rel=0.05)  # half of a 4-tick spread on 10,000


def test_estimation_refuses_empty_data() -> None:
    with pytest.raises(ValueError):
        estimate_almgren_chriss([], tau_s=5.0)


def test_volume_profile_recovers_shape_and_flat_fills_uncovered_buckets() -> None:
    # trades every second from 09:30 to 11:00, three times as busy in the first 15 minutes
    day0 = 0
    t = np.arange(34_200, 39_600, dtype=np.int64)
    qty = np.where(t < 35_100, 30, 10).astype(np.int64)
    ts = t * S
    arr = MarketArrays(
        ts,
        np.full(len(t), 100.0),
        np.ones(len(t), np.int64),
        np.ones((len(t), 1), np.int64),
        np.ones((len(t), 1), np.int64),
        np.ones((len(t), 1), np.int64),
        np.ones((len(t), 1), np.int64),
        ts,
        qty,
        np.ones(len(t), np.int64),
        day0,
    )
    prof = estimate_volume_profile([arr], bucket_s=900)
    assert prof.covered[:6] == (True,) * 6 and not any(prof.covered[6:])
    assert prof.rate[0] / prof.rate[1] == pytest.approx(3.0)
    assert len(set(prof.rate[6:])) == 1
    # the cumulative profile integrates the rate
    assert prof.cumulative(34_200 + 900) == pytest.approx(prof.rate[0] * 900)
    assert VolumeProfile.from_json(prof.to_json()) == prof

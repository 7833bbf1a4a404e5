"""The square-root impact model: the law by construction, slicing, decay, round trips,
and the exact time its rounded offset next changes."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from exchange.replay import default_impact
from exchange.replay.impact import DEFAULT_KIND, to_offset
from exchange.replay.sqrt_impact import Kernel, SquareRootImpact

S = 1_000_000_000
KERNEL = Kernel(permanent=0.1, tau0_s=20.0, beta=0.3)


def twap(model: SquareRootImpact, qty: int, horizon_s: int, every_s: int) -> None:
    n = horizon_s // every_s
    for i in range(n):
        model.on_trade(i * every_s * S, qty // n)


@pytest.mark.parametrize("tau_s", [0.0, 0.5, 5.0, 60.0, 600.0, 3600.0, 86_400.0])
def test_kernel_exponentials_follow_the_power_law(tau_s: float) -> None:
    w, scales = KERNEL.exponentials()
    assert (w > 0).all()
    held = KERNEL.permanent + float(w @ np.exp(-tau_s / scales))
    assert held == pytest.approx(KERNEL(tau_s), rel=0.015)


def test_a_block_moves_the_price_by_the_square_root_of_its_size() -> None:
    small, large = SquareRootImpact(0.5, KERNEL), SquareRootImpact(0.5, KERNEL)
    small.on_trade(0, 400)
    large.on_trade(0, 1600)
    assert small.value(0) == pytest.approx(0.5 * 20)
    assert large.value(0) == pytest.approx(2 * small.value(0))
    assert small.hole(0) == pytest.approx(400)


def test_slicing_a_block_at_one_instant_changes_nothing() -> None:
    one, many = SquareRootImpact(0.5, KERNEL), SquareRootImpact(0.5, KERNEL)
    one.on_trade(5 * S, -1000)
    for _ in range(100):
        many.on_trade(5 * S, -10)
    assert many.value(5 * S) == pytest.approx(one.value(5 * S))
    assert many.value(500 * S) == pytest.approx(one.value(500 * S))


def test_the_same_schedule_at_1s_5s_or_30s_decisions_moves_the_price_alike() -> None:
    ends = []
    for every in (1, 5, 30):
        m = SquareRootImpact(0.5, KERNEL)
        twap(m, 18_000, 600, every)
        ends.append(m.value(600 * S))
    assert max(ends) / min(ends) < 1.1


def test_a_fill_costs_more_on_top_of_recent_volume_on_the_same_side() -> None:
    m = SquareRootImpact(1.0, KERNEL)
    m.on_trade(0, 900)
    before = m.value(S)
    m.on_trade(S, 100)
    fresh = SquareRootImpact(1.0, KERNEL)
    fresh.on_trade(S, 100)
    assert 0 < m.value(S) - before < fresh.value(S)  # concave: less per share than fresh


def test_impact_relaxes_with_the_kernel_towards_its_permanent_part() -> None:
    m = SquareRootImpact(1.0, KERNEL)
    m.on_trade(0, 10_000)
    peak = m.value(0)
    for tau in (10.0, 100.0, 1000.0):
        assert m.value(int(tau * S)) == pytest.approx(peak * KERNEL(tau), rel=0.015)
    far = m.value(10**9 * S)
    assert far == pytest.approx(KERNEL.permanent * peak, rel=0.02)


def test_a_round_trip_leaves_no_impact() -> None:
    m = SquareRootImpact(1.0, KERNEL)
    m.on_trade(0, 2500)
    m.on_trade(0, -2500)
    assert m.value(0) == pytest.approx(0.0, abs=1e-5)
    assert m.value(3600 * S) == pytest.approx(0.0, abs=1e-5)
    assert m.next_change_ns(0, 0) is None


def test_next_change_is_the_first_time_the_rounded_impact_moves() -> None:
    rng = random.Random(4)
    for _ in range(20):
        m = SquareRootImpact(0.8, KERNEL)
        t = 0
        for _ in range(rng.randint(1, 6)):
            t += rng.randint(0, 60) * S
            m.on_trade(t, rng.choice([1, 1, -1]) * rng.randint(10, 5000))
        offset = to_offset(m.value(t))
        nxt = m.next_change_ns(t, offset)
        grid = np.linspace(t, nxt if nxt is not None else t + 7200 * S, 400).astype(np.int64)
        assert all(to_offset(m.value(int(g))) == offset for g in grid[:-1])
        if nxt is not None:
            assert to_offset(m.value(nxt)) != offset
            assert to_offset(m.value(nxt - 1_000)) == offset
            assert m.next_change_ns(t + (nxt - t) // 2, offset) == nxt  # cached answer
        else:
            assert to_offset(m.value(t + 10**7 * S)) == offset


def test_reset_forgets_every_trade() -> None:
    m = SquareRootImpact(1.0, KERNEL)
    m.on_trade(10 * S, 500)
    m.reset()
    assert m.value(10 * S) == 0.0 and m.hole(10 * S) == 0.0
    assert m.next_change_ns(10 * S, 0) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"permanent": 1.5, "tau0_s": 1.0, "beta": 0.3}, "permanent"),
        ({"permanent": 0.1, "tau0_s": 0.0, "beta": 0.3}, "tau0"),
        ({"permanent": 0.1, "tau0_s": 1.0, "beta": 0.0}, "beta"),
        ({"permanent": 0.1, "tau0_s": math.nan, "beta": 0.3}, "tau0"),
    ],
)
def test_bad_kernel_parameters_are_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Kernel(**kwargs)


def test_a_negative_coefficient_is_refused() -> None:
    with pytest.raises(ValueError, match="coefficient"):
        SquareRootImpact(-1.0, KERNEL)


def test_the_square_root_model_is_the_default() -> None:
    assert DEFAULT_KIND == "sqrt"
    m = default_impact(DEFAULT_KIND, "AMZN")
    assert isinstance(m, SquareRootImpact)
    m.on_trade(0, 100)
    m2 = default_impact(DEFAULT_KIND, "AMZN")
    m2.on_trade(0, 400)
    assert m2.value(0) == pytest.approx(2 * m.value(0))  # not linear in size

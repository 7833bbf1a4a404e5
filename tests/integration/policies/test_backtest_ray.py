"""The backtest on Ray gives this process's results bit for bit: a private local Ray
instance, started by this test (two CPUs, no dashboard) and shut down after it, runs the
same jobs as Ray tasks."""

from __future__ import annotations

from typing import Any

import pytest

from core.log import configure
from policies.backtest import BacktestConfig, parse_data, parse_policies, run_backtest
from policies.backtest.scaleout import InProcess, RayCluster
from policies.env import EnvConfig

pytest.importorskip("ray", reason="the Ray path needs the `ray` extra")


def outcomes(result: Any) -> dict[tuple[str, str], list[Any]]:
    return {(g.key, p): v for g in result.groups for p, v in g.outcomes.items()}


@pytest.mark.slow
def test_ray_tasks_give_this_processs_results_bit_for_bit() -> None:
    configure(level="ERROR")
    cfg = BacktestConfig(
        policies=parse_policies("rl:policies/artifacts/ppo_amzn,twap,random"),
        data=parse_data(["AMZN_2012-06-21_5@14:15-16:00", "AAPL_2012-06-21_1@12:00-13:00"]),
        orders=6,
        seed=11,
        env=EnvConfig(horizon_s=(60.0, 150.0)),
        draws=200,
        chunk=2,
    )
    here = run_backtest(cfg, executor=InProcess())
    cluster = RayCluster("local", workers=2)
    try:
        assert cluster.name.startswith("ray (local, 2 CPUs")
        there = run_backtest(cfg, executor=cluster)
    finally:
        cluster.close()
    import ray

    assert not ray.is_initialized()
    assert outcomes(here) == outcomes(there)
    assert here.summary["groups"] == there.summary["groups"]

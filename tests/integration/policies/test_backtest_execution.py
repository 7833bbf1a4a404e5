"""The backtest on the shipped LOBSTER data, through the real execution path: the
counterfactual is the file, the cost split adds up to the environment's own shortfall,
and an order's outcome depends on nothing but the order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.log import configure
from policies.actions import WAIT, Action
from policies.backtest.episodes import Job, Worker, run_order
from policies.backtest.lineup import PolicySpec, parse_policies
from policies.backtest.market_path import FileMidPath
from policies.backtest.orders import DataGroup, GroupSpec, ParentSpec, draw_orders, parse_data
from policies.backtest.runner import baseline_params
from policies.backtest.trace import TraceFactory
from policies.context import DecisionContext, Observation
from policies.data import Source, load_source
from policies.env import EnvConfig, ExecutionEnv
from policies.features import FeatureSpec
from policies.learned import load_policy

ARTIFACT = "policies/artifacts/ppo_amzn"
SHORT = EnvConfig(horizon_s=(60.0, 180.0))


class Waiting:
    """Sends nothing until the end-of-horizon sweep: the market runs without us."""

    name = "waiting"

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        return None

    def act(self, obs: Observation) -> Action:
        return WAIT


@pytest.fixture(scope="module")
def amzn() -> tuple[GroupSpec, Source, DataGroup]:
    configure(level="ERROR")
    (spec,) = parse_data(["AMZN_2012-06-21_5@14:15-16:00"])
    source = load_source(spec.folder, [spec.window])
    return spec, source, DataGroup.of(spec, source)


@pytest.fixture(scope="module")
def features() -> FeatureSpec:
    return load_policy(ARTIFACT).artifact.feature_spec


def _orders(
    amzn: tuple[GroupSpec, Source, DataGroup], n: int, config: EnvConfig
) -> list[ParentSpec]:
    _, source, group = amzn
    env = ExecutionEnv([source], config=config)
    try:
        return draw_orders(group, source, env, n, base_seed=5)
    finally:
        env.close()


def test_the_replay_without_our_orders_is_the_files_mid_path(
    amzn: tuple[GroupSpec, Source, DataGroup],
) -> None:
    _, source, _ = amzn
    path = FileMidPath(source.day)
    factory = TraceFactory()
    env = ExecutionEnv([source], config=replace(SHORT, impact="none"), link=factory)
    checked = 0
    for order in _orders(amzn, 6, SHORT):
        run_order(env, factory, Waiting(), order, path)
        trace = factory.last
        assert trace is not None
        assert env.parent.arrival_mid == path.mid_at(order.start_ns)
        end = order.start_ns + order.horizon_ns
        for s in trace.samples:
            if s.ts_ns <= end and s.mid is not None:  # before our first (sweep) order
                assert s.mid == path.mid_at(s.ts_ns), s
                checked += 1
    env.close()
    assert checked > 100


@pytest.mark.parametrize("policy", ["rl:" + ARTIFACT, "twap", "pov", "ac", "random"])
def test_cost_split_adds_up_to_the_environments_shortfall(
    amzn: tuple[GroupSpec, Source, DataGroup], features: FeatureSpec, policy: str
) -> None:
    spec, _, _ = amzn
    (pspec,) = parse_policies(policy)
    job = Job(spec, pspec, baseline_params(ARTIFACT).to_json(), SHORT, features, ())
    worker = Worker()
    pol = worker.policy(job)
    env, factory = worker.env(job, pol)
    path = worker.market(spec).path
    for order in _orders(amzn, 8, SHORT):
        out = run_order(env, factory, pol, order, path)
        total = out.spread_bps + out.impact_bps + out.timing_bps
        assert total == pytest.approx(out.is_bps, abs=1e-9)
        assert env.result is not None and out.is_bps == env.result.is_bps
        res = env.result
        assert out.sweep_share == pytest.approx((res.swept + res.unfilled_at_end) / order.qty)
        assert out.fill_rate == env.parent.filled_qty / order.qty
        assert 0 < out.participation < 1
        assert out.inventory[0] == 1.0
        assert out.child_orders >= 1
        if pspec.learned:
            assert out.actions is not None
            assert sum(map(sum, out.actions)) > 0


def test_an_orders_outcome_depends_on_the_order_not_on_what_ran_before(
    amzn: tuple[GroupSpec, Source, DataGroup], features: FeatureSpec
) -> None:
    spec, _, _ = amzn
    orders = tuple(_orders(amzn, 6, SHORT))
    bl = baseline_params(ARTIFACT).to_json()
    for pspec in parse_policies(f"rl:{ARTIFACT},random,pov"):
        forward = dict(Worker().run(Job(spec, pspec, bl, SHORT, features, orders)))
        backward = dict(Worker().run(Job(spec, pspec, bl, SHORT, features, orders[::-1])))
        alone = dict(Worker().run(Job(spec, pspec, bl, SHORT, features, orders[3:4])))
        assert forward == backward
        assert alone[orders[3].index] == forward[orders[3].index]


def test_orders_are_the_same_for_every_policy_and_rerun(
    amzn: tuple[GroupSpec, Source, DataGroup],
) -> None:
    a = _orders(amzn, 20, SHORT)
    b = _orders(amzn, 30, SHORT)
    assert a == b[:20]  # more orders never change the ones already drawn
    sizes = np.asarray([o.size_frac for o in a])
    assert sizes.min() >= 0.02 - 1e-9 and sizes.max() <= 0.2 + 0.02  # lots round up
    assert {o.side for o in a} == {1, -1}


def test_a_worker_refuses_an_artifact_that_is_not_the_one_verified(features: FeatureSpec) -> None:
    (rl,) = parse_policies("rl:" + ARTIFACT)
    assert isinstance(rl, PolicySpec) and rl.digest
    bad = replace(rl, digest="0" * 64)
    from policies.artifact import ArtifactError

    with pytest.raises(ArtifactError):
        bl = baseline_params(ARTIFACT).to_json()
        Worker().policy(Job(GroupSpec("x", (0, 1)), bad, bl, SHORT, features, ()))

"""The execution environment on the real engine, replay, risk overlay and router."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from core.log import configure
from core.types import Side
from policies.actions import Action, Placement
from policies.baselines import ScheduleTactic, TwapSchedule
from policies.data import DataSplit, default_split
from policies.env import ENV_ID, EnvConfig, EpisodeSpec, ExecutionEnv
from policies.rollout import run_episode
from policies.vector_env import SyncVecEnv, WorkerVecEnv

SHORT = EnvConfig(horizon_s=(60.0, 120.0))


@pytest.fixture(scope="module")
def split() -> DataSplit:
    configure(level="ERROR")
    return default_split()


def test_env_passes_the_gymnasium_checker(split: DataSplit) -> None:
    env = ExecutionEnv(split.train, config=SHORT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
    env.close()


def test_registered_id_builds_the_env() -> None:
    env = gym.make(ENV_ID, config=SHORT)
    obs, _ = env.reset(seed=3)
    assert obs.shape == env.observation_space.shape
    env.close()


def rollout(
    env: ExecutionEnv, seed: int, actions: list[int]
) -> tuple[list[float], list[np.ndarray]]:
    obs, _ = env.reset(seed=seed)
    rewards, observations = [], [obs]
    done, k = False, 0
    while not done:
        obs, r, term, trunc, _ = env.step(actions[k % len(actions)])
        rewards.append(float(r))
        observations.append(obs)
        done, k = term or trunc, k + 1
    return rewards, observations


def test_deterministic_under_a_seed(split: DataSplit) -> None:
    a = ExecutionEnv(split.train, config=SHORT)
    b = ExecutionEnv(split.train, config=SHORT)
    acts = [2, 5, 8, 0, 9, 1, 4]
    ra, oa = rollout(a, 11, acts)
    rb, ob = rollout(b, 11, acts)
    assert ra == rb
    assert all(np.array_equal(x, y) for x, y in zip(oa, ob, strict=True))
    rc, _ = rollout(a, 12, acts)
    assert rc != ra


def test_rewards_sum_to_minus_the_final_shortfall_and_the_deadline_completes_it(
    split: DataSplit,
) -> None:
    env = ExecutionEnv(split.train, config=SHORT)
    for seed in range(4):
        rewards, _ = rollout(env, seed, [0])  # always wait: the end time must do it all
        res = env.result
        assert res is not None
        assert math.isclose(sum(rewards), -res.is_bps, abs_tol=1e-6)
        assert res.deadline_left == res.spec.qty and res.sweep_share == 1.0
        # one market order took what the displayed book held; the rest was charged
        assert res.swept + res.unfilled_at_end == res.spec.qty and res.swept > 0
        assert res.denied == 0


def test_the_patient_sweep_is_one_setting_away(split: DataSplit) -> None:
    from dataclasses import replace

    env = ExecutionEnv(split.train, config=replace(SHORT, sweep_max_s=300.0))
    for seed in range(2):
        rollout(env, seed, [0])
        res = env.result
        assert res is not None
        assert res.unfilled_at_end == 0 and res.swept == res.spec.qty


def test_a_remainder_beyond_the_displayed_book_costs_more_than_its_last_price(
    split: DataSplit,
) -> None:
    """Waiting with a large parent: the part the displayed book cannot take is charged
    as walking the latent book beyond the far displayed price, never at that price."""
    from dataclasses import replace

    from policies.env import latent_walk_ticks

    aapl_level_1 = split.test[-1:]  # one displayed level
    env = ExecutionEnv(aapl_level_1, config=replace(SHORT, participation=(0.3, 0.3)))
    rollout(env, 3, [0])
    res = env.result
    assert res is not None and res.unfilled_at_end > 0
    parent, book = env.parent, env.book
    far = book.depth(parent.side.opposite, 50)
    shown, notional = book.cost_to_fill(parent.side, res.unfilled_at_end)
    beyond = res.unfilled_at_end - shown
    at_last = notional + beyond * far[-1][0]
    model = env.simulator.impact  # type: ignore[attr-defined]
    extra = latent_walk_ticks(model, parent.side.sign, beyond, env.simulator.now_ns)
    assert extra > 0
    charged = parent.notional + at_last + parent.side.sign * beyond * extra
    want = parent.side.sign * (charged - parent.qty * parent.arrival_mid)
    assert res.is_bps == pytest.approx(want / (parent.qty * parent.arrival_mid) * 1e4)


def test_risk_and_deadline_terms_shape_the_reward_not_the_shortfall(split: DataSplit) -> None:
    from dataclasses import replace

    plain = ExecutionEnv(split.train, config=SHORT)
    shaped = ExecutionEnv(
        split.train, config=replace(SHORT, risk_aversion=0.05, deadline_penalty_bps=20.0)
    )
    acts = [0, 0, 2, 0]
    r0, _ = rollout(plain, 5, acts)
    r1, _ = rollout(shaped, 5, acts)
    assert plain.result is not None and shaped.result is not None
    assert shaped.result.is_bps == plain.result.is_bps  # the market and the fills are the same
    penalties = [a - b for a, b in zip(r0, r1, strict=True)]
    assert all(p > 0 for p in penalties[:-1])  # inventory held through volatility
    left = shaped.result.sweep_share
    assert penalties[-1] == pytest.approx(20.0 * max(0.0, left - 0.03))
    assert left > 0.5  # mostly waiting: the deadline penalty applied


def test_impact_strength_is_drawn_per_episode_and_changes_what_crossing_costs(
    split: DataSplit,
) -> None:
    from dataclasses import replace

    fixed = ExecutionEnv(split.train, config=SHORT)
    drawn = ExecutionEnv(split.train, config=replace(SHORT, impact_scale=(0.5, 2.0)))
    for seed in range(3):
        a = fixed.sample_episode(np.random.default_rng(seed))
        b = drawn.sample_episode(np.random.default_rng(seed))
        # drawn last: the episode itself is the one the calibrated strength gets
        assert replace(b, impact_scale=1.0) == a and 0.5 <= b.impact_scale <= 2.0
    spec = replace(fixed.sample_episode(np.random.default_rng(1)), qty=3000)
    costs = []
    for scale in (1.0, 3.0):
        env = ExecutionEnv(split.train, config=SHORT)
        env.reset(seed=0, options={"episode": replace(spec, impact_scale=scale)})
        done = False
        while not done:  # cross a slice at every decision
            *_, term, trunc, _ = env.step(7)
            done = term or trunc
        assert env.result is not None
        costs.append(env.result.is_bps)
    assert costs[1] > costs[0]


def test_crossing_fills_at_the_far_touch(split: DataSplit) -> None:
    env = ExecutionEnv(split.train, config=SHORT)
    day0 = split.train[0].day_start_ns
    spec = EpisodeSpec(0, day0 + 36_000 * 1_000_000_000, 60_000_000_000, Side.BUY, 40)
    env.reset(seed=0, options={"episode": spec})
    ask, mid = env.book.best_ask, env.book.mid
    assert ask is not None and mid is not None
    _, r, *_ = env.step_action(Action(Placement.NONE, cross_qty=40))
    res_parent = env.parent
    assert res_parent.filled_qty == 40
    assert res_parent.avg_px == ask  # the IOC took the displayed ask, nothing worse
    assert res_parent.shortfall_bps() == pytest.approx((ask - mid) / mid * 1e4)
    assert float(r) == pytest.approx(-res_parent.shortfall_bps())


def test_baseline_runs_through_the_same_env(split: DataSplit) -> None:
    env = ExecutionEnv(split.val, config=SHORT)
    res = run_episode(env, ScheduleTactic(TwapSchedule()), seed=5)
    assert res.filled == res.spec.qty and res.child_orders > 0


def test_vector_envs_agree_in_process_and_in_workers(split: DataSplit) -> None:
    factories = [lambda: ExecutionEnv(split.train, config=SHORT)] * 4
    sync = SyncVecEnv(factories, seed=7)
    work = WorkerVecEnv(factories, seed=7, workers=2)
    try:
        o1, o2 = sync.reset(), work.reset()
        assert np.array_equal(o1, o2)
        rng = np.random.default_rng(0)
        ended = 0
        for _ in range(40):
            a = rng.integers(11, size=4)
            s1, s2 = sync.step(a), work.step(a)
            assert np.array_equal(s1[0], s2[0]) and np.array_equal(s1[1], s2[1])
            assert np.array_equal(s1[2], s2[2])
            ended += int(s1[2].sum())
        assert ended > 0  # auto-reset exercised
    finally:
        sync.close()
        work.close()


def test_relative_reward_sums_to_the_shortfall_saved_against_twap(split: DataSplit) -> None:
    from dataclasses import replace

    rel = ExecutionEnv(split.train, config=replace(SHORT, reward_baseline="twap"))
    rewards, _ = rollout(rel, 21, [0, 2, 7])
    mine = rel.result
    assert mine is not None
    twap = run_episode(
        ExecutionEnv(split.train, config=SHORT),
        ScheduleTactic(TwapSchedule()),
        seed=0,
        spec=mine.spec,
    )
    assert math.isclose(sum(rewards), -(mine.is_bps - twap.is_bps), abs_tol=1e-6)


def test_synthetic_regime_episodes_run_through_the_same_path(split: DataSplit) -> None:
    from policies.data import synthetic_source

    env = ExecutionEnv([synthetic_source("AMZN", "volatile")], config=SHORT)
    res = run_episode(env, ScheduleTactic(TwapSchedule()), seed=4)
    assert res.filled + res.unfilled_at_end == res.spec.qty and res.filled > 0
    again = run_episode(env, ScheduleTactic(TwapSchedule()), seed=4)
    assert again.is_bps == res.is_bps  # same seed, same synthetic episode

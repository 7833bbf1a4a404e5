"""Exact counterfactuals on the replay: every action tried at one decision of a teacher's
episode, the market's future held fixed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from core.log import configure
from policies.actions import ActionSpec
from policies.context import Observation
from policies.counterfactual import NotReplayable, counterfactual
from policies.data import DataSplit, default_split
from policies.env import EnvConfig, ExecutionEnv
from policies.imitation import TableTeacher

SHORT = EnvConfig(horizon_s=(60.0, 120.0), risk_aversion=0.1)


@pytest.fixture(scope="module")
def env() -> Iterator[ExecutionEnv]:
    configure(level="ERROR")
    split: DataSplit = default_split()
    e = ExecutionEnv(split.train, action_spec=ActionSpec(line=2.0), config=SHORT)
    yield e
    e.close()


def test_the_teachers_own_action_replays_its_episode_and_others_change_the_cost(
    env: ExecutionEnv,
) -> None:
    teacher = TableTeacher(env.aspec, 0.3)
    seen = [counterfactual(env, teacher, seed) for seed in (3, 4)]
    for c in seen:
        assert c.advantage[c.teacher_action] == 0.0
        assert 0 <= c.decision < c.decisions and c.hold == 1
        assert c.features.shape == (len(env.fspec.names),)
        assert np.isfinite(c.cost).all() and np.isfinite(c.is_bps).all()
    # crossing two slices trades at the far touch where the teacher rests: not free
    assert any(c.advantage[env.aspec.index("cross_x2")] != 0.0 for c in seen)


def test_an_action_kept_several_decisions_is_measured_against_the_teachers_episode(
    env: ExecutionEnv,
) -> None:
    teacher = TableTeacher(env.aspec, 0.3)
    one, held = counterfactual(env, teacher, 5), counterfactual(env, teacher, 5, hold=4)
    assert held.teacher_cost == one.teacher_cost and held.decision == one.decision
    assert np.array_equal(held.features, one.features)
    assert held.hold == 4
    wait = env.aspec.index("wait")
    assert held.advantage[wait] == pytest.approx(held.cost[wait] - one.teacher_cost)
    with pytest.raises(ValueError, match="hold"):
        counterfactual(env, teacher, 5, hold=0)


class _Coin:
    """A demonstrator whose choices are not a function of the state."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rng = np.random.default_rng(0)

    def decide(self, obs: Observation) -> int:
        return int(self.rng.integers(self.n))


def test_a_teacher_that_does_not_replay_is_refused(env: ExecutionEnv) -> None:
    with pytest.raises(NotReplayable, match="seed 3"):
        counterfactual(env, _Coin(env.aspec.n), 3)

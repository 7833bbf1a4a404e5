"""Each episode starts as a fresh trading node: its risk overlay holds a disengaged kill
switch. An untouched switch is carried over (no state file written per episode); one that
engaged is replaced, so an episode never inherits a halt, and the halt itself still stops
orders within its episode."""

from __future__ import annotations

import pytest

from core.log import configure
from core.types import Side
from policies.actions import Action, Placement
from policies.data import DataSplit, default_split
from policies.env import EnvConfig, EpisodeSpec, ExecutionEnv

SHORT = EnvConfig(horizon_s=(60.0, 120.0))
S = 1_000_000_000


@pytest.fixture(scope="module")
def split() -> DataSplit:
    configure(level="ERROR")
    return default_split(unseen_folders=[])


def _spec(split: DataSplit, at_s: int) -> EpisodeSpec:
    return EpisodeSpec(0, split.train[0].day_start_ns + at_s * S, 60 * S, Side.BUY, 400)


def test_an_untouched_kill_switch_is_carried_over_without_writing_its_file(
    split: DataSplit,
) -> None:
    env = ExecutionEnv(split.train, config=SHORT)
    try:
        env.reset(seed=0, options={"episode": _spec(split, 36_000)})
        overlay = env._executor.risk
        first = overlay.kill_switch
        state = first.path.read_bytes()
        mtime = first.path.stat().st_mtime_ns
        env.step_action(Action(Placement.TOUCH, rest_qty=100, cross_qty=100))
        env.reset(seed=1, options={"episode": _spec(split, 37_000)})
        again = env._executor.risk.kill_switch
        assert again is first and not again.engaged
        assert env._executor.risk is not overlay  # a new overlay around the same switch
        assert first.path.read_bytes() == state and first.path.stat().st_mtime_ns == mtime
    finally:
        env.close()


def test_an_engaged_kill_switch_halts_its_episode_and_is_not_inherited(
    split: DataSplit,
) -> None:
    env = ExecutionEnv(split.train, config=SHORT)
    try:
        env.reset(seed=0, options={"episode": _spec(split, 36_000)})
        overlay = env._executor.risk
        engaged = overlay.kill_switch
        env._executor.engage_kill("test: operator halt")
        assert engaged.engaged
        env.step_action(Action(Placement.NONE, cross_qty=100))
        res = env.result
        assert res is not None and res.denied >= 1 and env.parent.filled_qty == 0

        env.reset(seed=1, options={"episode": _spec(split, 37_000)})
        fresh = env._executor.risk.kill_switch
        assert fresh is not engaged and not fresh.engaged
        assert fresh.status.cause is None and fresh.status.detail == ""
        assert b'"engaged":false' in fresh.path.read_bytes()
        env.step_action(Action(Placement.NONE, cross_qty=100))
        assert env.parent.filled_qty > 0
        assert env.result is not None and env.result.denied == 0
    finally:
        env.close()

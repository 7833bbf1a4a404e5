"""Behaviour cloning of the passive tactic: the teacher's choices in the action table,
and a fit that reproduces them."""

from __future__ import annotations

import numpy as np
import torch

from core.types import Side
from policies.actions import ActionSpec
from policies.context import DecisionContext
from policies.imitation import Demonstrations, TableTeacher, clone
from policies.network import PolicyNet, ValueNet

S = 1_000_000_000


def ctx(now_s: float, filled: int, qty: int = 1000) -> DecisionContext:
    return DecisionContext(
        now_ns=int(now_s * S),
        start_ns=0,
        end_ns=100 * S,
        side=Side.SELL,
        qty=qty,
        filled=filled,
        decision_interval_ns=5 * S,
        market_volume=0,
        time_of_day_s=36_000.0,
    )


def test_the_teacher_rests_what_is_due_until_it_is_too_far_behind() -> None:
    spec = ActionSpec()
    t = TableTeacher(spec, tolerance=0.2)
    due, catchup = spec.index("due_touch"), spec.index("catchup_touch")
    # half way: 500 due, 0.2 x 1000 x 0.5 = 100 may stay behind
    assert t.choose(ctx(50, 450)) == due
    assert t.choose(ctx(50, 400)) == due  # exactly at the tolerance
    assert t.choose(ctx(50, 399)) == catchup
    assert t.choose(ctx(99, 985)) == catchup  # the tolerance shrinks to nothing at the end
    assert TableTeacher(spec, 0.0).choose(ctx(50, 500)) == due  # on the line: nothing to cross


def test_cloning_reproduces_the_teachers_choices_and_learns_its_returns() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    spec = ActionSpec()
    obs = rng.normal(size=(600, 18)).astype(np.float32)
    act = np.where(obs[:, 2] > 0, spec.index("catchup_touch"), spec.index("due_touch"))
    ret = (3.0 * obs[:, 0]).astype(np.float32)
    pi, vf = PolicyNet(18, spec.n), ValueNet(18)
    fit = clone(
        pi, vf, Demonstrations(obs, act.astype(np.int64), ret), epochs=40, seed=1, reward_scale=0.1
    )
    assert fit["agreement"] > 0.95 and fit["decisions"] == 600
    assert fit["value_mse"] < 0.05 * float(np.var(ret * 0.1))
    assert fit["teacher_actions"][spec.index("due_touch")] == int((obs[:, 2] <= 0).sum())

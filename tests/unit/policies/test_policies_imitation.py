"""Behaviour cloning of the passive tactic: the teacher's choices in the action table,
and a fit that reproduces them."""

from __future__ import annotations

import numpy as np
import torch

from core.types import Side
from policies.actions import ActionSpec
from policies.context import DecisionContext, Observation
from policies.imitation import Demonstrations, OwnPlay, TableTeacher, clone, fit_critic
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


def test_a_critic_fitted_for_fine_tuning_learns_the_returns_and_leaves_the_actor_alone() -> None:
    """An artifact holds no critic: fine-tuning fits one to its own play's returns."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(600, 18)).astype(np.float32)
    ret = (3.0 * obs[:, 0] - obs[:, 1]).astype(np.float32)
    act = rng.integers(0, 13, size=600).astype(np.int64)
    pi, vf = PolicyNet(18, 13), ValueNet(18)
    actor = {k: v.clone() for k, v in pi.state_dict().items()}
    fit = fit_critic(vf, Demonstrations(obs, act, ret), epochs=40, seed=1, reward_scale=0.1)
    assert fit["decisions"] == 600 and fit["value_mse"] < 0.05 * fit["value_mse_untrained"]
    assert all(torch.equal(actor[k], v) for k, v in pi.state_dict().items())


def test_own_play_samples_the_actors_distribution_reproducibly() -> None:
    """The critic must value the sampled policy PPO runs: a sure actor plays its choice,
    an unsure one spreads as its probabilities say, the same way under the same seed."""
    pi = PolicyNet(18, 3, (4,))
    with torch.no_grad():
        for t in pi.parameters():
            t.zero_()
        pi.net[-1].bias.copy_(torch.tensor([0.0, np.log(3.0), -50.0]))  # 1/4, 3/4, never
    obs = Observation(np.zeros(18, np.float32), ctx(10, 0))
    play, again = OwnPlay(pi, seed=3), OwnPlay(pi, seed=3)
    seq = [play.decide(obs) for _ in range(4000)]
    assert [again.decide(obs) for _ in range(4000)] == seq
    counts = np.bincount(seq, minlength=3)
    assert counts[2] == 0 and abs(counts[1] / 4000 - 0.75) < 0.03


def test_on_a_front_loaded_table_the_teacher_measures_behind_against_its_line() -> None:
    """kappa T = 2: 676 of 1000 due half way; 100 may stay behind at tolerance 0.2. The
    straight-line teacher would see 500 filled as on the line."""
    spec = ActionSpec(version=4, line=2.0)
    t = TableTeacher(spec, tolerance=0.2)
    due, catchup = spec.index("due_touch"), spec.index("catchup_touch")
    assert t.choose(ctx(50, 500)) == catchup  # 176 behind its line
    assert t.choose(ctx(50, 600)) == due  # 76 behind
    assert TableTeacher(ActionSpec(version=4), 0.2).choose(ctx(50, 500)) == due
    assert t.describe() == "passive_catchup, tolerance 0.2, urgency 2"

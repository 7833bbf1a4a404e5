"""Start from the desk's tactic: behaviour cloning before reinforcement learning.

Reinforcement learning from a near-uniform policy spends most of a 30-minute budget
rediscovering what a desk already knows, and the first learned policy never got far
from the TWAP tactic its initial bias pointed at. So PPO starts from the passive-with-
catch-up tactic (:mod:`policies.baselines.passive`) with the tolerance and line tuned on
the training split, expressed in the action table (:class:`TableTeacher`: rest what is
due at the touch, ``due_touch``, while no more than the tolerance behind the line;
cross what is behind, ``catchup_touch``, beyond it). The table measures "behind"
against the same line (``ActionSpec.line``), so the tactic is two of its rows on a
front-loaded line as on the straight one. The policy network is fitted to the
teacher's choices on the states the teacher visits in training episodes, and the value
network to the (training) returns it earned there, so the first PPO updates have a
critic that knows the tactic's worth. PPO then learns deviations from it; checkpoints
are still chosen on validation, the cloned policy itself (iteration 0) included.

A run that starts from an artifact (``rlexec train --init-from``) clones nothing: the
artifact holds the actor only, so its critic is fitted here the same way, to the
returns of the artifact's own play (:class:`OwnPlay`, sampled as PPO samples it), by
:func:`fit_critic`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from policies.actions import ActionSpec
from policies.context import DecisionContext, Observation
from policies.data import AnySource
from policies.env import EnvConfig, ExecutionEnv, episode_seeds
from policies.features import FeatureSpec, Normaliser
from policies.network import PolicyNet, ValueNet


class Demonstrator(Protocol):
    """Whatever plays the demonstration episodes: one action index per decision."""

    def decide(self, obs: Observation) -> int: ...


class TableTeacher:
    """The passive-with-catch-up tactic, choosing rows of the action table: on the
    table's line (``spec.line``, the tactic's tuned urgency), ``due_touch`` rests what is
    due and ``catchup_touch`` crosses what is behind."""

    def __init__(self, spec: ActionSpec, tolerance: float) -> None:
        self.spec = spec
        self.tolerance = tolerance
        self.due = spec.index("due_touch")
        self.catchup = spec.index("catchup_touch")

    def choose(self, ctx: DecisionContext) -> int:
        allowed = self.tolerance * ctx.qty * (1.0 - ctx.elapsed_fraction)
        return self.catchup if self.spec.behind(ctx) > allowed else self.due

    def describe(self) -> str:
        line = f", urgency {self.spec.line:g}" if self.spec.line else ""
        return f"passive_catchup, tolerance {self.tolerance}{line}"

    def decide(self, obs: Observation) -> int:
        return self.choose(obs.ctx)


class OwnPlay:
    """An actor's own play, sampled from its action distribution as PPO's rollouts are.

    A critic must know the worth of the policy PPO runs, and PPO runs the sampled one,
    not the arg-max the daemon serves; the two differ wherever the actor is unsure."""

    def __init__(self, pi: PolicyNet, seed: int) -> None:
        self.pi = pi
        self.rng = torch.Generator().manual_seed(seed)

    def decide(self, obs: Observation) -> int:
        with torch.inference_mode():
            logits = self.pi(torch.from_numpy(np.asarray(obs.features, dtype=np.float32)))
            return int(torch.multinomial(torch.softmax(logits, -1), 1, generator=self.rng))


@dataclass(frozen=True, slots=True)
class Demonstrations:
    obs: npt.NDArray[np.float32]  # normalised features, one row per decision
    act: npt.NDArray[np.int64]  # the teacher's choice
    ret: npt.NDArray[np.float32]  # the training return from that decision on

    @property
    def size(self) -> int:
        return int(self.act.shape[0])


def demonstrate(
    sources: Sequence[AnySource],
    teacher: Demonstrator,
    *,
    fspec: FeatureSpec,
    normaliser: Normaliser,
    action_spec: ActionSpec,
    config: EnvConfig,
    episodes: int,
    seed: int,
    gamma: float,
) -> Demonstrations:
    """The teacher's decisions on ``episodes`` training episodes (the training reward,
    shaping and control variate included, so the returns are what PPO's critic learns).
    Whole episodes: every return is exact, none bootstrapped from an untrained critic."""
    env = ExecutionEnv(
        sources,
        feature_spec=fspec,
        normaliser=normaliser,
        action_spec=action_spec,
        config=config,
    )
    obs: list[np.ndarray] = []
    act: list[int] = []
    ret: list[float] = []
    try:
        for s in episode_seeds(seed + 31, episodes):
            o, _ = env.reset(seed=s)
            rewards: list[float] = []
            done = False
            while not done:
                a = teacher.decide(env.observation)
                obs.append(o)
                act.append(a)
                o, r, term, trunc, _ = env.step(a)
                rewards.append(float(r))
                done = term or trunc
            acc = 0.0
            back = []
            for r in reversed(rewards):
                acc = r + gamma * acc
                back.append(acc)
            ret.extend(reversed(back))
    finally:
        env.close()
    return Demonstrations(
        np.stack(obs).astype(np.float32),
        np.asarray(act, dtype=np.int64),
        np.asarray(ret, dtype=np.float32),
    )


def clone(
    pi: PolicyNet,
    vf: ValueNet,
    demos: Demonstrations,
    *,
    epochs: int,
    seed: int,
    reward_scale: float,
    lr: float = 1e-3,
    minibatch: int = 256,
) -> dict[str, Any]:
    """Fit ``pi`` to the teacher's choices (cross-entropy) and ``vf`` to its returns
    (squared error, in PPO's reward scale); returns the fit's figures."""
    x = torch.from_numpy(demos.obs)
    y = torch.from_numpy(demos.act)
    target = torch.from_numpy(demos.ret * reward_scale)
    ce = nn.CrossEntropyLoss()
    _fit(
        [*pi.parameters(), *vf.parameters()],
        lambda idx: ce(pi(x[idx]), y[idx]) + 0.5 * ((vf(x[idx]) - target[idx]) ** 2).mean(),
        demos.size,
        epochs=epochs,
        seed=seed,
        lr=lr,
        minibatch=minibatch,
    )
    with torch.no_grad():
        agree = float((pi(x).argmax(-1) == y).float().mean())
        vf_err = float(((vf(x) - target) ** 2).mean())
    return {
        "decisions": demos.size,
        "teacher_actions": np.bincount(demos.act).tolist(),
        "agreement": agree,
        "value_mse": vf_err,
        "epochs": epochs,
    }


def fit_critic(
    vf: ValueNet,
    demos: Demonstrations,
    *,
    epochs: int,
    seed: int,
    reward_scale: float,
    lr: float = 1e-3,
    minibatch: int = 256,
) -> dict[str, Any]:
    """Fit ``vf`` alone to the demonstrations' returns (PPO's reward scale), the actor
    untouched; returns the fit's figures (the squared error before and after)."""
    x = torch.from_numpy(demos.obs)
    target = torch.from_numpy(demos.ret * reward_scale)

    def error() -> float:
        with torch.no_grad():
            return float(((vf(x) - target) ** 2).mean())

    before = error()
    _fit(
        vf.parameters(),
        lambda idx: 0.5 * ((vf(x[idx]) - target[idx]) ** 2).mean(),
        demos.size,
        epochs=epochs,
        seed=seed,
        lr=lr,
        minibatch=minibatch,
    )
    return {
        "decisions": demos.size,
        "actions": np.bincount(demos.act).tolist(),
        "mean_return": float(demos.ret.mean()),
        "value_mse_untrained": before,
        "value_mse": error(),
        "epochs": epochs,
    }


def _fit(
    params: Iterable[nn.Parameter],
    loss: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    *,
    epochs: int,
    seed: int,
    lr: float,
    minibatch: int,
) -> None:
    """Adam over seeded minibatches of ``n`` rows; ``loss`` maps row indices to a loss."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, minibatch):
            value = loss(torch.from_numpy(order[s : s + minibatch]))
            opt.zero_grad(set_to_none=True)
            value.backward()  # type: ignore[no-untyped-call]
            opt.step()

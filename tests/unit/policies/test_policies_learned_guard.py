"""The served policy never trades on NaN: it waits, counts and reports instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.types import Side
from policies.actions import ActionSpec, Placement
from policies.artifact import save_artifact
from policies.context import DecisionContext, Observation
from policies.features import FEATURE_NAMES, FeatureSpec, Normaliser
from policies.learned import LearnedPolicy, load_policy
from policies.network import PolicyNet

S = 1_000_000_000


def ctx() -> DecisionContext:
    return DecisionContext(0, 0, 100 * S, Side.BUY, 1000, 0, 5 * S, 0, 36_000.0)


def policy(tmp_path: Path, errors: list[str]) -> LearnedPolicy:
    torch.manual_seed(1)
    net = PolicyNet(len(FEATURE_NAMES), ActionSpec().n)
    save_artifact(
        tmp_path / "a",
        net,
        feature_spec=FeatureSpec(),
        normaliser=Normaliser.identity(),
        action_spec=ActionSpec(),
    )
    return load_policy(tmp_path / "a", on_error=errors.append)


def test_finite_input_gives_the_argmax_action(tmp_path: Path) -> None:
    errors: list[str] = []
    pol = policy(tmp_path, errors)
    x = np.zeros(len(FEATURE_NAMES), np.float32)
    expected = int(torch.argmax(pol.net(torch.from_numpy(x))))
    pol.act(Observation(x, ctx()))
    assert pol.last_index == expected and pol.guard_trips == 0 and errors == []


def test_nan_features_give_the_safe_action(tmp_path: Path) -> None:
    errors: list[str] = []
    pol = policy(tmp_path, errors)
    x = np.zeros(len(FEATURE_NAMES), np.float32)
    x[3] = np.nan
    a = pol.act(Observation(x, ctx()))
    assert a.placement is Placement.NONE and a.cross_qty == 0
    assert pol.guard_trips == 1 and "non-finite feature" in errors[0]


def test_network_producing_inf_gives_the_safe_action(tmp_path: Path) -> None:
    """Finite weights pass the loader, yet overflow float32 on an ordinary input."""
    torch.manual_seed(1)
    net = PolicyNet(len(FEATURE_NAMES), ActionSpec().n)
    with torch.no_grad():
        net.net[-1].weight.fill_(3e38)
    save_artifact(
        tmp_path / "big",
        net,
        feature_spec=FeatureSpec(),
        normaliser=Normaliser.identity(),
        action_spec=ActionSpec(),
    )
    errors: list[str] = []
    pol = load_policy(tmp_path / "big", on_error=errors.append)
    x = np.ones(len(FEATURE_NAMES), np.float32)
    a = pol.act(Observation(x, ctx()))
    assert a.placement is Placement.NONE
    assert pol.guard_trips == 1 and pol.last_error and "NaN or infinite" in errors[0]


def test_served_numpy_path_picks_the_torch_argmax(tmp_path: Path) -> None:
    pol = policy(tmp_path, [])
    xs = np.random.default_rng(5).normal(size=(200, len(FEATURE_NAMES))).astype(np.float32)
    for x in xs:
        assert pol.choose(x) == int(torch.argmax(pol.scores(x)))

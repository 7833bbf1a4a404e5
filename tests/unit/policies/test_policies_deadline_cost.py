"""What the end time costs: the latent book beyond the displayed one, per impact model;
and which settings are the environment's and which only training's."""

from __future__ import annotations

import math

import pytest

from exchange.replay.impact import LinearPermanentImpact, NoImpact, TransientPropagatorImpact
from exchange.replay.sqrt_impact import Kernel, SquareRootImpact
from policies.data import synthetic_source
from policies.env import EnvConfig, _source_weights, latent_walk_ticks

T = 1_000_000_000


def walked_in_pieces(model: SquareRootImpact, sign: int, qty: int, pieces: int) -> float:
    """The model's own price moves while ``qty`` is taken in small pieces at one instant:
    each piece pays the move before it plus half its own (the midpoint rule)."""
    base = model.value(T)
    total = 0.0
    step = qty / pieces
    for _ in range(pieces):
        before = model.value(T)
        model.on_trade(T, round(sign * step))
        total += (before + model.value(T)) / 2 - base
    return sign * total / pieces


@pytest.mark.parametrize("hole", [0, 400, -300])
def test_the_square_root_charge_is_the_models_own_walk(hole: int) -> None:
    kernel = Kernel(permanent=0.2, tau0_s=60.0, beta=0.3)
    model = SquareRootImpact(0.35, kernel)
    if hole:
        model.on_trade(T, hole)  # earlier buys (or sells) left a hole in the latent book
    closed = latent_walk_ticks(model, +1, 2_000, T)
    copy = SquareRootImpact(0.35, kernel)
    if hole:
        copy.on_trade(T, hole)
    numeric = walked_in_pieces(copy, +1, 2_000, 2_000)
    assert closed == pytest.approx(numeric, rel=2e-3)
    # beyond prices that already carry the earlier move: after buys the square root has
    # flattened (less on top of them); after sells a buy first refills the steep part
    fresh = latent_walk_ticks(SquareRootImpact(0.35, kernel), +1, 2_000, T)
    if hole:
        assert (closed < fresh) if hole > 0 else (closed > fresh)


def test_other_models_charge_their_own_average_move() -> None:
    assert latent_walk_ticks(LinearPermanentImpact(0.01), -1, 1000, T) == pytest.approx(5.0)
    t = TransientPropagatorImpact(kappa=0.4, decay_s=100, beta=0.5)
    assert latent_walk_ticks(t, 1, 900, T) == pytest.approx(0.4 * 30 / 1.5)
    assert latent_walk_ticks(NoImpact(), 1, 900, T) == 0.0
    assert latent_walk_ticks(None, 1, 900, T) == 0.0  # a synthetic book: all displayed
    assert latent_walk_ticks(LinearPermanentImpact(0.01), 1, 0, T) == 0.0


def test_training_settings_stay_out_of_the_evaluation_settings() -> None:
    cfg = EnvConfig(risk_aversion=0.1, deadline_penalty_bps=10.0, impact_scale=(0.5, 2.0))
    assert not set(EnvConfig.TRAINING_ONLY) & set(cfg.to_json())
    assert cfg.training_json()["impact_scale"] == [0.5, 2.0]
    back = EnvConfig.from_json({**cfg.to_json(), **cfg.training_json()})
    assert back == EnvConfig()  # a manifest's training section never shapes an evaluation


def test_an_old_manifest_keeps_its_patient_sweep() -> None:
    old = {k: v for k, v in EnvConfig().to_json().items() if k != "sweep_max_s"}
    assert EnvConfig.from_json(old).sweep_max_s == 300.0
    assert EnvConfig().sweep_max_s == 0.0


@pytest.mark.parametrize(
    "kw",
    [
        {"risk_aversion": -1.0},
        {"deadline_free": 1.5},
        {"synthetic_share": 1.0},
        {"impact_scale": (2.0, 1.0)},
        {"impact_scale": (0.0, 1.0)},
    ],
)
def test_bad_training_settings_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EnvConfig(**kw)  # type: ignore[arg-type]


def test_synthetic_regimes_get_their_share_of_episodes_whatever_their_length() -> None:
    from policies.data import Source

    class Recorded:  # only the windows matter to the weights
        def __init__(self, hours: float) -> None:
            self.windows = ((0, round(hours * 3600)),)

    recorded = [Recorded(2.5), Recorded(1.0)]
    synthetic = [synthetic_source("AMZN", "calm"), synthetic_source("AMZN", "thin")]
    w = _source_weights([*recorded, *synthetic], 0.25)  # type: ignore[list-item]
    assert sum(w) == pytest.approx(1.0)
    assert list(w[2:]) == pytest.approx([0.125, 0.125])
    assert w[0] / w[1] == pytest.approx(2.5)
    only = _source_weights(recorded, 0.25)  # type: ignore[arg-type]
    assert list(only) == pytest.approx([2.5 / 3.5, 1 / 3.5])
    assert Source  # the real class the stand-in mimics
    assert math.isclose(sum(_source_weights(synthetic, 0.25)), 1.0)

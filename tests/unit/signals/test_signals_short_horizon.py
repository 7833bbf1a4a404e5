"""The signal's trees are served by numpy exactly as scikit-learn would predict them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from signals.dataset import DaySamples
from signals.market import SIGNAL_FEATURES, MarketTracker
from signals.short_horizon import SignalModel, SignalServer, TreeEnsemble, move_target, past_move

N_FEAT = len(SIGNAL_FEATURES)


def fitted(n: int = 3000, trees: int = 25, seed: int = 3) -> tuple[GradientBoostingRegressor, np.ndarray]:  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEAT))
    y = 0.4 * x[:, 0] - 0.2 * x[:, 3] * (x[:, 2] > 0) + rng.normal(scale=0.5, size=n)
    gbr = GradientBoostingRegressor(loss="huber", n_estimators=trees, max_depth=3,
                                    learning_rate=0.1, random_state=0).fit(x, y)  # fmt: skip
    return gbr, rng.normal(size=(500, N_FEAT))


def test_numpy_trees_predict_what_scikit_learn_predicts() -> None:
    gbr, x = fitted()
    ens = TreeEnsemble.from_sklearn(gbr, gbr.n_estimators_)
    np.testing.assert_allclose(ens.predict(x), gbr.predict(x), rtol=0, atol=1e-12)


def test_a_prefix_of_the_trees_predicts_what_the_staged_model_predicts() -> None:
    gbr, x = fitted()
    staged = list(gbr.staged_predict(x))
    ens = TreeEnsemble.from_sklearn(gbr, 10)
    np.testing.assert_allclose(ens.predict(x), staged[9], rtol=0, atol=1e-12)


def test_the_one_vector_serving_call_equals_the_batch_prediction() -> None:
    gbr, x = fitted()
    ens = TreeEnsemble.from_sklearn(gbr, gbr.n_estimators_)
    batch = ens.predict(x)
    one = np.array([ens.predict_one(row) for row in x])
    np.testing.assert_allclose(one, batch, rtol=0, atol=1e-12)


def samples(mid: list[float], spread: float = 2.0, step: float = 0.5) -> DaySamples:
    n = len(mid)
    z = np.zeros(0)
    return DaySamples("d", "T", np.arange(n) * step + 36_000, np.zeros((n, N_FEAT)),
                      np.asarray(mid, dtype=float), np.full(n, spread), z, z.reshape(0, 3),
                      z.reshape(0, 4), z)  # fmt: skip


def test_the_target_is_the_next_horizons_mid_move_in_mean_spreads() -> None:
    s = samples([100, 101, 103, 103, 99])
    y = move_target(s, 1.0)  # two steps of 0.5 s
    np.testing.assert_array_equal(y[:3], [1.5, 1.0, -2.0])
    assert np.isnan(y[3:]).all()
    p = past_move(s, 1.0)
    assert np.isnan(p[:2]).all()
    np.testing.assert_array_equal(p[2:], y[:3])


def test_a_horizon_that_is_not_a_whole_number_of_steps_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number"):
        move_target(samples([1, 2, 3]), 0.75)


def test_the_server_reads_the_trackers_features_and_says_nothing_before_a_quote() -> None:
    gbr, _ = fitted()
    model = SignalModel(TreeEnsemble.from_sklearn(gbr, gbr.n_estimators_), 5.0, {})
    server = SignalServer(model)
    tracker = MarketTracker()
    assert server.predict(tracker) == 0.0
    ns = 1_000_000_000
    tracker.on_quote(36_000 * ns, 10_000, 300, 10_002, 100)
    tracker.on_quote(36_001 * ns, 10_001, 500, 10_002, 50)
    got = server.predict(tracker, now_ns=36_002 * ns)
    want = gbr.predict(tracker.signal_features(np.zeros(N_FEAT))[None, :])[0]
    assert got == pytest.approx(want, abs=1e-12)
    assert server.predict_ticks(tracker) == pytest.approx(got * tracker.mean_spread)

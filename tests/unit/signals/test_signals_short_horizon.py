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


def test_branches_that_end_early_are_padded_to_the_same_prediction() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2_000, N_FEAT))
    y = np.where(x[:, 1] > 0.8, 1.0, 0.0) + rng.normal(scale=0.1, size=2_000)
    gbr = GradientBoostingRegressor(n_estimators=20, max_depth=4, min_samples_leaf=600,
                                    random_state=0).fit(x, y)  # fmt: skip
    early = [e[0].tree_ for e in gbr.estimators_ if e[0].tree_.max_depth < 4]
    assert early, "the fit was meant to leave some branches short"
    ens = TreeEnsemble.from_sklearn(gbr, 20)
    probe = rng.normal(size=(400, N_FEAT))
    np.testing.assert_allclose(ens.predict(probe), gbr.predict(probe), rtol=0, atol=1e-12)
    np.testing.assert_allclose([ens.predict_one(r) for r in probe], gbr.predict(probe), atol=1e-12)


@pytest.mark.parametrize("window", [60, 300, 1800])
def test_the_trackers_running_realised_variance_equals_a_recount(window: int) -> None:
    rng = np.random.default_rng(window)
    t = MarketTracker()
    ns, ts, mid = 1_000_000_000, 36_000 * 1_000_000_000, 20_000
    for _ in range(9_000):  # ~2.5 h of quotes at random gaps, some longer than a second
        ts += int(rng.exponential(0.7) * ns)
        mid += int(rng.integers(-2, 3))
        t.on_quote(ts, mid - 1, 100, mid + 1, 100)
        if rng.random() < 0.01:
            mids = t.second_mids(window + 1)
            r = np.diff(np.log(mids)) * 1e4
            assert t.realized_variance(window) == pytest.approx(float(r @ r), rel=1e-9, abs=1e-9)
    ts += 4_000 * ns  # a gap longer than every window: all flat since
    t.on_quote(ts, mid - 1, 100, mid + 1, 100)
    t.advance(ts + 2 * ns)
    assert t.realized_variance(window) == 0.0

"""The committed models, judged on hours and a ticker they never saw, against the naive.

Margins are what was measured when the artifacts were fitted (docs/signals.md), with
room for nothing but rounding: the data and the artifacts are both committed, so the
figures are exactly reproducible. A refit that scores worse fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from signals.data import default_splits
from signals.dataset import in_windows, samples_for
from signals.evaluation import LinearOfi, score
from signals.regime import Regime, RegimeModel, RegimeRefused
from signals.short_horizon import SignalModel, move_target, past_move
from signals.train import (
    ARTIFACTS,
    CALIBRATION_S,
    REGIME_DIR,
    SIGNAL_DIR,
    VOLATILITY_DIR,
    state_rows,
    volatility_scores,
)
from signals.volatility import VolatilityModel, next_minute_rv

pytestmark = pytest.mark.slow
SPLITS = {s.folder.name: s for s in default_splits()}


@pytest.fixture(scope="module")
def signal() -> SignalModel:
    return SignalModel.load(ARTIFACTS / SIGNAL_DIR)


@pytest.fixture(scope="module")
def ofi(signal: SignalModel) -> LinearOfi:
    """The linear-OFI baseline refitted on the same training rows as the model."""
    split = SPLITS["AMZN_2012-06-21_5"]
    s = samples_for(split)
    y = move_target(s, signal.horizon_s)
    rows = in_windows(s.signal_tod, split.train, signal.horizon_s) & np.isfinite(y)
    return LinearOfi.fit(s.signal_x[rows], y[rows])


def test_the_models_saw_only_the_policys_training_hours() -> None:
    for name in (SIGNAL_DIR, VOLATILITY_DIR, REGIME_DIR):
        data = {d["folder"]: d for d in json_manifest(name)["data"]}
        assert data["AMZN_2012-06-21_5"]["train"] == ["09:30-13:00"]
        assert data["AMZN_2012-06-21_5"]["test"] == ["14:15-16:00"]
        assert data["AAPL_2012-06-21_1"]["train"] == []


def json_manifest(name: str) -> dict[str, object]:
    import json

    out: dict[str, object] = json.loads((ARTIFACTS / name / "manifest.json").read_text())
    return out


# (ticker-day, IC margin over the better baseline, hit-rate margin) as measured: AMZN
# IC 0.162 vs OFI 0.130, hit 0.581 vs 0.560; AAPL IC 0.110 vs 0.055, hit 0.551 vs 0.531
@pytest.mark.parametrize(("day", "ic_margin", "hit_margin"),
                         [("AMZN_2012-06-21_5", 0.025, 0.015), ("AAPL_2012-06-21_1", 0.045, 0.015)])  # fmt: skip
def test_the_signal_beats_persistence_and_linear_ofi_out_of_sample(
    signal: SignalModel, ofi: LinearOfi, day: str, ic_margin: float, hit_margin: float
) -> None:
    split = SPLITS[day]
    s = samples_for(split)
    h = signal.horizon_s
    y = move_target(s, h)
    rows = in_windows(s.signal_tod, split.test, h) & np.isfinite(y)
    x, yy = s.signal_x[rows], y[rows]
    model = score(signal.predict(x), yy)
    linear = score(ofi.predict(x), yy)
    persist = score(past_move(s, h)[rows], yy)
    best_ic = max(linear.ic, persist.ic)
    best_hit = max(linear.hit_rate, persist.hit_rate)
    assert model.ic >= best_ic + ic_margin, (model.ic, linear.ic, persist.ic)
    assert model.hit_rate >= best_hit + hit_margin, (model.hit_rate, linear.hit_rate, persist.hit_rate)  # fmt: skip
    assert model.calibration_slope > 0.3  # the right sign and order of size (0.78 / 0.47)
    # the top decile's realised move is above the bottom's: the ranking carries to size
    assert model.decile_realised[-1] > model.decile_realised[0]


@pytest.mark.parametrize("day", sorted(SPLITS))
def test_the_volatility_forecast_beats_the_last_minute_out_of_sample(day: str) -> None:
    """Measured: 40 % (AMZN) and 39 % (AAPL) lower MSE of log variance than naive."""
    model = VolatilityModel.load(ARTIFACTS / VOLATILITY_DIR)
    split = SPLITS[day]
    s = samples_for(split)
    rv = next_minute_rv(s.second_mid, s.first_second, s.state_tod)
    rows = state_rows(s, split, "test") & np.isfinite(rv)
    got = volatility_scores(model, s.har_x[rows], rv[rows])
    assert got["mse_log_improvement"] >= 0.3, got
    assert got["qlike_har"] < got["qlike_naive"], got


def test_minutes_labelled_volatile_are_followed_by_more_variance_than_calm_ones() -> None:
    model = RegimeModel.load(ARTIFACTS / REGIME_DIR).for_ticker("AMZN")
    split = SPLITS["AMZN_2012-06-21_5"]
    s = samples_for(split)
    rv = next_minute_rv(s.second_mid, s.first_second, s.state_tod)
    rows = state_rows(s, split, "test") & np.isfinite(rv)
    labels = np.array(model.label(s.regime_x[rows]))
    nxt = rv[rows]
    assert set(labels) == set(Regime)
    calm, volatile = nxt[labels == Regime.CALM].mean(), nxt[labels == Regime.VOLATILE].mean()
    assert volatile > 1.2 * calm, (volatile, calm)  # measured 42 vs 31 bps^2 a minute: 1.34x
    thin = s.regime_x[rows][labels == Regime.THIN, 1].mean()  # log spread, bps
    assert thin > s.regime_x[rows][labels == Regime.CALM, 1].mean()


def test_an_unseen_ticker_on_its_own_statistics_gets_every_regime_not_all_calm() -> None:
    # Issue 19: on AMZN's statistics 99 % of AAPL's minutes were "calm". Scaled by its own
    # first hour of states (not counted), AAPL's remaining hours use every regime.
    model = RegimeModel.load(ARTIFACTS / REGIME_DIR)
    with pytest.raises(RegimeRefused, match="AAPL"):
        model.for_ticker("AAPL")
    split = SPLITS["AAPL_2012-06-21_1"]
    s = samples_for(split)
    rows = state_rows(s, split, "test")
    calib = rows & (s.state_tod < s.state_tod[rows][0] + CALIBRATION_S)
    rows &= ~calib
    labels = np.array(model.with_ticker("AAPL", s.regime_x[calib]).label(s.regime_x[rows]))
    share = {r: float((labels == r).mean()) for r in Regime}
    assert share[Regime.CALM] < 0.6 and min(share.values()) > 0.05, share  # measured 51/20/21/8 %
    borrowed = np.array(model.for_ticker("AMZN").label(s.regime_x[rows]))
    assert (borrowed == Regime.CALM).mean() > 0.95  # the old behaviour, for the record: 99 %
    thin = s.regime_x[rows][labels == Regime.THIN, 1].mean()
    assert thin > s.regime_x[rows][labels == Regime.CALM, 1].mean()  # wider spreads

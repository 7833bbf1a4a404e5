"""Model artifacts load only when every byte checks out; anything else is refused clearly."""

from __future__ import annotations

import functools
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.mixture import GaussianMixture

from core.pinned_dir import sha256_file
from signals import artifact
from signals.artifact import ARRAYS, MANIFEST, SUMS, ArtifactRefused
from signals.market import SIGNAL_FEATURES
from signals.regime import REGIME_FEATURES, REGIMES, RegimeModel, RegimeRefused
from signals.short_horizon import SignalModel, TreeEnsemble
from signals.volatility import HAR_WINDOWS_S, VolatilityModel

RNG = np.random.default_rng(11)


@functools.cache
def signal_model() -> SignalModel:
    x = RNG.normal(size=(800, len(SIGNAL_FEATURES)))
    y = x[:, 0] + RNG.normal(size=800)
    gbr = GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0).fit(x, y)
    return SignalModel(TreeEnsemble.from_sklearn(gbr, 8), 5.0, {"note": "test"})


@functools.cache
def volatility_model() -> VolatilityModel:
    x = np.exp(RNG.normal(size=(300, len(HAR_WINDOWS_S))))
    y = x[:, 0] * np.exp(RNG.normal(scale=0.3, size=300))
    return VolatilityModel.fit(x, y)


@functools.cache
def regime_model() -> RegimeModel:
    x = np.concatenate([RNG.normal(loc=c, size=(100, len(REGIME_FEATURES))) for c in (-3, 0, 3, 6)])
    return RegimeModel.fit({"AMZN": x}, seed=0)


MODELS: dict[str, tuple[Callable[[], object], Callable[..., object]]] = {
    "signal": (signal_model, SignalModel.load),
    "volatility": (volatility_model, VolatilityModel.load),
    "regime": (regime_model, RegimeModel.load),
}


@pytest.fixture(params=sorted(MODELS))
def saved(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str, Callable[..., object], object]:  # fmt: skip
    make, load = MODELS[request.param]
    model = make()
    path = tmp_path / request.param
    digest = model.save(path)  # type: ignore[attr-defined]
    return path, digest, load, model


def resum(path: Path) -> None:
    """What a tamperer who knows the format does: rewrite the sums to match."""
    (path / SUMS).write_text("".join(f"{sha256_file(path / n)}  {n}\n" for n in (MANIFEST, ARRAYS)))


def test_each_model_round_trips_through_its_artifact(saved: tuple[Path, str, Callable[..., object], object]) -> None:  # fmt: skip
    path, digest, load, model = saved
    again = load(path, expected_sha256=digest)
    for name in ("coef", "means", "weights"):
        if hasattr(model, name):
            np.testing.assert_array_equal(getattr(again, name), getattr(model, name))
    if isinstance(model, SignalModel):
        x = RNG.normal(size=(50, len(SIGNAL_FEATURES)))
        np.testing.assert_array_equal(again.predict(x), model.predict(x))  # type: ignore[attr-defined]
    if isinstance(model, RegimeModel):
        assert again.names == model.names  # type: ignore[attr-defined]
        for got, want in zip(again.ticker_stats["AMZN"], model.ticker_stats["AMZN"], strict=True):  # type: ignore[attr-defined]
            np.testing.assert_array_equal(got, want)


def test_a_flipped_byte_in_the_arrays_is_refused(saved: tuple[Path, str, Callable[..., object], object]) -> None:  # fmt: skip
    path, _, load, _ = saved
    raw = bytearray((path / ARRAYS).read_bytes())
    raw[-3] ^= 0x01
    (path / ARRAYS).write_bytes(bytes(raw))
    with pytest.raises(ArtifactRefused, match="corrupt or altered"):
        load(path)


def test_an_edited_manifest_is_refused(saved: tuple[Path, str, Callable[..., object], object]) -> None:  # fmt: skip
    path, _, load, _ = saved
    body = json.loads((path / MANIFEST).read_text())
    body["n_train"] = 10**9
    (path / MANIFEST).write_text(json.dumps(body))
    with pytest.raises(ArtifactRefused, match=f"{MANIFEST} sha256"):
        load(path)


def test_a_resummed_tampering_is_refused_by_the_expected_digest(saved: tuple[Path, str, Callable[..., object], object]) -> None:  # fmt: skip
    path, digest, load, _ = saved
    arrays = load_file(str(path / ARRAYS))
    name = sorted(arrays)[0]
    arrays[name] = arrays[name] * 1.5
    save_file(arrays, str(path / ARRAYS))
    resum(path)
    with pytest.raises(ArtifactRefused, match="is not the expected"):
        load(path, expected_sha256=digest)


def test_nan_in_a_resummed_array_is_refused(saved: tuple[Path, str, Callable[..., object], object]) -> None:  # fmt: skip
    path, _, load, _ = saved
    arrays = load_file(str(path / ARRAYS))
    target = "value" if "value" in arrays else sorted(arrays)[0]
    arrays[target] = np.full_like(arrays[target], np.nan)
    save_file(arrays, str(path / ARRAYS))
    resum(path)
    with pytest.raises(ArtifactRefused, match="NaN"):
        load(path)


def test_a_pickle_in_place_of_the_arrays_is_refused_and_never_run(saved: tuple[Path, str, Callable[..., object], object], tmp_path: Path) -> None:  # fmt: skip
    path, _, load, _ = saved
    marker = tmp_path / "ran"

    class Bomb:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (marker.write_text, ("pwned",))

    (path / ARRAYS).write_bytes(pickle.dumps(Bomb()))
    resum(path)
    with pytest.raises(ArtifactRefused, match="not a readable safetensors"):
        load(path)
    assert not marker.exists()


def test_a_missing_file_or_folder_is_refused(saved: tuple[Path, str, Callable[..., object], object], tmp_path: Path) -> None:  # fmt: skip
    path, _, load, _ = saved
    with pytest.raises(ArtifactRefused, match="not a directory"):
        load(tmp_path / "nowhere")
    (path / SUMS).unlink()
    with pytest.raises(ArtifactRefused, match=f"{SUMS} is missing"):
        load(path)


def test_a_model_of_another_kind_is_refused(tmp_path: Path) -> None:
    volatility_model().save(tmp_path / "v")
    with pytest.raises(ArtifactRefused, match="'volatility' model, not a 'regime' model"):
        RegimeModel.load(tmp_path / "v")


@pytest.mark.parametrize(("name", "edit", "problem"), [
    ("feature", lambda a: a.__setitem__((0, 0), len(SIGNAL_FEATURES)), "feature this code lacks"),
    ("feature", lambda a: a.__setitem__((0, 0), 0.5), "feature this code lacks"),
    ("depth", lambda a: a.__setitem__(0, 4.0), "not \\[trees, 2\\^depth - 1\\]"),
    ("threshold", lambda a: a.__setitem__((0, 0), np.nan), "threshold"),
])  # fmt: skip
def test_a_tree_that_does_not_fit_this_code_is_refused(tmp_path: Path, name: str, edit: Callable[[np.ndarray], None], problem: str) -> None:  # fmt: skip
    path = tmp_path / "s"
    signal_model().save(path)
    arrays = load_file(str(path / ARRAYS))
    edit(arrays[name])
    save_file(arrays, str(path / ARRAYS))
    resum(path)
    with pytest.raises(ArtifactRefused, match=problem):
        SignalModel.load(path)


def test_regime_names_that_do_not_name_each_regime_once_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r"
    regime_model().save(path)
    body = json.loads((path / MANIFEST).read_text())
    body["component_names"] = ["calm"] * len(REGIMES)
    (path / MANIFEST).write_text(json.dumps(body))
    resum(path)
    with pytest.raises(ArtifactRefused, match="each regime once"):
        RegimeModel.load(path)


def test_the_served_regime_posterior_is_scikit_learns(tmp_path: Path) -> None:
    x = np.concatenate([RNG.normal(loc=c, size=(150, len(REGIME_FEATURES))) for c in (-2, 0, 2, 5)])
    model = RegimeModel.fit({"AMZN": x}, seed=1).for_ticker("AMZN")
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    gm = GaussianMixture(len(REGIMES), covariance_type="full", n_init=8, random_state=1).fit(z)
    np.testing.assert_allclose(model.posterior(x), gm.predict_proba(z), atol=1e-9)


def test_the_regime_model_scales_each_ticker_by_its_own_statistics_never_anothers() -> None:
    # AAPL's states are AMZN's shifted and shrunk (a quieter ticker in bps): on its own
    # statistics it gets AMZN's labels; unbound, or a ticker it never saw, is refused
    x = np.concatenate([RNG.normal(loc=c, size=(150, len(REGIME_FEATURES))) for c in (-2, 0, 2, 5)])
    model = RegimeModel.fit({"AMZN": x}, seed=1)
    quiet = x * 0.5 - 3.0
    with pytest.raises(RegimeRefused, match="bind it first"):
        model.label(x)
    with pytest.raises(RegimeRefused, match="no market-state statistics for AAPL"):
        model.for_ticker("AAPL")
    with pytest.raises(RegimeRefused, match="at least 60"):
        model.with_ticker("AAPL", quiet[:10])
    aapl = model.with_ticker("AAPL", quiet)
    assert aapl.label(quiet) == model.for_ticker("AMZN").label(x)
    borrowed = model.for_ticker("AMZN").label(quiet)  # the old behaviour: one regime for all
    assert len(set(borrowed)) < len(set(aapl.label(quiet)))


def test_saving_over_an_artifact_replaces_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "v"
    model = volatility_model()
    first = model.save(path)
    second = VolatilityModel(model.coef * 0.5, model.resid_var, {}).save(path)
    assert first != second
    VolatilityModel.load(path, expected_sha256=second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v"]
    assert artifact.load(path, "volatility").digest == second


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    path = tmp_path / "v"
    volatility_model().save(path)
    monkeypatch.setitem(
        artifact.MAX_BYTES, ARRAYS, 100
    )  # the real cap is 64 MiB: too big to write here
    with pytest.raises(ArtifactRefused, match="more than the 100 this loader reads"):
        VolatilityModel.load(path)
    with (path / SUMS).open("ab") as f:
        f.truncate(artifact.MAX_BYTES[SUMS] + 1)
    with pytest.raises(ArtifactRefused, match=f"{SUMS} is"):
        VolatilityModel.load(path)


def test_the_posture_binds_the_regime_model_to_its_symbol_or_refuses_it() -> None:
    from signals.posture import PostureController
    from signals.train import ARTIFACTS, REGIME_DIR

    committed = RegimeModel.load(ARTIFACTS / REGIME_DIR)
    posture = PostureController("AMZN", None, committed)
    assert isinstance(posture.regime, RegimeModel) and posture.regime.ticker == "AMZN"
    with pytest.raises(RegimeRefused, match="no market-state statistics for AAPL"):
        PostureController("AAPL", None, committed)

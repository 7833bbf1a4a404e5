"""A ticker not in the shipped impact parameters gets them from its own data at load,
and the square-root model's calibration is the same from either AMZN file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchange.data import lobster_message_files
from exchange.replay import default_impact, load_day
from exchange.replay.impact_estimation import estimate_cached
from exchange.replay.sqrt_estimation import estimate_sqrt
from exchange.replay.sqrt_impact import SquareRootImpact

FILES = lobster_message_files()


def _renamed_day(tmp_path: Path, ticker: str) -> Path:
    """The AAPL sample under another ticker's name: a ticker the parameters lack."""
    src = next(p for p in FILES if "AAPL" in p.name)
    folder = tmp_path / f"{ticker}_2012-06-21_1"
    folder.mkdir()
    for f in src.parent.glob("AAPL_*.csv.gz"):
        shutil.copy(f, folder / f.name.replace("AAPL", ticker))
    return folder / src.name.replace("AAPL", ticker)


def test_an_uncalibrated_ticker_is_estimated_from_its_own_data(tmp_path: Path) -> None:
    day = load_day(_renamed_day(tmp_path, "ZZZQ"))
    model = default_impact("sqrt", "ZZZQ", day=day)
    assert isinstance(model, SquareRootImpact)
    own = estimate_sqrt(day)
    assert model.kernel.tau0_s == own["kernel"]["tau0_s"]
    # ... which are this data's figures: the same as the shipped AAPL estimate of it
    aapl = SquareRootImpact.from_params(
        estimate_cached(load_day(next(p for p in FILES if "AAPL" in p.name)))["sqrt"]
    )
    assert model.coef == pytest.approx(aapl.coef) and model.kernel == aapl.kernel
    perm = default_impact("permanent", "ZZZQ", day=day)
    assert perm.value(0) == 0.0


def test_parameters_are_never_taken_from_another_tickers_data(tmp_path: Path) -> None:
    day = load_day(_renamed_day(tmp_path, "ZZZQ"))
    with pytest.raises(ValueError, match="cannot come from ZZZQ"):
        default_impact("sqrt", "OTHER", day=day)


def test_amzn_level_1_and_level_5_calibrate_alike() -> None:
    l1, l5 = (estimate_sqrt(load_day(p)) for p in FILES if "AMZN" in p.name)
    assert l1 == l5

"""The parameter files shipped in the repository are exactly what the estimation and
calibration code produce from the shipped data (so they can be regenerated)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exchange.data import lobster_message_files
from exchange.flow import calibration
from exchange.flow.model import PARAMS_FILE as FLOW_PARAMS
from exchange.flow.model import load_params
from exchange.replay import impact_estimation
from exchange.replay.impact import PARAMS_FILE as IMPACT_PARAMS


def _without_date(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(doc))
    out.pop("produced_on")
    return out


def _approx(doc: Any) -> Any:
    """Floats to 1e-9 relative: another CPU or BLAS rounds the last bits differently
    (kappa 0.28573172869923846 vs ...870), while a real change moves digits far above."""
    if isinstance(doc, dict):
        return {k: _approx(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_approx(v) for v in doc]
    if isinstance(doc, float):
        return pytest.approx(doc, rel=1e-9, abs=1e-12)
    return doc


def test_impact_params_reproduce() -> None:
    shipped = json.loads(IMPACT_PARAMS.read_text())
    fresh = impact_estimation.build(lobster_message_files(), shipped["bucket_s"], shipped["lags"])
    assert _without_date(fresh) == _approx(_without_date(shipped))
    for t in shipped["tickers"].values():
        assert t["permanent"]["gamma"] > 0 and t["transient"]["kappa"] > 0
        assert 0.3 <= t["transient"]["beta"] <= 1.0


def test_flow_params_reproduce() -> None:
    shipped = json.loads(FLOW_PARAMS.read_text())
    fresh = calibration.build(
        lobster_message_files(), len(shipped["tickers"]["AMZN"]["limit_rate"])
    )
    assert _without_date(fresh) == _approx(_without_date(shipped))
    assert sorted(shipped["tickers"]) == ["AAPL", "AMZN"]


def test_flow_calibration_matches_raw_counts() -> None:
    """The calibrated rates add up to what the file shows (within the model's depth)."""
    from exchange.replay import load_day

    path = next(p for p in lobster_message_files() if "AMZN_2012-06-21_5" in str(p))
    day = load_day(path)
    p = load_params("AMZN")
    m = day.day.messages
    seconds = (int(m.ts_ns[-1]) - int(m.ts_ns[0])) / 1e9
    executions = m.event == 4
    # Market orders: no more than the executions, no fewer than a tenth of them.
    n_market = p.market_rate * 2 * seconds
    assert int(executions.sum()) / 10 < n_market <= int(executions.sum())
    adds_per_side = int((m.event == 1).sum()) / 2 / seconds
    observed = sum(p.limit_rate[:15])  # distances the level-5 file shows most of the time
    assert 0.3 * adds_per_side < observed <= adds_per_side


@pytest.mark.parametrize("cli", [impact_estimation.main, calibration.main])
def test_clis_write_their_json(
    cli: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "params.json"
    assert cli(["--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["tickers"]) == {"AAPL", "AMZN"} and doc["produced_by"].startswith("python -m")
    assert "AMZN" in capsys.readouterr().out

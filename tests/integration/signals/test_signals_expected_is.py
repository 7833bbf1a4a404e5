"""The expected-shortfall table from a backtest's orders.csv, regimes from the replay."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from signals.expected_is import build, main, regime_from_replay
from signals.monitoring import ExpectedShortfall, MonitoringError
from signals.regime import Regime, RegimeModel
from signals.train import ARTIFACTS, REGIME_DIR

AMZN_15H = (
    1_340_236_800_000_000_000 + 15 * 3_600_000_000_000
)  # LOBSTER clock: the day from midnight
HEADER = ["group", "policy", "index", "start_ns", "size_frac", "is_bps"]


def write(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def test_orders_are_labelled_with_the_regime_at_their_arrival_and_tabled(tmp_path: Path) -> None:
    at = regime_from_replay(RegimeModel.load(ARTIFACTS / REGIME_DIR))
    label = at("AMZN 2012-06-21 L5 14:15-16:00", AMZN_15H)
    assert label in {r.value for r in Regime}
    assert at("MSFT 2012-06-21 L1 09:30-16:00", AMZN_15H) == "*"  # not shipped
    rows = [["AMZN 2012-06-21 L5 14:15-16:00", "rl", i, AMZN_15H, 0.02 + 0.01 * (i % 20), 1.0 + i % 7]
            for i in range(60)]  # fmt: skip
    rows.append(["AMZN 2012-06-21 L5 14:15-16:00", "twap", 0, AMZN_15H, 0.03, 99.0])
    table = build(write(tmp_path / "orders.csv", rows), "rl", at, min_n=5)
    assert table.cells[(-1, "*")].n == 60
    assert sum(c.n for (b, r), c in table.cells.items() if b >= 0 and r == label) == 60
    out = tmp_path / "eis.json"
    assert main([str(tmp_path / "orders.csv"), "--policy", "rl", "--out", str(out)]) == 0
    assert ExpectedShortfall.from_json(json.loads(out.read_text())).cells[(-1, "*")].n == 60


def test_a_file_that_is_not_a_backtest_or_names_no_such_policy_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(MonitoringError, match=r"not a backtest orders\.csv"):
        build(bad, "rl", lambda g, t: "*")
    empty = write(tmp_path / "o.csv", [])
    with pytest.raises(MonitoringError, match="no orders of policy 'rl'"):
        build(empty, "rl", lambda g, t: "*")
    assert main([str(tmp_path / "missing.csv"), "--policy", "rl"]) == 2
    assert "error:" in capsys.readouterr().err

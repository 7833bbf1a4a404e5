"""Synthetic regimes calibrated on a training split see nothing of the other hours:
calibrating a day on a window gives what calibrating the same data cut to that window
gives, and windows that cover the day give the shipped whole-day calibration."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from exchange.data import lobster_message_files
from exchange.flow.calibration import calibrate
from exchange.replay import load_day

LO, HI = 34_200 + 1800, 34_200 + 5400  # 10:00-11:00


def _amzn5() -> Path:
    return next(p for p in lobster_message_files() if "AMZN_2012-06-21_5" in str(p))


def _cut(message: Path, out: Path) -> Path:
    """The same LOBSTER pair with only the rows inside [LO, HI)."""
    out.mkdir()
    book = Path(str(message).replace("_message_", "_orderbook_"))
    with gzip.open(message, "rt") as fm, gzip.open(book, "rt") as fb:
        rows = [(m, b) for m, b in zip(fm, fb, strict=True) if LO <= float(m.split(",")[0]) < HI]
    for src, k in ((message, 0), (book, 1)):
        name = src.name.replace(".csv.gz", ".csv").replace("34200000_57600000", f"{LO}000_{HI}000")
        (out / name).write_text("".join(r[k] for r in rows))
    return out / next(p.name for p in out.iterdir() if "_message_" in p.name)


def test_a_window_sees_only_its_own_hours(tmp_path: Path) -> None:
    day = load_day(_amzn5())
    windowed = calibrate(day, windows=[(LO, HI)])
    cut = calibrate(load_day(_cut(_amzn5(), tmp_path / "AMZN_2012-06-21_5")))
    assert windowed.market_rate == pytest.approx(cut.market_rate, rel=0.01)
    assert windowed.limit_rate[:10] == pytest.approx(cut.limit_rate[:10], rel=0.02)
    assert windowed.cancel_rate[:10] == pytest.approx(cut.cancel_rate[:10], rel=0.05)
    assert windowed.limit_sizes == cut.limit_sizes and windowed.market_sizes == cut.market_sizes
    assert windowed.start_price == cut.start_price and windowed.spread_ticks == cut.spread_ticks
    whole = calibrate(day)
    assert whole.market_rate != pytest.approx(windowed.market_rate, rel=0.01)  # hours differ
    assert "10:00-11:00" in windowed.source


def test_windows_covering_the_day_give_the_whole_day_calibration() -> None:
    day = load_day(_amzn5())
    from dataclasses import replace

    covered = calibrate(day, windows=[(34_200, 57_600)])
    assert replace(covered, source="") == replace(calibrate(day), source="")

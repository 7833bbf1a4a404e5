"""A LOBSTER file's level count is what its rows say, whatever it is called."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateways.marketdata.lobster import LobsterFormatError, message_file_in, read_day

EMPTY = "9999999999,0,-9999999999,0"


def _day(folder: Path, named: int, actual: int) -> Path:
    """Two rows of a level-``actual`` day, in files named level ``named``."""
    stem = f"XYZ_2012-06-21_34200000_57600000_{{}}_{named}.csv"
    msg = folder / stem.format("message")
    msg.write_text("34200.1,1,1,100,1000000,1\n34200.2,1,2,100,1010000,-1\n")
    rows = ["9999999999,0,1000000,100", "1010000,100,1000000,100"]
    book = [",".join([r] + [EMPTY] * (actual - 1)) for r in rows]
    (folder / stem.format("orderbook")).write_text("\n".join(book) + "\n")
    return msg


def test_a_level_10_file_named_level_5_is_refused_saying_both(tmp_path: Path) -> None:
    msg = _day(tmp_path, named=5, actual=10)
    with pytest.raises(LobsterFormatError) as info:
        read_day(msg)
    assert "holds 10 levels (40 columns a row) but is declared as level 5" in str(info.value)
    ok = tmp_path / "ok"
    ok.mkdir()
    assert read_day(_day(ok, named=3, actual=3)).levels == 3


def test_a_folder_names_its_one_message_file(tmp_path: Path) -> None:
    msg = _day(tmp_path, named=2, actual=2)
    assert message_file_in(tmp_path) == msg
    assert message_file_in(msg) == msg
    with pytest.raises(LobsterFormatError, match="no such file or folder"):
        message_file_in(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LobsterFormatError, match="no LOBSTER message file"):
        message_file_in(empty)

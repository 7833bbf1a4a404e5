"""The LOBSTER reader: conversion to ticks/ns, and corrupt files named by file and line."""

from __future__ import annotations

import functools
import gzip
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.data import ENV_VAR, data_dir, lobster_message_file, lobster_message_files
from gateways.marketdata.lobster import (
    LobsterFileName,
    LobsterFormatError,
    day_start_ns,
    read_day,
)

AMZN5 = lobster_message_file("AMZN", "2012-06-21", 5)
SLICE = 40


def test_shipped_files_are_found_in_the_repository() -> None:
    names = [p.parent.name for p in lobster_message_files()]
    assert names == ["AAPL_2012-06-21_1", "AMZN_2012-06-21_1", "AMZN_2012-06-21_5"]
    assert data_dir() == Path(__file__).resolve().parents[3] / "data"


def test_data_dir_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert data_dir() == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        lobster_message_file("AMZN", "2012-06-21", 5)


def test_amzn_level5_converts_to_ticks_and_epoch_ns() -> None:
    day = read_day(AMZN5)
    m, b = day.messages, day.book
    assert (day.ticker, day.levels, len(day)) == ("AMZN", 5, 155_935)
    # First rows of the file: "34200.017459617,5,0,1,2238200,-1" and
    # "34200.18960767,1,11885113,21,2238100,1".
    assert int(m.ts_ns[0]) == day_start_ns(day.date) + 34_200_017_459_617
    assert int(m.ts_ns[0]) == 1_340_271_000_017_459_617
    assert int(m.ts_ns[1]) == day_start_ns(day.date) + 34_200_189_607_670
    assert (int(m.event[1]), int(m.order_id[1]), int(m.size[1])) == (1, 11885113, 21)
    assert (int(m.price[0]), int(m.direction[0])) == (22382, -1)
    assert b.ask_px[0].tolist() == [22395, 22399, 22400, 22425, 22440]
    assert b.bid_sz[0].tolist() == [100, 200, 100, 10, 100]
    assert m.ts_ns.dtype == np.int64 and b.ask_px.dtype == np.int64
    assert bool(np.all(np.diff(m.ts_ns) >= 0))


def test_midpoint_hidden_executions_round_to_ticks_and_keep_raw_price() -> None:
    day = read_day(AMZN5)
    m = day.messages
    off = np.flatnonzero(m.price_raw % 100 != 0)
    assert off.size > 0 and set(m.event[off].tolist()) == {5}
    i = int(off[0])
    assert int(m.price[i]) == (int(m.price_raw[i]) + 50) // 100


def test_file_name_parsing() -> None:
    name = LobsterFileName.parse(AMZN5)
    assert (name.ticker, name.levels, name.kind, name.start_ms) == ("AMZN", 5, "message", 34200000)
    with pytest.raises(LobsterFormatError, match="file name"):
        LobsterFileName.parse("amzn.csv")


OB5 = AMZN5.with_name(AMZN5.name.replace("message", "orderbook"))


@functools.cache
def _head(path: Path, rows: int) -> tuple[str, ...]:
    with gzip.open(path, "rt") as f:
        return tuple(next(f).rstrip("\n") for _ in range(rows))


def _slice(tmp_path: Path, rows: int = SLICE) -> tuple[list[str], list[str], Path, Path]:
    msg, ob = list(_head(AMZN5, rows)), list(_head(OB5, rows))
    mp = tmp_path / AMZN5.name.removesuffix(".gz")
    op = tmp_path / OB5.name.removesuffix(".gz")
    return msg, ob, mp, op


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def test_clean_slice_reads(tmp_path: Path) -> None:
    msg, ob, mp, op = _slice(tmp_path)
    _write(mp, msg)
    _write(op, ob)
    day = read_day(mp, tick_size=Decimal("0.01"))
    assert len(day) == SLICE


def test_a_hidden_execution_that_would_round_to_a_price_of_zero_is_refused(
    tmp_path: Path,
) -> None:
    """Found by the lobster_files fuzz target: a type-5 row at $0.0022 (below half a
    tick) was read as a trade at 0 ticks."""
    msg, ob, mp, op = _slice(tmp_path)
    f = msg[4].split(",")
    f[1], f[4] = "5", "22"
    msg[4] = ",".join(f)
    _write(mp, msg)
    _write(op, ob)
    with pytest.raises(LobsterFormatError, match="rounds to 0 ticks") as err:
        read_day(mp, op)
    assert (err.value.path, err.value.line) == (str(mp), 5)


CORRUPTIONS = [
    "drop_field",
    "extra_field",
    "not_a_number",
    "fraction",
    "blank_line",
    "bad_type",
    "bad_direction",
    "time_backwards",
    "negative_size",
    "off_tick",
]


def _corrupt(line: str, how: str, prev: str) -> str | None:
    f = line.split(",")
    if how == "drop_field":
        return ",".join(f[:-1])
    if how == "extra_field":
        return line + ",7"
    if how == "not_a_number":
        f[3] = "abc"
    elif how == "fraction":
        f[3] = "10.5"
    elif how == "blank_line":
        return ""
    elif how == "bad_type":
        f[1] = "9"
    elif how == "bad_direction":
        f[5] = "0"
    elif how == "time_backwards":
        f[0] = f"{float(prev.split(',', 1)[0]) - 1:.9f}"
    elif how == "negative_size":
        f[3] = "-5"
    elif how == "off_tick":
        if f[1] == "5":
            f[1] = "1"
        f[4] = str(int(f[4]) + 1)
    return ",".join(f)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(line=st.integers(2, SLICE), how=st.sampled_from(CORRUPTIONS), gz=st.booleans())
def test_corrupt_message_file_names_file_and_line(
    tmp_path: Path, line: int, how: str, gz: bool
) -> None:
    msg, ob, mp, op = _slice(tmp_path)
    msg[line - 1] = _corrupt(msg[line - 1], how, msg[line - 2]) or ""
    if gz:
        mp = mp.with_name(mp.name + ".gz")
        mp.write_bytes(gzip.compress(("\n".join(msg) + "\n").encode()))
    else:
        _write(mp, msg)
    _write(op, ob)
    with pytest.raises(LobsterFormatError) as err:
        read_day(mp, op)
    assert err.value.path == str(mp)
    assert err.value.line == line, str(err.value)
    assert f"{mp}, line {line}" in str(err.value)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    line=st.integers(1, SLICE),
    how=st.sampled_from(["drop_field", "not_a_number", "crossed", "levels_out_of_order"]),
)
def test_corrupt_orderbook_file_names_file_and_line(tmp_path: Path, line: int, how: str) -> None:
    msg, ob, mp, op = _slice(tmp_path)
    f = ob[line - 1].split(",")
    if how == "drop_field":
        f = f[:-1]
    elif how == "not_a_number":
        f[5] = "x1"
    elif how == "crossed":
        f[2] = str(int(f[0]) + 100)  # best bid above best ask
    else:
        f[4], f[8] = f[8], f[4]  # ask levels 2 and 3 swapped
    ob[line - 1] = ",".join(f)
    _write(mp, msg)
    _write(op, ob)
    with pytest.raises(LobsterFormatError) as err:
        read_day(mp, op)
    assert (err.value.path, err.value.line) == (str(op), line), str(err.value)


@pytest.mark.parametrize("which", ["message", "orderbook"])
def test_row_counts_must_match(tmp_path: Path, which: str) -> None:
    msg, ob, mp, op = _slice(tmp_path)
    if which == "message":
        msg = msg[:-3]
    else:
        ob = ob[:-3]
    _write(mp, msg)
    _write(op, ob)
    with pytest.raises(LobsterFormatError, match="row counts differ") as err:
        read_day(mp, op)
    assert err.value.path == str(mp if which == "message" else op)
    assert err.value.line == SLICE - 2


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    _, ob, mp, op = _slice(tmp_path)
    mp.write_text("")
    _write(op, ob)
    with pytest.raises(LobsterFormatError, match="empty"):
        read_day(mp, op)
    bad_gz = mp.with_name(mp.name + ".gz")
    bad_gz.write_bytes(b"not gzip at all")
    with pytest.raises(LobsterFormatError, match="gzip"):
        read_day(bad_gz, op)
    with pytest.raises(LobsterFormatError, match="does not belong"):
        read_day(tmp_path / "TEST_2012-06-21_34200000_57600000_message_5.csv", op)
    mp.unlink()
    with pytest.raises(LobsterFormatError, match="cannot read"):
        read_day(mp, op)

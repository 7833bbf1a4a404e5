"""Data splits for evaluation: groups, windows of unseen data, the default folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exchange.data import SHIPPED_DATA
from policies.data import DataError, default_split, load_source, parse_windows
from policies.evaluate import data_groups
from tests.unit.marketdata.lobster_folders import renamed_day

AMZN1 = SHIPPED_DATA / "lobster" / "AMZN_2012-06-21_1"


def test_one_folder_over_two_windows_is_two_groups() -> None:
    held_out = load_source(AMZN1, parse_windows("14:15-16:00"))
    whole_day = load_source(AMZN1, parse_windows("09:30-16:00"))
    groups = data_groups([held_out, whole_day])
    assert list(groups) == [
        "AMZN_2012-06-21_1 14:15-16:00",
        "AMZN_2012-06-21_1 09:30-16:00",
    ]
    assert groups["AMZN_2012-06-21_1 14:15-16:00"] == [held_out]


def test_test_hours_apply_to_unseen_folders_when_given(tmp_path: Path) -> None:
    unseen = renamed_day(tmp_path, "MSFT")
    whole = default_split([str(AMZN1)], [str(unseen)], test="14:15-16:00")
    assert [s.describe()["windows"] for s in whole.test] == [["14:15-16:00"], ["09:30-16:00"]]
    given = default_split([str(AMZN1)], [str(unseen)], test="14:15-16:00", unseen="14:15-16:00")
    assert [(s.name, s.describe()["windows"]) for s in given.test] == [
        ("AMZN_2012-06-21_1", ["14:15-16:00"]),
        ("MSFT_2012-06-21_1", ["14:15-16:00"]),
    ]


def test_the_data_dir_variable_does_not_move_the_default_training_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another data root holding an AMZN_2012-06-21_5 folder (here: a copy of the shipped
    one) must not silently become the data the committed policy is judged on."""
    shipped = SHIPPED_DATA / "lobster" / "AMZN_2012-06-21_5"
    other = tmp_path / "lobster" / "AMZN_2012-06-21_5"
    other.mkdir(parents=True)
    for f in shipped.iterdir():
        shutil.copy(f, other / f.name)
    monkeypatch.setenv("RLEXEC_DATA_DIR", str(tmp_path))
    split = default_split(None, [], test="14:15-16:00")
    (train,) = split.train
    assert Path(train.day.day.message_path).parent == shipped


@pytest.mark.parametrize(
    ("folder", "words"),
    [
        ("nowhere", "nowhere: no such file or folder"),
        ("empty", "empty: no LOBSTER message file"),
    ],
)
def test_an_unusable_folder_is_a_data_error_naming_it(
    tmp_path: Path, folder: str, words: str
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=words):
        load_source(tmp_path / folder, parse_windows("10:00-11:00"))


def test_a_window_without_trades_says_which() -> None:
    with pytest.raises(DataError, match=r"no trades inside the window\(s\) 08:40-08:50"):
        load_source(AMZN1, parse_windows("08:40-08:50"))

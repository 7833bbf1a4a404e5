"""Data groups and policy lists from the command line, time-of-day buckets and order
seeds: (ticker, day, levels, window) groups, clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.backtest.lineup import parse_policies
from policies.backtest.orders import order_seed, parse_data, tod_bucket


def test_each_window_of_a_folder_is_its_own_group() -> None:
    groups = parse_data(["AMZN_2012-06-21_5@13:00-14:15,14:15-16:00", "AAPL_2012-06-21_1"])
    assert [(Path(g.folder).name, g.window_text) for g in groups] == [
        ("AMZN_2012-06-21_5", "13:00-14:15"),
        ("AMZN_2012-06-21_5", "14:15-16:00"),
        ("AAPL_2012-06-21_1", "09:30-16:00"),
    ]


def test_folders_without_windows_take_the_default_hours() -> None:
    (g,) = parse_data(["AAPL_2012-06-21_1"], default_windows="10:00-11:00")
    assert g.window_text == "10:00-11:00"


def test_bad_data_arguments_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no data folder 'NOPE_2012'"):
        parse_data(["NOPE_2012"])
    with pytest.raises(ValueError, match="bad window"):
        parse_data(["AAPL_2012-06-21_1@10:00"])
    with pytest.raises(ValueError, match="given twice"):
        parse_data(["AAPL_2012-06-21_1@10:00-11:00", "AAPL_2012-06-21_1@10:00-11:00"])
    with pytest.raises(ValueError, match="no data"):
        parse_data([])


@pytest.mark.parametrize(
    ("hhmm", "bucket"),
    [("09:30", "open"), ("10:29", "open"), ("10:30", "midday"), ("14:59", "midday"),
     ("15:00", "close"), ("15:59", "close")],
)  # fmt: skip
def test_time_of_day_buckets_are_the_first_and_last_hour_and_between(
    hhmm: str, bucket: str
) -> None:
    h, m = hhmm.split(":")
    assert tod_bucket(int(h) * 3600 + int(m) * 60) == bucket


def test_order_seeds_depend_on_the_seed_group_and_number_only() -> None:
    a = order_seed(1, "AMZN 2012-06-21 L5 14:15-16:00", 3)
    assert a == order_seed(1, "AMZN 2012-06-21 L5 14:15-16:00", 3)
    assert a != order_seed(1, "AMZN 2012-06-21 L5 14:15-16:00", 4)
    assert a != order_seed(1, "AMZN 2012-06-21 L5 13:00-14:15", 3)
    assert a != order_seed(2, "AMZN 2012-06-21 L5 14:15-16:00", 3)
    assert 0 <= a < 2**63


def test_policy_list_names_baselines_as_their_tables_do() -> None:
    specs = parse_policies("twap,vwap, pov ,ac,random,twap_aggressive")
    assert [s.name for s in specs] == [
        "twap", "vwap", "pov", "almgren_chriss", "random", "twap_aggressive",
    ]  # fmt: skip
    assert not any(s.learned for s in specs)


def test_a_learned_policy_is_verified_and_named_by_its_manifest() -> None:
    (rl,) = parse_policies("rl:policies/artifacts/ppo_amzn")
    assert rl.learned and rl.name == "ppo_amzn" and len(rl.digest) == 64


def test_bad_policy_lists_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown policy 'twa'"):
        parse_policies("twa")
    with pytest.raises(ValueError, match="given twice"):
        parse_policies("twap,twap")
    with pytest.raises(ValueError, match="no policies"):
        parse_policies(" , ")
    from policies.artifact import ArtifactError

    with pytest.raises(ArtifactError):
        parse_policies(f"rl:{tmp_path}")

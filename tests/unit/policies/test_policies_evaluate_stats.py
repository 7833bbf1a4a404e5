"""The evaluation's statistics: paired differences on the same episodes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.env import EnvConfig
from policies.evaluate import format_table, summarise


def test_paired_difference_statistics() -> None:
    twap = np.array([5.0, -3.0, 10.0, 2.0])
    learned = twap - np.array([1.0, 2.0, 0.0, 1.0])  # cheaper on 3 of 4 episodes
    s = summarise({"learned": learned, "twap": twap}, "learned")
    row = s["policies"]["learned"]
    assert row["mean_bps"] == pytest.approx(learned.mean())
    assert row["median_bps"] == pytest.approx(np.median(learned))
    assert row["se_bps"] == pytest.approx(learned.std(ddof=1) / 2)
    p = s["paired_vs_learned"]["twap"]
    d = learned - twap
    assert p["mean_diff_bps"] == pytest.approx(-1.0)
    assert p["se_diff_bps"] == pytest.approx(d.std(ddof=1) / 2)
    assert p["t"] == pytest.approx(-1.0 / (d.std(ddof=1) / 2))
    assert p["learned_cheaper_share"] == 0.75
    assert "twap" in format_table("AMZN", s)


def test_no_learned_policy_means_no_paired_rows() -> None:
    s = summarise({"twap": np.array([1.0, 2.0])}, None)
    assert s["paired_vs_learned"] == {}
    assert not math.isnan(s["policies"]["twap"]["se_bps"])


def test_env_config_round_trips_through_the_manifest() -> None:
    cfg = EnvConfig(horizon_s=(60.0, 120.0), impact="none")
    assert EnvConfig.from_json(cfg.to_json()) == cfg

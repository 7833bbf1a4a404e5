"""The summary's tables on hand-built results: cells by time of day, size and regime,
paired differences and their mirror images, win shares, and the list of buckets where a
policy that wins on average loses."""

from __future__ import annotations

import numpy as np
import pytest

from policies.backtest.orders import ParentSpec
from tests.unit.policies.backtest.synthetic import CLOSE, group, noise, summary_of

N = 90
WOBBLE = noise(1.0, 20)


def test_every_group_has_whole_time_of_day_size_and_regime_cells() -> None:
    g = group(N, {"twap": lambda o, m: m, "pov": lambda o, m: m + 1})
    cells = summary_of(g)["groups"][g.key]["cells"]
    assert {"all", "tod:open", "tod:midday", "tod:close"} <= set(cells)
    for kind, labels in (
        ("size", ("small", "medium", "large")),
        ("spread", ("tight", "normal", "wide")),
        ("volatility", ("calm", "normal", "volatile")),
        ("depth", ("thin", "normal", "deep")),
    ):
        assert {f"{kind}:{lab}" for lab in labels} <= set(cells)
        assert sum(cells[f"{kind}:{lab}"]["n"] for lab in labels) == N
    assert sum(cells[f"tod:{t}"]["n"] for t in ("open", "midday", "close")) == N


def test_paired_difference_and_win_share_against_twap() -> None:
    g = group(N, {"twap": lambda o, m: m + WOBBLE(o, m), "pov": lambda o, m: m + 1.0})
    rows = summary_of(g)["groups"][g.key]["cells"]["all"]["rows"]
    pov = rows["pov"]["vs"]["twap"]
    twap_cost = np.asarray([o.is_bps for o in g.outcomes["twap"]])
    pov_cost = np.asarray([o.is_bps for o in g.outcomes["pov"]])
    assert pov["p_beat"] == pytest.approx(np.mean(pov_cost < twap_cost))
    lo, hi = pov["diff"][1], pov["diff"][2]
    assert lo < pov["diff"][0] < hi
    mirror = rows["twap"]["vs"]["pov"]
    assert mirror["diff"] == [-pov["diff"][0], -pov["diff"][2], -pov["diff"][1]]
    assert mirror["p_beat"] == pytest.approx(1 - pov["p_beat"] - pov["ties"])


def test_identical_policies_tie_on_every_order() -> None:
    g = group(N, {"twap": lambda o, m: m, "vwap": lambda o, m: m})
    vs = summary_of(g)["groups"][g.key]["cells"]["all"]["rows"]["vwap"]["vs"]["twap"]
    assert vs["ties"] == 1.0 and vs["p_beat"] == 0.0 and vs["diff"] == [0.0, 0.0, 0.0]


def test_the_cost_split_columns_add_up_to_the_raw_mean() -> None:
    g = group(N, {"twap": lambda o, m: m + 2.0})
    row = summary_of(g)["groups"][g.key]["cells"]["all"]["rows"]["twap"]
    assert row["spread"] + row["impact"] + row["timing"] == pytest.approx(row["raw_mean"])


def test_a_policy_better_on_average_but_worse_at_the_close_is_listed() -> None:
    def cand(o: ParentSpec, m: float) -> float:
        return m + (3.0 if o.tod_s == CLOSE else -3.0) + 0.3 * WOBBLE(o, m)

    g = group(N, {"cand": cand, "twap": lambda o, m: m + WOBBLE(o, m)})
    summary = summary_of(g)
    worse = summary["groups"][g.key]["worse_in"]
    close = [w for w in worse if w["policy"] == "cand" and w["cell"] == "tod:close"]
    assert len(close) == 1
    assert close[0]["against"] == "twap" and close[0]["significant"]
    assert close[0]["overall"][0] < 0 < close[0]["diff"][0]
    assert not any(w["cell"].startswith("tod:") and w["cell"] != "tod:close" for w in worse)


def test_intervals_do_not_move_when_a_policy_is_added() -> None:
    base = {"twap": lambda o, m: m + WOBBLE(o, m), "pov": lambda o, m: m + 1.0}
    one = summary_of(group(N, base))
    two = summary_of(group(N, {**base, "vwap": lambda o, m: m + 0.5}))
    key = next(iter(one["groups"]))
    a = one["groups"][key]["cells"]["all"]["rows"]["pov"]
    b = two["groups"][key]["cells"]["all"]["rows"]["pov"]
    assert a["mean"] == b["mean"] and a["vs"]["twap"] == b["vs"]["twap"]


def test_an_edge_not_established_over_the_group_lists_no_bucket() -> None:
    # cheaper on average by a hair, well inside the noise: no claim to qualify
    def cand(o: ParentSpec, m: float) -> float:
        return m + (0.5 if o.index % 2 else -0.52)

    g = group(N, {"cand": cand, "twap": lambda o, m: m})
    summary = summary_of(g)
    assert summary["groups"][g.key]["cells"]["all"]["rows"]["cand"]["vs"]["twap"]["diff"][2] > 0
    assert summary["groups"][g.key]["worse_in"] == []

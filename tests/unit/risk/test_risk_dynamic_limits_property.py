"""No sequence of asks, releases and expiries ever loosens a limit beyond the config.

Hypothesis drives arbitrary asks (any number, NaN, infinity, above one, wrong types),
releases and the clock through :class:`DynamicLimits` wired to a real overlay. After
every step, for every symbol: the effective limits (both the posture's and the ones the
overlay checks orders against) are at or inside the configured ones field by field,
reduce-only holds exactly when a standing ask wants it, and when every ask is gone the
limits are exactly the configured ones again.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_harness import Harness

from risk.dynamic_limits import DynamicLimits, PostureRefused, looser_than
from risk.trading_state import TradingState

SYMBOLS = ("AMZN", "LOTS", "TINY")
anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([None, "0.5", True]),
)
ask = st.fixed_dictionaries({
    "op": st.just("tighten"),
    "symbol": st.sampled_from((*SYMBOLS, "MSFT")),
    "source": st.sampled_from(("regime", "spread_jump", "cancel_burst", "")),
    "size_scale": anything,
    "participation_scale": anything,
    "reduce_only": st.booleans(),
    "ttl_s": st.one_of(st.floats(min_value=-1, max_value=1_000), st.just(float("nan"))),
})  # fmt: skip
release = st.fixed_dictionaries({"op": st.just("release"), "symbol": st.sampled_from(SYMBOLS),
                                 "source": st.sampled_from(("regime", "spread_jump", "x"))})  # fmt: skip
tick = st.fixed_dictionaries({"op": st.just("advance"), "seconds": st.floats(0, 400)})


def check(h: Harness, dyn: DynamicLimits) -> None:
    for sym in SYMBOLS:
        cfg = h.ov.limits.symbols[sym]
        post = dyn.posture(sym)
        assert looser_than(cfg, post.limits) is None
        assert looser_than(cfg, h.ov._symbols[sym].limits) is None  # what orders meet
        assert h.ov._symbols[sym].limits == post.limits
        asks = dyn.asks(sym)
        assert post.reduce_only == any(a.reduce_only for a in asks.values())
        want = TradingState.REDUCING if post.reduce_only else TradingState.ACTIVE
        assert h.ov.trading_state(sym) is want
        if not asks:
            assert post.limits == cfg


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ask, release, tick), max_size=40))
def test_no_sequence_of_asks_loosens_any_limit_beyond_the_configuration(steps: list[dict[str, Any]]) -> None:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Path(tmp) / "ks.json")
        dyn = DynamicLimits(h.ov.limits, apply=h.ov.apply_posture)
        for step in steps:
            op = step.pop("op")
            if op == "advance":
                h.advance(step["seconds"])
                dyn.expire(h.now)
            elif op == "release":
                dyn.release(step["symbol"], step["source"], h.now)
            else:
                with contextlib.suppress(PostureRefused):
                    dyn.tighten(now_ns=h.now, **step)
            check(h, dyn)
        h.advance(1_000)  # past every ask's longest life
        dyn.expire(h.now)
        check(h, dyn)
        for sym in SYMBOLS:
            assert not dyn.posture(sym).tightened


@pytest.mark.parametrize("scale", [1.0, 0.999999, 1e-12])
def test_the_edges_of_a_scale_stay_inside_the_configuration(scale: float, tmp_path: Path) -> None:
    h = Harness(tmp_path / "ks.json")
    dyn = DynamicLimits(h.ov.limits, apply=h.ov.apply_posture)
    for sym in SYMBOLS:
        dyn.tighten(sym, "edge", size_scale=scale, participation_scale=scale, ttl_s=1, now_ns=h.now)
    check(h, dyn)

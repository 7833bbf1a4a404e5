"""Dynamic limits tighten the overlay's caps for a while and lapse back to the config."""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal

import pytest
from risk_harness import Harness, approved, denied

from core.types import Side
from risk.dynamic_limits import DynamicLimits, Posture, PostureRefused, scaled_limits
from risk.reasons import DenyReason
from risk.trading_state import TradingState


def wired(h: Harness) -> DynamicLimits:
    return DynamicLimits(h.ov.limits, apply=h.ov.apply_posture)


def test_a_size_ask_lowers_the_order_size_cap_until_released(h: Harness) -> None:
    dyn = wired(h)
    ev = dyn.tighten("AMZN", "regime", size_scale=0.5, ttl_s=60, now_ns=h.now, reason="volatile")
    assert ev is not None and ev.action == "tighten" and ev.reason == "volatile"
    assert ev.new.limits.max_order_qty == 500 and ev.old.limits.max_order_qty == 1_000
    assert denied(h.new(qty=600)).reason is DenyReason.MAX_ORDER_QTY
    approved(h.new(qty=500))
    back = dyn.release("AMZN", "regime", h.now)
    assert back is not None and back.new.limits is h.ov.limits.symbols["AMZN"]
    approved(h.new(qty=600))


def test_an_ask_lapses_at_its_expiry_and_the_config_comes_back(h: Harness) -> None:
    dyn = wired(h)
    dyn.tighten("AMZN", "spread_jump", participation_scale=0.1, ttl_s=30, now_ns=h.now)
    assert dyn.posture("AMZN").limits.participation_bps == 250
    h.advance(29.9)
    assert dyn.expire(h.now) == []
    h.advance(0.1)
    (ev,) = dyn.expire(h.now)
    assert ev.action == "expire" and not ev.new.tightened
    assert dyn.posture("AMZN").limits == h.ov.limits.symbols["AMZN"]


def test_the_tightest_of_several_sources_wins_and_one_release_does_not_undo_another(h: Harness) -> None:  # fmt: skip
    dyn = wired(h)
    dyn.tighten("AMZN", "regime", size_scale=0.5, ttl_s=60, now_ns=h.now)
    dyn.tighten("AMZN", "cancel_burst", size_scale=0.8, participation_scale=0.2, ttl_s=60, now_ns=h.now)  # fmt: skip
    lim = dyn.posture("AMZN").limits
    assert (lim.max_order_qty, lim.participation_bps) == (500, 500)
    dyn.release("AMZN", "regime", h.now)
    lim = dyn.posture("AMZN").limits
    assert (lim.max_order_qty, lim.participation_bps) == (800, 500)


def test_reduce_only_blocks_orders_that_grow_the_position_but_not_those_that_shrink_it(h: Harness) -> None:  # fmt: skip
    buy = approved(h.new(qty=100, price=10_001))
    h.fill(buy, 100, 10_001)
    dyn = wired(h)
    dyn.tighten("AMZN", "move_beyond_sigma", reduce_only=True, ttl_s=60, now_ns=h.now)
    assert h.ov.trading_state("AMZN") is TradingState.REDUCING
    d = denied(h.new(qty=10, price=9_999))
    assert d.reason is DenyReason.REDUCE_ONLY and "move_beyond_sigma" in str(d.context)
    approved(h.new(qty=100, price=9_999, side=Side.SELL))
    assert h.ov.trading_state("LOTS") is TradingState.ACTIVE
    dyn.release("AMZN", "move_beyond_sigma", h.now)
    assert h.ov.trading_state("AMZN") is TradingState.ACTIVE


def test_a_posture_does_not_loosen_an_operators_reducing_state(h: Harness) -> None:
    h.ov.set_trading_state(TradingState.REDUCING, now_ns=h.now, source="operator", symbol="AMZN")
    dyn = wired(h)
    dyn.tighten("AMZN", "regime", reduce_only=True, ttl_s=5, now_ns=h.now)
    dyn.release("AMZN", "regime", h.now)
    assert h.ov.trading_state("AMZN") is TradingState.REDUCING


@pytest.mark.parametrize("bad", [1.01, 2, 0, -0.5, math.nan, math.inf, "0.5", None, True])
def test_anything_but_a_scale_in_0_1_is_refused_and_changes_nothing(h: Harness, bad: object) -> None:  # fmt: skip
    dyn = wired(h)
    with pytest.raises(PostureRefused, match=r"\(0, 1\]"):
        dyn.tighten("AMZN", "x", size_scale=bad, ttl_s=10, now_ns=h.now)  # type: ignore[arg-type]
    with pytest.raises(PostureRefused, match=r"\(0, 1\]"):
        dyn.tighten("AMZN", "x", participation_scale=bad, ttl_s=10, now_ns=h.now)  # type: ignore[arg-type]
    assert not dyn.posture("AMZN").tightened and dyn.asks("AMZN") == {}


@pytest.mark.parametrize(("field", "value"), [("ttl_s", 0), ("ttl_s", 901), ("ttl_s", math.nan),
                                                ("source", ""), ("source", "a\nb"), ("source", "x" * 65)])  # fmt: skip
def test_an_ask_without_a_bounded_expiry_or_a_clean_source_is_refused(h: Harness, field: str, value: object) -> None:  # fmt: skip
    kw: dict[str, object] = {"ttl_s": 10, "source": "regime", field: value}
    with pytest.raises(PostureRefused):
        wired(h).tighten("AMZN", now_ns=h.now, size_scale=0.5, **kw)  # type: ignore[arg-type]


def test_an_unknown_symbol_is_refused(h: Harness) -> None:
    with pytest.raises(PostureRefused, match="not an allowed symbol"):
        wired(h).tighten("MSFT", "regime", size_scale=0.5, ttl_s=10, now_ns=h.now)


def test_the_overlay_refuses_a_posture_looser_than_its_configuration(h: Harness) -> None:
    cfg = h.ov.limits.symbols["AMZN"]
    for field, value in (("max_order_qty", 1_001), ("participation_bps", 2_501),
                         ("max_order_notional", Decimal("200000.01")), ("collar_bps", 101),
                         ("lot_size", 2)):  # fmt: skip
        looser = dataclasses.replace(cfg, **{field: value})
        with pytest.raises(PostureRefused, match=field):
            h.ov.apply_posture(Posture(looser, False, ("evil",)), h.now)
    assert h.ov.trading_state("AMZN") is TradingState.ACTIVE
    approved(h.new(qty=1_000))
    with pytest.raises(PostureRefused, match="not a posture"):
        h.ov.apply_posture("AMZN", h.now)  # type: ignore[arg-type]


def test_scaled_size_caps_stay_on_the_lot_grid_and_at_least_one_valid_order(h: Harness) -> None:
    lots = h.ov.limits.symbols["LOTS"]  # lot 100, min 100, max 10,000
    assert scaled_limits(lots, 0.555, 1.0).max_order_qty == 5_500
    assert scaled_limits(lots, 1e-9, 1.0).max_order_qty == 100
    tiny = scaled_limits(h.ov.limits.symbols["AMZN"], 1e-9, 1e-9)
    assert (tiny.max_order_qty, tiny.participation_bps, tiny.max_order_notional_tu) == (1, 1, 1)


def test_a_renewal_with_the_same_ask_is_no_event_but_moves_the_expiry(h: Harness) -> None:
    dyn = wired(h)
    dyn.tighten("AMZN", "regime", size_scale=0.5, ttl_s=10, now_ns=h.now)
    h.advance(8)
    assert dyn.tighten("AMZN", "regime", size_scale=0.5, ttl_s=10, now_ns=h.now) is None
    h.advance(8)
    assert dyn.expire(h.now) == []
    assert dyn.posture("AMZN").tightened

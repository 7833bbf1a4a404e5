"""Action table and action mapper: sizes in slices, prices off the book, never more than remains."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.book import L2Book
from core.orders import ChildOrder
from core.types import OrdStatus, OrdType, Side, TimeInForce
from policies.actions import Action, ActionMapper, ActionSpec, Placement
from policies.context import DecisionContext

S = 1_000_000_000


def ctx(
    qty: int = 1000, filled: int = 0, now_s: int = 0, end_s: int = 100, lot: int = 1
) -> DecisionContext:
    return DecisionContext(
        now_ns=now_s * S,
        start_ns=0,
        end_ns=end_s * S,
        side=Side.BUY,
        qty=qty,
        filled=filled,
        decision_interval_ns=5 * S,
        market_volume=0,
        time_of_day_s=36_000.0,
        lot_size=lot,
    )


def book(bid: int = 100, ask: int = 110) -> L2Book:
    b = L2Book("X")
    b.apply_snapshot([(bid, 300), (bid - 1, 200)], [(ask, 400), (ask + 1, 100)])
    return b


def test_default_table_has_wait_hold_and_three_sizes_per_tactic() -> None:
    spec = ActionSpec()
    assert spec.n == 13 and spec.version == 4 and spec.line == 0.0
    assert spec.choices[spec.wait_index].placement is Placement.NONE
    assert spec.names[:2] == ["wait", "hold"]
    assert spec.names[-2:] == ["due_touch", "due_inside"]
    old = ActionSpec(version=2)  # the table of artifacts trained before issue 15
    assert old.n == 11 and old.names == spec.names[:11] and old.known and spec.known
    assert ActionSpec.from_json(old.to_json()) == old
    with pytest.raises(ValueError, match="no action table v9"):
        ActionSpec(version=9)
    assert not ActionSpec(choices=old.choices, version=3).known  # a table under another number


def test_due_rests_what_is_behind_and_the_next_slice_and_crosses_nothing() -> None:
    spec = ActionSpec()
    # 1000 over 100 s at 5 s decisions, 50 s in, 300 filled: 200 behind the line,
    # slices of 700 / 10 = 70
    c = ctx(qty=1000, filled=300, now_s=50, end_s=100)
    a = spec.decode(spec.index("due_touch"), c)
    assert a == Action(Placement.TOUCH, rest_qty=270, cross_qty=0)
    b = spec.decode(spec.index("due_inside"), c)
    assert b.placement is Placement.INSIDE and b.rest_qty == 270
    ahead = spec.decode(spec.index("due_touch"), ctx(qty=1000, filled=600, now_s=50, end_s=100))
    assert ahead.rest_qty == 40 and ahead.cross_qty == 0  # ahead of the line: one slice


def test_table_v4_on_the_straight_line_decodes_every_row_exactly_as_v3() -> None:
    v3, v4 = ActionSpec(version=3), ActionSpec(version=4)
    assert v3.names == v4.names and v3.known and v4.known
    for filled, now_s in ((0, 0), (300, 50), (600, 50), (990, 95)):
        c = ctx(qty=1000, filled=filled, now_s=now_s)
        assert [v4.decode(i, c) for i in range(v4.n)] == [v3.decode(i, c) for i in range(v3.n)]


def test_table_v4_measures_behind_against_its_own_line() -> None:
    """kappa T = 2: 68 % of the parent is due half way, so 500 filled is 176 behind;
    due_touch rests that and the line's next step, catchup_touch crosses it."""
    spec = ActionSpec(version=4, line=2.0)
    c = ctx(qty=1000, filled=500, now_s=50)
    behind = 1000 * (1 - math.sinh(1.0) / math.sinh(2.0)) - 500
    assert spec.behind(c) == pytest.approx(behind) and 170 < behind < 180
    step = 1000 * (math.sinh(1.0) - math.sinh(0.9)) / math.sinh(2.0)  # 45 -> 50 s of 100
    due = spec.decode(spec.index("due_touch"), c)
    assert due == Action(Placement.TOUCH, rest_qty=math.ceil(behind + step), cross_qty=0)
    catchup = spec.decode(spec.index("catchup_touch"), c)
    assert catchup.cross_qty == math.ceil(behind) and catchup.rest_qty == math.ceil(step)
    # rows without "behind" keep slices of remaining over decisions left: 50 a slice here
    assert spec.decode(spec.index("touch_x1"), c).rest_qty == 50
    assert ActionSpec.from_json(spec.to_json()) == spec and spec.known


@pytest.mark.parametrize(("version", "line"), [(3, 1.0), (4, -1.0), (4, float("nan")), (4, 99.0)])
def test_a_line_on_a_table_without_one_or_outside_a_kappa_t_is_refused(
    version: int, line: float
) -> None:
    with pytest.raises(ValueError, match="line"):
        ActionSpec(version=version, line=line)


def test_decode_sizes_in_slices_of_remaining_over_decisions_left() -> None:
    spec = ActionSpec()
    c = ctx(qty=1000, filled=200, now_s=0, end_s=100)  # 20 decisions left, slice = 40
    touch_x2 = spec.names.index("touch_x2")
    a = spec.decode(touch_x2, c)
    assert a == Action(Placement.TOUCH, rest_qty=80, cross_qty=0)
    cross_half = spec.decode(spec.names.index("cross_x0.5"), c)
    assert cross_half.cross_qty == 20 and cross_half.placement is Placement.KEEP


def test_decode_rounds_up_to_lots_and_caps_at_remaining() -> None:
    spec = ActionSpec()
    c = ctx(qty=1000, filled=950, now_s=95, end_s=100, lot=100)  # 50 left (< one lot)
    assert spec.decode(spec.names.index("touch_x1"), c).rest_qty == 0
    c2 = ctx(qty=1000, filled=0, now_s=0, end_s=100, lot=100)  # slice 50 -> one lot
    assert spec.decode(spec.names.index("touch_x1"), c2).rest_qty == 100


@settings(max_examples=60, deadline=None)
@given(
    qty=st.integers(1, 100_000),
    frac=st.floats(0, 1),
    now=st.integers(0, 99),
    lot=st.sampled_from([1, 10, 100]),
    index=st.integers(0, 10),
)
def test_decoded_quantities_never_exceed_remaining(
    qty: int, frac: float, now: int, lot: int, index: int
) -> None:
    filled = int(qty * frac)
    a = ActionSpec().decode(index, ctx(qty=qty, filled=filled, now_s=now, lot=lot))
    remaining = qty - filled
    assert 0 <= a.rest_qty <= remaining and 0 <= a.cross_qty <= remaining
    assert a.rest_qty % lot == 0 and a.cross_qty % lot == 0


def test_decode_rejects_out_of_range_index() -> None:
    with pytest.raises(ValueError, match="outside the table"):
        ActionSpec().decode(13, ctx())


def test_spec_json_round_trip() -> None:
    spec = ActionSpec()
    assert ActionSpec.from_json(spec.to_json()) == spec


def test_mapper_touch_inside_and_cross_prices() -> None:
    b = book(100, 110)
    buy, sell = ActionMapper(Side.BUY), ActionMapper(Side.SELL)
    assert buy.desired(Action(Placement.TOUCH, rest_qty=50), b, [])[0].price == 100
    assert buy.desired(Action(Placement.INSIDE, rest_qty=50), b, [])[0].price == 101
    assert sell.desired(Action(Placement.INSIDE, rest_qty=50), b, [])[0].price == 109
    cross = buy.desired(Action(Placement.NONE, cross_qty=30), b, [])
    assert len(cross) == 1
    d = cross[0]
    assert (d.price, d.qty, d.ord_type, d.tif) == (110, 30, OrdType.LIMIT, TimeInForce.IOC)


def test_inside_falls_back_to_touch_on_a_one_tick_spread() -> None:
    assert (
        ActionMapper(Side.BUY)
        .desired(Action(Placement.INSIDE, rest_qty=5), book(100, 101), [])[0]
        .price
        == 100
    )


def test_keep_reproduces_resting_children_and_none_cancels() -> None:
    o = ChildOrder("C1", "X", Side.BUY, 100, 99, cum_qty=40)
    o.status = OrdStatus.PARTIALLY_FILLED
    m = ActionMapper(Side.BUY)
    kept = m.desired(Action(Placement.KEEP, cross_qty=10), book(), [o])
    assert [(d.price, d.qty, d.tif) for d in kept] == [
        (110, 10, TimeInForce.IOC),
        (99, 60, TimeInForce.DAY),
    ]
    assert m.desired(Action(Placement.NONE), book(), [o]) == []


def test_no_order_against_an_empty_side() -> None:
    b = L2Book("X")
    b.apply_snapshot([(100, 5)], [])
    m = ActionMapper(Side.BUY)
    assert m.desired(Action(Placement.NONE, cross_qty=10), b, []) == []
    assert m.desired(Action(Placement.TOUCH, rest_qty=10), b, [])[0].price == 100


def test_catchup_crosses_what_is_behind_the_line_and_rests_a_slice() -> None:
    spec = ActionSpec()
    c = ctx(qty=1000, filled=100, now_s=50, end_s=100)  # line says 500: 400 behind; slice 90
    a = spec.decode(spec.names.index("catchup_touch"), c)
    assert (a.placement, a.cross_qty, a.rest_qty) == (Placement.TOUCH, 400, 90)
    ahead = spec.decode(
        spec.names.index("catchup_inside"), ctx(qty=1000, filled=700, now_s=50, end_s=100)
    )
    assert (ahead.placement, ahead.cross_qty, ahead.rest_qty) == (Placement.INSIDE, 0, 30)
    assert spec.prior_index == spec.names.index("catchup_touch")

"""Reconciler: its plan, applied to the live orders, always yields the desired resting set."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.orders import ChildOrder
from core.reconciler import DesiredOrder, ReconcilePlan, reconcile, resting_view, target_levels
from core.types import OrdStatus, OrdType, Side, TimeInForce


def live(cid: str, side: Side, price: int, qty: int, cum: int = 0, t: int = 0) -> ChildOrder:
    o = ChildOrder(cid, "AMZN", side, qty, price, created_ns=t, cum_qty=cum)
    o.status = OrdStatus.PARTIALLY_FILLED if cum else OrdStatus.NEW
    return o


def apply_plan(orders: list[ChildOrder], plan: ReconcilePlan) -> dict[tuple[Side, int], int]:
    """What would rest once the venue accepted every command of the plan."""
    book: dict[str, tuple[Side, int, int]] = {}
    for o in orders:
        view = resting_view(o)
        if view is not None:
            (side, price), leaves = view
            book[o.cl_ord_id] = (side, price, leaves)
    for c in plan.cancels:
        del book[c.cl_ord_id]
    for r in plan.replaces:
        side, _, _ = book[r.cl_ord_id]
        assert r.price is not None
        book[r.cl_ord_id] = (side, r.price, r.leaves)
    for i, n in enumerate(plan.news):
        if n.tif.rests and n.ord_type is OrdType.LIMIT:
            assert n.price is not None
            book[f"new{i}"] = (n.side, n.price, n.qty)
    out: dict[tuple[Side, int], int] = {}
    for side, price, qty in book.values():
        if qty:
            out[(side, price)] = out.get((side, price), 0) + qty
    return out


def test_nothing_to_do_when_live_matches_desired() -> None:
    orders = [live("A", Side.BUY, 100, 50)]
    plan = reconcile([DesiredOrder(Side.BUY, 100, 50)], orders)
    assert plan.empty


def test_more_wanted_at_a_price_adds_an_order_and_keeps_queue_priority() -> None:
    plan = reconcile([DesiredOrder(Side.BUY, 100, 80)], [live("A", Side.BUY, 100, 50)])
    assert plan.cancels == [] and plan.replaces == []
    assert [(n.price, n.qty) for n in plan.news] == [(100, 30)]


def test_less_wanted_shrinks_the_youngest_order_first() -> None:
    orders = [live("OLD", Side.SELL, 101, 50, t=1), live("YOUNG", Side.SELL, 101, 50, t=2)]
    plan = reconcile([DesiredOrder(Side.SELL, 101, 70)], orders)
    assert [(r.cl_ord_id, r.leaves) for r in plan.replaces] == [("YOUNG", 20)]
    assert plan.cancels == []


def test_price_move_is_one_replace_not_cancel_plus_new() -> None:
    orders = [live("A", Side.BUY, 100, 50, cum=10)]
    plan = reconcile([DesiredOrder(Side.BUY, 101, 40)], orders)
    assert plan.news == [] and plan.cancels == []
    (r,) = plan.replaces
    assert (r.cl_ord_id, r.price, r.qty, r.leaves) == ("A", 101, 50, 40)


def test_unwanted_orders_are_cancelled() -> None:
    plan = reconcile([], [live("A", Side.BUY, 100, 50), live("B", Side.SELL, 105, 5)])
    assert sorted(c.cl_ord_id for c in plan.cancels) == ["A", "B"]


def test_in_flight_orders_are_not_touched_and_blocked_levels_are_deferred() -> None:
    pending = ChildOrder("P", "AMZN", Side.BUY, 50, 100)  # pending new
    plan = reconcile([DesiredOrder(Side.BUY, 100, 20)], [pending])
    assert plan.empty
    assert plan.deferred == [(Side.BUY, 100)]
    cancelling = live("C", Side.BUY, 100, 50)
    cancelling.request_cancel()
    plan = reconcile([DesiredOrder(Side.BUY, 100, 20)], [cancelling])
    assert [(n.price, n.qty) for n in plan.news] == [(100, 20)]


def test_immediate_orders_always_go_out_as_new() -> None:
    desired = [
        DesiredOrder(Side.BUY, 102, 30, tif=TimeInForce.IOC),
        DesiredOrder(Side.BUY, None, 10, ord_type=OrdType.MARKET, tif=TimeInForce.IOC),
    ]
    plan = reconcile(desired, [])
    assert [(n.price, n.qty, n.tif) for n in plan.news] == [
        (102, 30, TimeInForce.IOC),
        (None, 10, TimeInForce.IOC),
    ]


sides = st.sampled_from([Side.BUY, Side.SELL])
prices = st.integers(95, 105)


@st.composite
def live_orders(draw: st.DrawFn) -> list[ChildOrder]:
    n = draw(st.integers(0, 8))
    out = []
    for i in range(n):
        qty = draw(st.integers(1, 100))
        cum = draw(st.integers(0, qty - 1))
        o = live(f"L{i}", draw(sides), draw(prices), qty, cum, t=draw(st.integers(0, 5)))
        kind = draw(
            st.sampled_from(
                ["working", "working", "pending_new", "pending_cancel", "pending_replace"]
            )
        )
        if kind == "pending_new":
            o.status = OrdStatus.PENDING_NEW
            o.cum_qty = 0
        elif kind == "pending_cancel":
            o.request_cancel()
        elif kind == "pending_replace":
            o.request_replace(f"R{i}", draw(prices), o.cum_qty + draw(st.integers(1, 50)))
        out.append(o)
    return out


desired_st = st.lists(st.builds(DesiredOrder, sides, prices, st.integers(1, 100)), max_size=8)


@settings(max_examples=400, deadline=None)
@given(desired_st, live_orders())
def test_plan_applied_to_live_orders_yields_the_desired_set(
    desired: list[DesiredOrder], orders: list[ChildOrder]
) -> None:
    plan = reconcile(desired, orders)
    result = apply_plan(orders, plan)
    target = target_levels(desired)
    touched = {c.cl_ord_id for c in plan.cancels} | {r.cl_ord_id for r in plan.replaces}
    assert all(not o.status.is_pending for o in orders if o.cl_ord_id in touched)
    for key in set(result) | set(target):
        if key in plan.deferred:
            # only in-flight orders can keep a level above target, never below
            assert result.get(key, 0) > target.get(key, 0)
        else:
            assert result.get(key, 0) == target.get(key, 0), key
    # no ClOrdID is commanded twice
    ids = [c.cl_ord_id for c in plan.cancels] + [r.cl_ord_id for r in plan.replaces]
    assert len(ids) == len(set(ids))


@settings(max_examples=200, deadline=None)
@given(desired_st, live_orders())
def test_reconciling_again_after_applying_is_a_no_op(
    desired: list[DesiredOrder], orders: list[ChildOrder]
) -> None:
    """Idempotence: once the plan is done, the next decision asks for nothing."""
    plan = reconcile(desired, orders)
    assume(not plan.deferred)
    settled: list[ChildOrder] = []
    for i, ((side, price), qty) in enumerate(apply_plan(orders, plan).items()):
        settled.append(live(f"S{i}", side, price, qty))
    assert reconcile(desired, settled).empty

"""Child-order state machine: FIX OrdStatus semantics, illegal transitions, no lost quantity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import IllegalTransition, OverfillError
from core.fills import Fill
from core.orders import ChildOrder
from core.types import OrdStatus, OrdType, Side, TimeInForce

S = OrdStatus


def make(qty: int = 100, price: int | None = 10_000, **kw: object) -> ChildOrder:
    return ChildOrder("C1", "AMZN", Side.BUY, qty, price, **kw)  # type: ignore[arg-type]


def fill(exec_id: str, qty: int, price: int = 10_000, cl: str = "C1") -> Fill:
    return Fill(exec_id, cl, "AMZN", Side.BUY, qty, price, 0)


# ------------------------------------------------------------------ happy paths
def test_new_order_starts_pending_new_with_all_quantity_leaving() -> None:
    o = make()
    assert o.status is S.PENDING_NEW
    assert (o.cum_qty, o.leaves_qty) == (0, 100)


def test_ack_then_partial_then_full_fill() -> None:
    o = make()
    o.on_ack()
    assert o.status is S.NEW
    assert o.on_fill(fill("E1", 40))
    assert o.status is S.PARTIALLY_FILLED
    assert (o.cum_qty, o.leaves_qty) == (40, 60)
    o.on_fill(fill("E2", 60, 10_002))
    assert o.status is S.FILLED
    assert o.leaves_qty == 0
    assert o.notional == 40 * 10_000 + 60 * 10_002
    assert o.avg_px == pytest.approx((40 * 10_000 + 60 * 10_002) / 100)


def test_duplicate_exec_id_is_ignored() -> None:
    o = make()
    o.on_ack()
    assert o.on_fill(fill("E1", 10))
    assert not o.on_fill(fill("E1", 10))
    assert o.cum_qty == 10


def test_cancel_request_then_canceled() -> None:
    o = make()
    o.on_ack()
    o.request_cancel()
    assert o.status is S.PENDING_CANCEL
    o.on_canceled()
    assert o.status is S.CANCELED
    assert o.leaves_qty == 0


def test_fill_while_cancel_pending_keeps_pending_cancel_until_filled() -> None:
    o = make()
    o.on_ack()
    o.request_cancel()
    o.on_fill(fill("E1", 30))
    assert o.status is S.PENDING_CANCEL
    assert o.cum_qty == 30
    o.on_fill(fill("E2", 70))
    assert o.status is S.FILLED


def test_cancel_reject_restores_working_state_from_cum_qty() -> None:
    o = make()
    o.on_ack()
    o.on_fill(fill("E1", 30))
    o.request_cancel()
    o.on_cancel_reject()
    assert o.status is S.PARTIALLY_FILLED


def test_cancel_reject_after_the_order_filled_is_a_harmless_race() -> None:
    o = make()
    o.on_ack()
    o.request_cancel()
    o.on_fill(fill("E1", 100))
    o.on_cancel_reject()
    assert o.status is S.FILLED


def test_replace_creates_successor_that_inherits_fills() -> None:
    o = make()
    o.on_ack()
    o.on_fill(fill("E1", 20))
    o.request_replace("C2", 10_005, 150)
    assert o.status is S.PENDING_REPLACE
    succ = o.on_replaced()
    assert o.status is S.REPLACED
    assert succ.cl_ord_id == "C2"
    assert succ.orig_cl_ord_id == "C1"
    assert (succ.qty, succ.cum_qty, succ.leaves_qty, succ.price) == (150, 20, 130, 10_005)
    assert succ.status is S.PARTIALLY_FILLED
    # the successor remembers ExecIDs so a replayed fill is not applied twice
    assert not succ.on_fill(fill("E1", 20, cl="C2"))


def test_replace_reject_restores_original() -> None:
    o = make()
    o.on_ack()
    o.request_replace("C2", 10_005, 150)
    o.on_cancel_reject()
    assert o.status is S.NEW
    assert o.pending_replace is None
    assert (o.price, o.qty) == (10_000, 100)


def test_ioc_with_nothing_to_match_is_canceled_straight_from_pending_new() -> None:
    o = make(tif=TimeInForce.IOC)
    o.on_canceled()
    assert o.status is S.CANCELED


def test_market_order_has_no_price() -> None:
    o = make(price=None, ord_type=OrdType.MARKET, tif=TimeInForce.IOC)
    assert o.price is None
    with pytest.raises(ValueError, match="market order carries no price"):
        make(price=10, ord_type=OrdType.MARKET)


# ------------------------------------------------------------- illegal moves
@pytest.mark.parametrize(
    ("setup", "event"),
    [
        ("reject", lambda o: o.on_ack()),
        ("filled", lambda o: o.request_cancel()),
        ("filled", lambda o: o.on_fill(fill("E9", 1))),
        ("new", lambda o: o.on_reject("late")),
        ("pending_new", lambda o: o.request_cancel()),
        ("canceled", lambda o: o.request_replace("C9", 1, 200)),
        ("new", lambda o: o.on_replaced()),
        ("canceled", lambda o: o.on_expired()),
    ],
)
def test_illegal_transition_raises_naming_order_state_and_event(setup: str, event: object) -> None:
    o = make()
    if setup == "reject":
        o.on_reject("bad")
    elif setup == "filled":
        o.on_ack()
        o.on_fill(fill("E1", 100))
    elif setup == "new":
        o.on_ack()
    elif setup == "canceled":
        o.on_ack()
        o.on_canceled()
    before = (o.status, o.cum_qty)
    with pytest.raises(IllegalTransition) as exc:
        event(o)  # type: ignore[operator]
    assert "C1" in str(exc.value)
    assert o.status.name in str(exc.value)
    assert (o.status, o.cum_qty) == before  # nothing changed


def test_overfill_is_refused_and_changes_nothing() -> None:
    o = make()
    o.on_ack()
    o.on_fill(fill("E1", 90))
    with pytest.raises(OverfillError, match="past order quantity 100"):
        o.on_fill(fill("E2", 11))
    assert o.cum_qty == 90
    assert "E2" not in o.exec_ids


def test_replace_must_leave_something_to_fill() -> None:
    o = make()
    o.on_ack()
    o.on_fill(fill("E1", 50))
    with pytest.raises(ValueError, match="must exceed filled 50"):
        o.request_replace("C2", 10_000, 50)


def test_fill_for_another_order_is_refused() -> None:
    o = make()
    o.on_ack()
    with pytest.raises(ValueError, match="belongs to C7"):
        o.on_fill(fill("E1", 1, cl="C7"))


@pytest.mark.parametrize("qty", [0, -5])
def test_order_quantity_must_be_positive(qty: int) -> None:
    with pytest.raises(ValueError, match="order quantity must be > 0"):
        make(qty=qty)


# ------------------------------------------------------------- property test
EVENTS = [
    "ack",
    "reject",
    "fill",
    "cancel_req",
    "canceled",
    "cancel_reject",
    "replace_req",
    "replaced",
    "expired",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EVENTS), st.integers(1, 60)), max_size=30))
def test_random_event_sequences_keep_the_state_machine_sound(
    events: list[tuple[str, int]],
) -> None:
    """Any event order: either a legal move or a clear refusal; quantity is never lost."""
    order = make(qty=100)
    chain = [order]
    for n, (name, amount) in enumerate(events):
        o = chain[-1]
        before = (o.status, o.cum_qty, o.qty)
        try:
            if name == "ack":
                o.on_ack()
            elif name == "reject":
                o.on_reject("x")
            elif name == "fill":
                o.on_fill(Fill(f"E{n}", o.cl_ord_id, "AMZN", Side.BUY, amount, 10_000, n))
            elif name == "cancel_req":
                o.request_cancel()
            elif name == "canceled":
                o.on_canceled()
            elif name == "cancel_reject":
                o.on_cancel_reject()
            elif name == "replace_req":
                o.request_replace(f"R{n}", 10_000 + amount, o.cum_qty + amount)
            elif name == "replaced":
                chain.append(o.on_replaced())
            elif name == "expired":
                o.on_expired()
        except (IllegalTransition, OverfillError, ValueError):
            assert (o.status, o.cum_qty, o.qty) == before, "a refused event must change nothing"
        cur = chain[-1]
        assert 0 <= cur.cum_qty <= cur.qty
        if cur.status.is_terminal:
            assert cur.leaves_qty == 0
        else:
            assert cur.cum_qty + cur.leaves_qty == cur.qty
        if cur.status is S.FILLED:
            assert cur.cum_qty == cur.qty
        if cur.status is S.PARTIALLY_FILLED:
            assert 0 < cur.cum_qty < cur.qty
        if cur.status is S.NEW:
            assert cur.cum_qty == 0
        # fills are carried across replaces: the chain never loses executed quantity
        assert cur.cum_qty >= max(o.cum_qty for o in chain)

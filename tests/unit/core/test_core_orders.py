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
    "status_new",
    "status_pending",
    "status_canceled",
    "unknown",
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
            elif name == "status_new":
                o.on_status(S.PARTIALLY_FILLED if o.cum_qty else S.NEW, o.cum_qty)
            elif name == "status_pending":
                o.on_status(S.PENDING_CANCEL, o.cum_qty)
            elif name == "status_canceled":
                o.on_status(S.CANCELED, o.cum_qty)
            elif name == "unknown":
                o.on_unknown()
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
        if cur.status.is_pending and name.startswith("status"):
            assert cur.status is before[0], "a status answer never moves a pending order"
        # fills are carried across replaces: the chain never loses executed quantity
        assert cur.cum_qty >= max(o.cum_qty for o in chain)


# ------------------------------------------------------------- status answers
def test_a_status_answer_asked_before_a_replace_does_not_undo_the_pending_replace() -> None:
    # Issue 13 item 1: asked while the order awaited its ack, answered "New" after the
    # replace went out. The answer predates the replace on the wire: it changes nothing.
    o = make()
    o.on_ack()
    o.request_replace("C2", 10_001, 100)
    o.on_status(S.NEW, 0)
    assert o.status is S.PENDING_REPLACE
    successor = o.on_replaced()
    assert (successor.cl_ord_id, successor.status) == ("C2", S.NEW)


def test_a_status_answer_does_not_undo_a_pending_cancel() -> None:
    o = make()
    o.on_ack()
    o.on_fill(fill("E1", 30))
    o.request_cancel(request_id="K1")
    o.on_status(S.PARTIALLY_FILLED, 30)
    assert o.status is S.PENDING_CANCEL and o.pending_id == "K1"
    o.on_canceled()
    assert o.status is S.CANCELED


def test_a_status_answer_settles_the_ack_of_a_new_order() -> None:
    o = make()
    o.on_status(S.NEW, 0)
    assert o.status is S.NEW


def test_a_status_answer_reporting_the_end_of_an_order_is_adopted() -> None:
    o = make()
    o.on_ack()
    o.request_replace("C2", 10_001, 100)
    o.on_status(S.CANCELED, 0)
    assert o.status is S.CANCELED and o.pending_replace is None
    assert o.pending_id == ""


def test_a_status_answer_saying_a_replaced_order_is_gone_changes_nothing() -> None:
    o = make()
    o.on_ack()
    o.request_replace("C2", 10_001, 100)
    o.on_replaced()
    o.on_status(S.REJECTED, 0)  # the venue no longer knows the old ClOrdID
    assert o.status is S.REPLACED


def test_a_status_answer_saying_an_ended_order_works_is_refused() -> None:
    o = make()
    o.on_ack()
    o.on_canceled()
    with pytest.raises(IllegalTransition, match="status NEW"):
        o.on_status(S.NEW, 0)
    assert o.status is S.CANCELED


def test_an_order_the_venue_forgot_keeps_its_fills_and_leaves_nothing() -> None:
    # Issue 13 item 3, daemon side: "unknown" for an order with fills
    o = make()
    o.on_ack()
    o.on_fill(fill("E1", 14))
    o.request_cancel(request_id="K1")
    o.on_unknown()
    assert o.status is S.CANCELED
    assert (o.cum_qty, o.leaves_qty, o.pending_id) == (14, 0, "")


def test_an_order_that_never_reached_the_venue_is_rejected_when_unknown() -> None:
    o = make()
    o.on_unknown()
    assert o.status is S.REJECTED and o.leaves_qty == 0


def test_an_acknowledged_order_the_venue_forgot_is_cancelled_not_rejected() -> None:
    o = make()
    o.on_ack()
    o.on_unknown()
    assert o.status is S.CANCELED


@pytest.mark.parametrize(
    ("setup", "expected"),
    [("pending_new", "C1"), ("cancel", "K1"), ("replace", "C2"), ("new", "")],
)
def test_pending_id_names_the_request_awaiting_the_venue(setup: str, expected: str) -> None:
    o = make()
    if setup != "pending_new":
        o.on_ack()
    if setup == "cancel":
        o.request_cancel(request_id="K1")
    elif setup == "replace":
        o.request_replace("C2", 10_001, 100)
    assert o.pending_id == expected

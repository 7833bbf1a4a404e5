"""Order tracker: venue reports mapped onto the state machine, ExecIDs applied once."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from core.events import CancelReject, ExecReport
from core.order_tracker import OrderTracker, UnknownOrder, venue_does_not_know
from core.orders import ChildOrder
from core.types import ExecType, OrdStatus, Side


def report(cl: str, et: ExecType, st: OrdStatus, cum: int, leaves: int, **kw: object) -> ExecReport:
    base: dict[str, object] = {
        "cl_ord_id": cl,
        "exec_id": f"X-{cl}-{et.name}-{cum}",
        "exec_type": et,
        "ord_status": st,
        "symbol": "AMZN",
        "side": Side.BUY,
        "order_qty": cum + leaves,
        "cum_qty": cum,
        "leaves_qty": leaves,
        "ts_ns": 1,
    }
    base.update(kw)
    return ExecReport(**base)  # type: ignore[arg-type]


def tracker_with_order() -> OrderTracker:
    t = OrderTracker()
    t.add(ChildOrder("C1", "AMZN", Side.BUY, 100, 10_000, parent_id="P1"))
    return t


def test_ack_fill_cancel_life_cycle() -> None:
    t = tracker_with_order()
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    up = t.on_exec_report(
        report(
            "C1", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 40, 60, last_qty=40, last_px=10_000
        )
    )
    assert up.fill is not None and up.fill.qty == 40
    assert not up.cum_mismatch
    dup = t.on_exec_report(
        report(
            "C1", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 40, 60, last_qty=40, last_px=10_000
        )
    )
    assert dup.duplicate and dup.fill is None
    t.request_cancel("C1", "K1")
    t.on_exec_report(
        report("K1", ExecType.CANCELED, OrdStatus.CANCELED, 40, 0, orig_cl_ord_id="C1")
    )
    assert t.get("C1").status is OrdStatus.CANCELED
    assert list(t.live()) == []


def test_replace_moves_the_chain_to_the_new_clordid() -> None:
    t = tracker_with_order()
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    t.request_replace("C1", "C2", 10_001, 80)
    up = t.on_exec_report(
        report("C2", ExecType.REPLACED, OrdStatus.NEW, 0, 80, orig_cl_ord_id="C1")
    )
    assert up.order.cl_ord_id == "C2" and up.replaced is not None
    assert [o.cl_ord_id for o in t.live("P1")] == ["C2"]
    t.on_exec_report(
        report(
            "C2",
            ExecType.TRADE,
            OrdStatus.FILLED,
            80,
            0,
            last_qty=80,
            last_px=10_001,
            orig_cl_ord_id="C1",
        )
    )
    assert t.get("C2").status is OrdStatus.FILLED


def test_cancel_reject_restores_order() -> None:
    t = tracker_with_order()
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    t.request_cancel("C1", "K1")
    t.on_cancel_reject(CancelReject("K1", "C1", False, "too late", 2))
    assert t.get("C1").status is OrdStatus.NEW


def test_missing_fill_is_flagged_by_cum_mismatch() -> None:
    t = tracker_with_order()
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    up = t.on_exec_report(
        report("C1", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 50, 50, last_qty=20, last_px=1)
    )
    assert up.cum_mismatch


def test_unknown_clordid_is_a_clear_error() -> None:
    t = tracker_with_order()
    with pytest.raises(UnknownOrder, match="ZZZ"):
        t.on_exec_report(report("ZZZ", ExecType.NEW, OrdStatus.NEW, 0, 1))


def test_clordid_reuse_is_refused() -> None:
    t = tracker_with_order()
    with pytest.raises(ValueError, match="already used"):
        t.add(ChildOrder("C1", "AMZN", Side.BUY, 1, 1))
    with pytest.raises(ValueError, match="already used"):
        t.request_cancel("C1", "C1")


def test_recovered_exec_ids_are_not_applied_again() -> None:
    t = tracker_with_order()
    t.remember_exec_ids({"E1"})
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    up = t.on_exec_report(
        report(
            "C1",
            ExecType.TRADE,
            OrdStatus.PARTIALLY_FILLED,
            10,
            90,
            exec_id="E1",
            last_qty=10,
            last_px=1,
        )
    )
    assert up.duplicate
    assert t.get("C1").cum_qty == 0


def test_a_fill_reported_under_a_replaced_clordid_lands_on_the_chain() -> None:
    t = tracker_with_order()
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    t.request_replace("C1", "C2", 10_001, 80)
    t.on_exec_report(report("C2", ExecType.REPLACED, OrdStatus.NEW, 0, 80, orig_cl_ord_id="C1"))
    up = t.on_exec_report(
        report(
            "C1", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 30, 50, last_qty=30, last_px=10_001
        )
    )
    assert up.fill is not None and up.order.cl_ord_id == "C2"
    assert t.get("C2").cum_qty == 30 and not up.cum_mismatch
    assert t.current("C1") is t.get("C2")


def test_the_new_clordid_of_a_replace_in_flight_names_the_order_it_replaces() -> None:
    t = tracker_with_order()
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    t.request_replace("C1", "C2", 10_001, 80)
    assert t.get("C2") is t.get("C1") and t.current("C2").cl_ord_id == "C1"


def test_a_status_answer_from_before_a_replace_leaves_the_replace_pending() -> None:
    t = tracker_with_order()  # asked while the order awaited its ack; answered now
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    t.request_replace("C1", "C2", 10_001, 80)
    up = t.on_exec_report(report("C1", ExecType.ORDER_STATUS, OrdStatus.NEW, 0, 100))
    assert up.order.status is OrdStatus.PENDING_REPLACE and not up.cum_mismatch
    up = t.on_exec_report(
        report("C2", ExecType.REPLACED, OrdStatus.NEW, 0, 80, orig_cl_ord_id="C1")
    )
    assert up.order.cl_ord_id == "C2" and up.order.status is OrdStatus.NEW


def test_an_order_the_venue_does_not_know_keeps_its_fills_and_ends() -> None:
    t = tracker_with_order()
    t.on_exec_report(report("C1", ExecType.NEW, OrdStatus.NEW, 0, 100))
    t.on_exec_report(
        report(
            "C1", ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 14, 86, last_qty=14, last_px=10_000
        )
    )
    unknown = report("C1", ExecType.ORDER_STATUS, OrdStatus.REJECTED, 0, 0, text="unknown order")
    assert venue_does_not_know(unknown)
    up = t.on_exec_report(unknown)
    assert not up.cum_mismatch
    order = t.get("C1")
    assert (order.status, order.cum_qty, order.leaves_qty) == (OrdStatus.CANCELED, 14, 0)
    assert list(t.live()) == []


def test_a_long_day_keeps_every_working_order_and_only_the_newest_finished_ones() -> None:
    """The daemon's tracker lives all day: finished orders beyond ``keep_terminal`` are
    forgotten (oldest first) so memory stays flat (the one-hour soak grew ~700 bytes an
    order before), working ones never are, and ExecIDs are remembered all day."""
    t = OrderTracker(keep_terminal=100)
    working = ChildOrder("W1", "AMZN", Side.BUY, 100, 10_000, parent_id="P1")
    t.add(working)
    for i in range(1_000):
        cl = f"C{i}"
        t.add(ChildOrder(cl, "AMZN", Side.BUY, 10, 10_000, parent_id="P1"))
        t.on_exec_report(report(cl, ExecType.NEW, OrdStatus.NEW, 0, 10))
        t.on_exec_report(
            report(cl, ExecType.TRADE, OrdStatus.FILLED, 10, 0, last_qty=10, last_px=10_000)
        )
    assert len(t) <= 2 * 100 + 1
    assert t.get("W1") is working and list(t.live()) == [working]
    assert t.get("C999").status is OrdStatus.FILLED  # the newest finished are kept
    with pytest.raises(UnknownOrder):
        t.get("C0")
    assert t.seen_exec_id("X-C0-TRADE-10")
    t.add(ChildOrder("C1000", "AMZN", Side.BUY, 10, 10_000, parent_id="P1"))
    with pytest.raises(ValueError, match="already used"):
        t.add(ChildOrder("C999", "AMZN", Side.BUY, 10, 10_000, parent_id="P1"))


def _finished_orders(t: OrderTracker, start: int, n: int) -> None:
    for i in range(start, start + n):
        cl = f"N1-{i:09d}"
        t.add(ChildOrder(cl, "AMZN", Side.BUY, 100, 10_000, parent_id=f"P{i // 50}"))
        t.on_exec_report(report(cl, ExecType.NEW, OrdStatus.NEW, 0, 100))
        fill = report(
            cl, ExecType.TRADE, OrdStatus.PARTIALLY_FILLED, 40, 60, last_qty=40, last_px=10_000
        )
        t.on_exec_report(fill)
        t.request_cancel(cl, f"K{i}")
        t.on_exec_report(
            report(f"K{i}", ExecType.CANCELED, OrdStatus.CANCELED, 40, 0, orig_cl_ord_id=cl)
        )


def test_a_day_of_finished_orders_costs_the_tracker_a_few_bytes_each() -> None:
    """Finished orders are pruned; every ExecID is still remembered (a PossDup
    resend from the morning is a duplicate), compactly: ~80 bytes an order (3 ExecIDs); as a set of strings, ~330."""
    t = OrderTracker(keep_terminal=1_000)
    _finished_orders(t, 0, 5_000)
    n = 40_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _finished_orders(t, 5_000, n)
        gc.collect()
        per_order = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_order < 150, f"{per_order:.0f} bytes an order"
    assert t.seen_exec_id(f"X-N1-{0:09d}-TRADE-40")

"""The overlay lives all day: what it keeps per order must stay small (issue 21's soak)."""

from __future__ import annotations

import gc
import tracemalloc

from risk_harness import Harness, approved

from core.types import ExecType, OrdStatus, Side


def _orders(h: Harness, n: int) -> None:
    """Each: a new order, its ack, a partial fill, a cancel and its answer (5 ids)."""
    for i in range(n):
        h.advance(1.0)
        h.refresh()
        h.trade("AMZN", 1_000)
        side = Side.BUY if i % 2 else Side.SELL
        a = approved(h.new(qty=100, price=9_999 if side is Side.BUY else 10_001, side=side))
        cid = a.request.cl_ord_id
        h.report(cid, ExecType.NEW, OrdStatus.NEW, side=side)
        h.fill(a, 40, 10_000)
        c = approved(h.cancel(cid, side=side))
        h.report(c.request.cl_ord_id, ExecType.CANCELED, OrdStatus.CANCELED, orig=cid, side=side)


def test_a_day_of_finished_orders_costs_the_overlay_a_few_hundred_bytes_each(
    h: Harness,
) -> None:
    """Every ClOrdID and ExecID of the day is remembered (duplicates are refused all day),
    compactly: 30,000 orders cost ~200 bytes each; as sets of strings they cost ~700."""
    _orders(h, 5_000)  # warm-up: the market-volume window and the books fill up
    n = 30_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _orders(h, n)
        gc.collect()
        per_order = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_order < 350, f"{per_order:.0f} bytes an order"
    assert h.ov.open_orders() == ()

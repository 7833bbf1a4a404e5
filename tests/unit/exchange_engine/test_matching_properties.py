"""Random order sequences: the book stays sound, core's order tracker accepts every
report, and market data rebuilds the book exactly."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.book import L2Book
from core.events import BookDelta, CancelReject, ExecReport, TradePrint
from core.instruments import Instrument
from core.order_tracker import OrderTracker
from core.orders import ChildOrder
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import OrdType, Side, TimeInForce
from exchange.engine import CollectingMarketData, EngineConfig, MatchingEngine, STPMode

SYM = "AMZN"
SESSIONS = ("a", "b", "c")

new_op = st.tuples(
    st.just("new"),
    st.sampled_from(SESSIONS),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 60),
    st.integers(-4, 4),
    st.sampled_from([TimeInForce.DAY, TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK]),
    st.booleans(),
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 1000))
replace_op = st.tuples(
    st.just("replace"), st.integers(0, 1000), st.integers(1, 80), st.integers(-4, 4)
)
bg_op = st.tuples(
    st.just("bg"), st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 60), st.integers(-4, 4)
)
ops = st.lists(st.one_of(new_op, new_op, cancel_op, replace_op, bg_op), min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, stp=st.sampled_from(list(STPMode)))
def test_random_sequences_keep_book_reports_and_market_data_consistent(
    ops: list[tuple[object, ...]], stp: STPMode
) -> None:
    trackers = {s: OrderTracker() for s in SESSIONS}

    def on_report(session: str, report: ExecReport | CancelReject) -> None:
        if isinstance(report, CancelReject):
            trackers[session].on_cancel_reject(report)
        else:
            trackers[session].on_exec_report(report)

    md = CollectingMarketData()
    engine = MatchingEngine([Instrument(SYM)], on_report, md, EngineConfig(stp=stp))
    book = engine.book(SYM)
    mirror = L2Book(SYM)
    snap = engine.snapshot(SYM)
    last_seq = snap.seq
    bg_key = 0
    sent: list[tuple[str, str]] = []
    for n, op in enumerate(ops, start=1):
        t = n
        if op[0] == "new":
            _, session, side, qty, off, tif, market = op
            assert isinstance(session, str) and isinstance(side, Side)
            assert isinstance(qty, int) and isinstance(off, int) and isinstance(tif, TimeInForce)
            clid = f"{session}{n}"
            price = None if market else 500 + off
            ord_type = OrdType.MARKET if market else OrdType.LIMIT
            trackers[session].add(
                ChildOrder(clid, SYM, side, qty, price, ord_type=ord_type, tif=tif)
            )
            engine.new_order(
                NewOrderRequest(clid, SYM, side, qty, price, ord_type=ord_type, tif=tif),
                session,
                t,
            )
            sent.append((session, clid))
        elif op[0] == "cancel" and sent:
            idx = op[1]
            assert isinstance(idx, int)
            session, clid = sent[idx % len(sent)]
            tr = trackers[session]
            order = tr.get(clid)
            if order.is_live and not order.status.is_pending:
                tr.request_cancel(order.cl_ord_id, f"x{n}", t)
                engine.cancel(
                    CancelRequest(f"x{n}", order.cl_ord_id, SYM, order.side, order.qty),
                    session,
                    t,
                )
        elif op[0] == "replace" and sent:
            _, idx, qty, off = op
            assert isinstance(idx, int) and isinstance(qty, int) and isinstance(off, int)
            session, clid = sent[idx % len(sent)]
            tr = trackers[session]
            order = tr.get(clid)
            if (
                order.is_live
                and not order.status.is_pending
                and qty > order.cum_qty
                and order.ord_type is OrdType.LIMIT
            ):
                tr.request_replace(order.cl_ord_id, f"r{n}", 500 + off, qty, t)
                engine.replace(
                    ReplaceRequest(
                        f"r{n}", order.cl_ord_id, SYM, order.side, qty, 500 + off, tif=order.tif
                    ),
                    session,
                    t,
                )
                sent.append((session, f"r{n}"))
        elif op[0] == "bg":
            _, side, qty, off = op
            assert isinstance(side, Side) and isinstance(qty, int) and isinstance(off, int)
            bg_key += 1
            engine.background_order(SYM, side, 500 + off, qty, key=bg_key, ts_ns=t)
        assert book.problems() == []
        for ev in md.drain():
            assert ev.seq == last_seq + 1
            last_seq = ev.seq
            if isinstance(ev, BookDelta):
                mirror.apply_batch(ev.changes, ev.ts_ns)
            else:
                assert isinstance(ev, TradePrint) and ev.qty > 0
        assert mirror.snapshot() == book.l2.snapshot()
    # The engine and every session's own records agree on what is live and filled.
    for session, tr in trackers.items():
        live = {o.cl_ord_id: o for o in tr.live()}
        engine_live = {o.cl_ord_id: o for o in engine.open_orders(session)}
        assert live.keys() == engine_live.keys()
        for clid, o in live.items():
            assert o.cum_qty == engine_live[clid].cum_qty
            assert o.leaves_qty == engine_live[clid].leaves_qty

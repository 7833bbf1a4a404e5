"""Recovery: rebuild the node from its journal, then reconcile with the venue.

Step 1 (offline, before any connection): replay the journal through the same order
tracker and parent code that built it, so the rebuilt state is the state the crashed
process had at its last durable record: parents with their fills, child orders and
their pending requests, ExecIDs already applied. Risk adopts the open orders and the
position the journal proves.

Step 2 (after FIX logon, before anything new is sent): ask the venue about every
child order that is still live in our books. Fills we missed while down arrive through
the FIX session's own resend (ExecID de-duplication applies each once); the status
answers settle orders whose request was journalled but whose answer never came (an
order journalled just before a crash may never have left: the venue says "unknown"
and it is closed as rejected). Until every order is settled the node does not trade.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from core.events import CancelReject, ExecReport
from core.log import get_logger
from core.order_tracker import UnknownOrder
from core.orders import ChildOrder
from core.parent import ParentOrder, ParentState
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from daemon.journal import Journal
from policies.executor import ExecutionEngine

log = get_logger("rlexec.recovery")


@dataclass(slots=True)
class RecoveryReport:
    records: int = 0
    parents: int = 0
    open_parents: int = 0
    live_children: int = 0
    fills: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def replay_journal(journal: Journal, engine: ExecutionEngine, now_ns: int) -> RecoveryReport:
    """Rebuild ``engine`` (fresh, empty) from ``journal`` without journalling anything."""
    rep = RecoveryReport()
    tracker = engine.tracker
    fills_by_symbol: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for rec in journal.records():
        rep.records += 1
        p = rec.payload
        try:
            if rec.kind == "parent" and isinstance(p, ParentOrder):
                engine.parents[p.parent_id] = p
            elif rec.kind == "parent_state" and isinstance(p, dict):
                parent = engine.parents.get(str(p.get("parent_id")))
                if parent is None:
                    rep.problems.append(f"record {rec.seq}: state for unknown parent {p}")
                    continue
                arrival = p.get("arrival_mid")
                if isinstance(arrival, (int, float)) and arrival > 0:
                    parent.arrival_mid = float(arrival)
                parent.transition(ParentState(str(p["state"])), str(p.get("reason", "")))
            elif rec.kind == "new" and isinstance(p, NewOrderRequest):
                tracker.add(
                    ChildOrder(
                        p.cl_ord_id,
                        p.symbol,
                        p.side,
                        p.qty,
                        p.price,
                        ord_type=p.ord_type,
                        tif=p.tif,
                        parent_id=p.parent_id,
                        created_ns=p.ts_ns,
                    )
                )
            elif rec.kind == "cancel" and isinstance(p, CancelRequest):
                order = tracker.get(p.orig_cl_ord_id)
                if order.status.is_terminal or order.status.is_pending:
                    continue  # the cancel raced a fill / another request; nothing to replay
                tracker.request_cancel(p.orig_cl_ord_id, p.cl_ord_id, p.ts_ns)
            elif rec.kind == "replace" and isinstance(p, ReplaceRequest):
                tracker.request_replace(p.orig_cl_ord_id, p.cl_ord_id, p.price, p.qty, p.ts_ns)
            elif rec.kind == "report" and isinstance(p, ExecReport):
                update = tracker.on_exec_report(p)
                if update.fill is not None:
                    rep.fills += 1
                    fills_by_symbol[p.symbol].append((p.side.sign * p.last_qty, p.last_px))
                    parent = engine.parents.get(update.order.parent_id)
                    if parent is not None:
                        parent.apply_fill(update.fill)
            elif rec.kind == "cancel_reject" and isinstance(p, CancelReject):
                tracker.on_cancel_reject(p)
        except (UnknownOrder, ValueError) as exc:
            # a record our own code wrote and cannot re-apply: say so, keep going, and
            # let the reconciliation step (or the operator) settle it
            rep.problems.append(f"record {rec.seq} ({rec.kind}): {exc}")
    rep.parents = len(engine.parents)
    rep.open_parents = sum(1 for p in engine.parents.values() if not p.state.is_terminal)
    for symbol, fills in fills_by_symbol.items():
        qty = sum(q for q, _ in fills)
        rep.positions[symbol] = qty
        if qty:
            gross = sum(abs(q) for q, _ in fills)
            avg = round(sum(abs(q) * px for q, px in fills) / gross)
            engine.risk.adopt_position(symbol, qty, avg, now_ns)
    for order in tracker.live():
        rep.live_children += 1
        engine.risk.adopt_open_order(
            order.cl_ord_id,
            order.symbol,
            order.side,
            order.qty,
            order.price,
            ord_type=order.ord_type,
            cum_qty=order.cum_qty,
        )
    log.info(
        "journal_replayed",
        records=rep.records,
        parents=rep.parents,
        open_parents=rep.open_parents,
        live_children=rep.live_children,
        fills=rep.fills,
        positions=rep.positions,
        problems=len(rep.problems),
    )
    for problem in rep.problems:
        log.error("journal_replay_problem", problem=problem)
    return rep

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

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from core.events import CancelReject, ExecReport
from core.log import get_logger
from core.order_tracker import UnknownOrder
from core.orders import ChildOrder
from core.parent import ParentOrder, ParentState
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType
from daemon.algos import AlgoChoice
from daemon.journal import Journal, JournalRecord
from daemon.records import Undecodable
from execution.executor import ExecutionEngine

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
    # (ts_ns, qty) of our fills per symbol: the participation window's side of us
    our_prints: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # what each parent was given to run (daemon/algos.py): absent, a journal from before
    # choices were journalled, whose parents ran the policy; None, a record that does not
    # read (named in problems), so the parent is not resumed with a guessed algo
    algos: dict[str, AlgoChoice | None] = field(default_factory=dict)


def replay_journal(journal: Journal, engine: ExecutionEngine, now_ns: int) -> RecoveryReport:
    """Rebuild ``engine`` (fresh, empty) from ``journal`` without journalling anything.

    Never raises for a record: one that does not decode or cannot be re-applied is named
    in ``problems`` (the node halts with ``recovery``) and replay goes on with the next,
    so every order the journal knows can still be settled with the venue and cancelled.
    """
    rep = RecoveryReport()
    # every venue fill in the journal, once per ExecID, whether or not its order could
    # be rebuilt: risk's position is what the venue executed, as it is live
    fills: dict[str, ExecReport] = {}
    for rec in journal.records(lenient=True):
        rep.records += 1
        p = rec.payload
        if isinstance(p, ExecReport) and p.exec_type is ExecType.TRADE:
            fills.setdefault(p.exec_id, p)
        try:
            if rec.kind == "parent_algo":
                parent_id = _parent_id(p)
                rep.algos[parent_id] = None
                rep.algos[parent_id] = AlgoChoice.from_json(p)
                continue
            _apply(rec, engine)
        except Exception as exc:
            # a record our own code wrote and cannot re-apply: say so, keep going, and
            # let the reconciliation step (or the operator) settle it
            rep.problems.append(f"record {rec.seq} ({rec.kind}): {type(exc).__name__}: {exc}")
    rep.parents = len(engine.parents)
    rep.open_parents = sum(1 for p in engine.parents.values() if not p.state.is_terminal)
    rep.fills = len(fills)
    by_symbol: dict[str, list[ExecReport]] = defaultdict(list)
    for f in fills.values():
        by_symbol[f.symbol].append(f)
        rep.our_prints.setdefault(f.symbol, []).append((f.ts_ns, f.last_qty))
    for symbol, done in by_symbol.items():
        qty = sum(f.side.sign * f.last_qty for f in done)
        rep.positions[symbol] = qty
        if qty:
            gross = sum(f.last_qty for f in done)
            avg = round(sum(f.last_qty * f.last_px for f in done) / gross)
            _adopt(rep, f"position {symbol}", engine.risk.adopt_position, symbol, qty, avg, now_ns)
    for order in engine.tracker.live():
        rep.live_children += 1
        _adopt(
            rep,
            f"open order {order.cl_ord_id}",
            functools.partial(
                engine.risk.adopt_open_order, ord_type=order.ord_type, cum_qty=order.cum_qty
            ),
            order.cl_ord_id,
            order.symbol,
            order.side,
            order.qty,
            order.price,
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


def _parent_id(payload: object) -> str:
    if not isinstance(payload, dict) or not isinstance(payload.get("parent_id"), str):
        raise ValueError(f"not a parent's record: {payload!r:.120}")
    return str(payload["parent_id"])


def _adopt(rep: RecoveryReport, what: str, adopt: Callable[..., None], *args: object) -> None:
    """Hand risk what the journal proves; a refusal is a problem named, not a crash."""
    try:
        adopt(*args)
    except Exception as exc:
        rep.problems.append(f"risk could not adopt {what}: {type(exc).__name__}: {exc}")


def _apply(rec: JournalRecord, engine: ExecutionEngine) -> None:
    tracker = engine.tracker
    p = rec.payload
    if isinstance(p, Undecodable):
        raise ValueError(f"does not decode: {p.error}")
    if rec.kind == "parent" and isinstance(p, ParentOrder):
        engine.parents[p.parent_id] = p
    elif rec.kind == "parent_state" and isinstance(p, dict):
        parent = engine.parents.get(str(p.get("parent_id")))
        if parent is None:
            raise ValueError(f"state for unknown parent {p}")
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
            return  # the cancel raced a fill / another request; nothing to replay
        tracker.request_cancel(p.orig_cl_ord_id, p.cl_ord_id, p.ts_ns)
    elif rec.kind == "replace" and isinstance(p, ReplaceRequest):
        tracker.request_replace(p.orig_cl_ord_id, p.cl_ord_id, p.price, p.qty, p.ts_ns)
    elif rec.kind == "report" and isinstance(p, ExecReport):
        try:
            update = tracker.on_exec_report(p)
        except UnknownOrder:
            if p.exec_type is ExecType.TRADE:
                raise  # live, a fill for no order of ours engaged the kill switch
            # as live (ExecutionEngine.on_exec_report): a report naming no order of ours,
            # e.g. a second "unknown order" status answer for a replace already settled
            # as never at the venue, is information and changes nothing
            return
        if update.fill is not None:
            parent = engine.parents.get(update.order.parent_id)
            if parent is not None:
                parent.apply_fill(update.fill)
    elif rec.kind == "cancel_reject" and isinstance(p, CancelReject):
        tracker.on_cancel_reject(p)

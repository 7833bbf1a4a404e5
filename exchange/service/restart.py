"""Bringing a restarted venue back to where it stopped, as a real venue does.

At start the exchange reads what it owed its clients (:mod:`exchange.service.venue_state`,
from the audit log) and where its market had got to (:mod:`exchange.service.checkpoint`),
then :func:`plan_restart` decides between

- **resume** (the same market, not yet over): each replay restarts at the event time
  it had reached (the checkpoint's, or the last report's if later), seeded from the
  LOBSTER orderbook row at that time; resting orders go back into the book with their
  ClOrdID, OrderID, quantities and fills. **Queue position**: the size that was queued
  ahead of an order at the last checkpoint is put ahead of it again, as anonymous
  (phantom) size, capped at what the level now holds; the rest of the level queues
  behind it, exactly as the replay itself treats a level it could not watch. An order
  without a checkpointed position (placed after the last checkpoint) joins the back of
  its level. The recorded book does not know what our own trades took, so it may show
  size at or through a restored order's price; at the crash the order rested, so
  nothing crossed it: that opposite size is dropped (counted), not traded a second
  time. With ``[restart] resting_orders = "cancel"`` the orders are cancelled instead;
- **new session** (first start, the previous session's market had ended, or the market
  configuration changed): the market starts from the configured window and every
  order still resting from before is cancelled.

Every cancel is an unsolicited ExecutionReport (ExecType=4, Text saying why), written to
the audit log and queued for the session's next logon. Every ClOrdID used before stays
known: a reuse is refused as a duplicate, a cancel of a finished order is "too late".
The impact model's state is not restored: the replayed market restarts at its recorded
prices.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core.events import ExecReport
from core.log import get_logger
from core.types import ExecType, OrdStatus
from exchange.engine import MatchingEngine
from exchange.engine.book import PHANTOM_BACK, PHANTOM_FRONT, OrderBook
from exchange.engine.orders import OwnedOrder
from exchange.service.checkpoint import Checkpoint, queue_key
from exchange.service.venue_state import RecoveredOrder, RecoveredVenue
from exchange.service.venues import ReportSink, SimulatedVenue

log = get_logger("exchange.restart")


@dataclass(frozen=True, slots=True)
class RestartPlan:
    resume: bool  # False: a new session from the configured window
    reason: str
    resume_ns: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RestartSummary:
    plan: RestartPlan
    kept: list[str] = field(default_factory=list)  # ClOrdIDs resting again
    cancelled: list[str] = field(default_factory=list)  # ClOrdIDs cancelled, reported
    dropped_crossing_qty: int = 0  # recorded size through a kept order (see module doc)
    known_ids: int = 0

    def as_log(self) -> dict[str, object]:
        return {
            "resume": self.plan.resume,
            "reason": self.plan.reason,
            "resume_ns": self.plan.resume_ns,
            "kept": len(self.kept),
            "cancelled": len(self.cancelled),
            "dropped_crossing_qty": self.dropped_crossing_qty,
            "known_cl_ord_ids": self.known_ids,
        }


def plan_restart(
    recovered: RecoveredVenue,
    checkpoint: Checkpoint | None,
    fingerprint: str,
    windows: Mapping[str, tuple[int, int]],
) -> RestartPlan:
    """Resume or start a new session (see module doc); ``windows``: symbol -> (start, end)."""
    if recovered.empty and checkpoint is None:
        return RestartPlan(False, "first start")
    if checkpoint is not None and checkpoint.source != fingerprint:
        return RestartPlan(False, "the market configuration changed since the last run")
    if checkpoint is not None and checkpoint.finished:
        return RestartPlan(False, "the previous session's market had ended")
    saved = checkpoint.event_ns if checkpoint is not None else {}
    resume: dict[str, int] = {}
    for symbol, (start, _end) in windows.items():
        t = max(saved.get(symbol, 0), recovered.last_event_ns.get(symbol, 0))
        if t > start:
            resume[symbol] = t
    if windows and all(resume.get(s, start) >= end for s, (start, end) in windows.items()):
        return RestartPlan(False, "the previous session's market had ended")
    if checkpoint is None and not resume:
        return RestartPlan(False, "the audit log is from another market window")
    return RestartPlan(True, "restart", {s: min(t, windows[s][1]) for s, t in resume.items()})


class _Restorer:
    """Shared by both kinds of venue: ClOrdIDs, OrderID keys, unsolicited cancels."""

    def __init__(self, recovered: RecoveredVenue, sink: ReportSink, run_id: str) -> None:
        self.recovered = recovered
        self.sink = sink
        self._exec_ids = (f"{run_id}-RS{n}" for n in itertools.count(1))

    def remember_ids(self, engines: Iterable[MatchingEngine]) -> int:
        engines = list(engines)
        for (session, cl), (status, rec) in self.recovered.done.items():
            o = rec.owned(rec.key or 0) if rec is not None else None
            for engine in engines:
                engine.remember(session, cl, status, o)
        for symbol, key in self.recovered.lowest_key.items():
            for engine in engines:
                if symbol in engine.books:
                    engine.reserve_keys(key)
        return len(self.recovered.done)

    def cancel(
        self, rec: RecoveredOrder, engines: Iterable[MatchingEngine], ts_ns: int, why: str
    ) -> None:
        """Report ``rec`` cancelled (it never re-enters a book) and remember its ClOrdID."""
        self.sink(
            rec.session,
            ExecReport(
                cl_ord_id=rec.cl_ord_id,
                exec_id=next(self._exec_ids),
                exec_type=ExecType.CANCELED,
                ord_status=OrdStatus.CANCELED,
                symbol=rec.symbol,
                side=rec.side,
                order_qty=rec.order_qty,
                cum_qty=rec.cum_qty,
                leaves_qty=0,
                ts_ns=ts_ns,
                price=rec.price,
                avg_px=rec.notional / rec.cum_qty if rec.cum_qty else 0.0,
                venue_order_id=rec.venue_order_id,
                text=why,
            ),
        )
        rec.status = OrdStatus.CANCELED
        o = rec.owned(rec.key or 0)
        for engine in engines:
            engine.remember(rec.session, rec.cl_ord_id, OrdStatus.CANCELED, o)


def restore_simulated(
    venue: SimulatedVenue,
    recovered: RecoveredVenue,
    plan: RestartPlan,
    checkpoint: Checkpoint | None,
    *,
    keep: bool,
    run_id: str,
) -> RestartSummary:
    """Apply ``plan`` to a freshly built simulated venue (before it publishes)."""
    summary = RestartSummary(plan)
    for symbol, sim in venue.sims.items():
        t = plan.resume_ns.get(symbol)
        if plan.resume and t is not None and t > sim.now_ns:
            sim.reset(t, sim.end_ns)  # type: ignore[attr-defined]
    restorer = _Restorer(recovered, venue.on_report, run_id)
    engines = list(venue.engines())
    summary.known_ids = restorer.remember_ids(engines)
    queue_ahead = checkpoint.queue_ahead if checkpoint is not None else {}
    keep_them = keep and plan.resume
    why = (
        "venue restarted: resting orders cancelled"
        if plan.resume
        else f"new trading session ({plan.reason}): resting orders cancelled"
    )
    spare_keys: dict[str, int] = {}
    for rec in sorted(recovered.live, key=lambda r: r.created_ns):
        listed = venue.sims.get(rec.symbol)
        if listed is None or not keep_them or rec.price is None:
            reason = (
                why if listed is not None else f"venue restarted: {rec.symbol} is not traded here"
            )
            restorer.cancel(rec, engines, venue.now_ns, reason)
            summary.cancelled.append(rec.cl_ord_id)
            continue
        sim = listed
        key = rec.key
        if key is None:  # an OrderID of another form: a fresh key, the OrderID kept
            key = spare_keys[rec.symbol] = (
                spare_keys.get(rec.symbol, recovered.lowest_key.get(rec.symbol, 0)) - 1
            )
        o = rec.owned(key)
        ahead = queue_ahead.get(queue_key(rec.session, rec.venue_order_id))
        summary.dropped_crossing_qty += _uncross(sim.order_book, o)
        _queue(sim.order_book, o, ahead)
        sim.engine.adopt(o)
        summary.kept.append(rec.cl_ord_id)
    log.info("venue_restart", **summary.as_log())
    return summary


def cancel_all_recovered(
    engines: Iterable[MatchingEngine],
    recovered: RecoveredVenue,
    sink: ReportSink,
    *,
    ts_ns: int,
    run_id: str,
    why: str,
) -> RestartSummary:
    """A venue that cannot put orders back (paper mode: its book is the upstream's,
    which moved on): remember every ClOrdID, cancel every resting order."""
    summary = RestartSummary(RestartPlan(False, why))
    restorer = _Restorer(recovered, sink, run_id)
    engines = list(engines)
    summary.known_ids = restorer.remember_ids(engines)
    for rec in recovered.live:
        restorer.cancel(rec, engines, ts_ns, f"venue restarted: {why}")
        summary.cancelled.append(rec.cl_ord_id)
    log.info("venue_restart", **summary.as_log())
    return summary


def _uncross(book: OrderBook, o: OwnedOrder) -> int:
    """Drop the crowd's size at or through ``o``'s price on the other side."""
    assert o.price is not None
    opp = -o.side
    dropped = 0
    for price in list(book.prices(opp)):
        if price > o.price if o.side > 0 else price < o.price:
            continue
        level = book.queues(opp)[price]
        dropped += sum(v for k, v in level.items() if k >= 0)
        book.replace_level(opp, price, {k: v for k, v in level.items() if k < 0})
    return dropped


def _queue(book: OrderBook, o: OwnedOrder, ahead: int | None) -> None:
    """Queue ``o``'s leaves at its price with ``ahead`` of the level's crowd in front
    of it (None: at the back), the way the replay splits a level it could not watch."""
    assert o.price is not None
    leaves = o.order_qty - o.cum_qty
    level = book.queue(o.side, o.price)
    if level is None or ahead is None:
        book.add(o.side, o.price, o.key, leaves)
        return
    crowd = sum(v for k, v in level.items() if k >= 0)
    owned = {k: v for k, v in level.items() if k < 0}
    front = min(max(ahead - sum(owned.values()), 0), crowd)
    new: dict[int, int] = {}
    if front:
        new[PHANTOM_FRONT] = front
    new.update(owned)
    new[o.key] = leaves
    if crowd - front:
        new[PHANTOM_BACK] = crowd - front
    book.replace_level(o.side, o.price, new)

"""Replays LOBSTER messages into the matching engine's order-by-order book.

Unperturbed, the replay reproduces the LOBSTER orderbook file exactly (a test checks
every row of the shipped files). Perturbed by agent orders it stays consistent with
price-time priority:

- type 1 (new limit order) rests under its LOBSTER id; if it now crosses our book
  (an agent order, or a market shifted by impact), it first trades like any incoming
  order;
- types 2/3 (cancel, delete) remove the order by id; an order that predates the
  window is part of its level's phantom size; a cancel for more than is left (the
  agent took some) is clamped, one for an order that is gone is dropped; both are
  counted;
- type 4 (visible execution) is an aggressor of that size and side that, in the data,
  hit that order. Here it first fills agent orders at better prices and agent orders
  queued ahead of it at its price, then the order itself; if the order is gone or
  short (the agent took it), the rest of the demand takes the next orders at that
  price (never walking further); what is left is dropped and counted;
- type 5 (hidden execution) prints a trade without touching the visible book, after
  first filling agent orders the aggressor would have preferred (better price, or
  same price with nothing queued ahead);
- type 7 halts and resumes trading; type 6 (cross) prints.

A level-``L`` file only carries events inside the top ``L`` levels. After the messages
where a level enters the window from beyond it (precomputed in
:mod:`exchange.replay.prepared`), that level's background size is set from the
orderbook file and levels that vanished outside the window are dropped; where an
agent order rests at such a level the change is split around it by the queue model.

The loop in :meth:`LobsterReplayer.run_to` is written out by hand: with no agent order
on the side a message touches it is a handful of dict operations per message, and the
window reconcile is inline too wherever no agent order rests at the levels it edits
(the environment spends a third of a step here). Every case it does not handle inline
goes to the same methods the general path (:meth:`_run_general`, used when market data
is published) uses for all messages; a test checks that both paths leave the same book.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, fields

from exchange.engine.book import PHANTOM_BACK, PHANTOM_FRONT
from exchange.engine.matching import MatchingEngine
from exchange.engine.orders import OwnedOrder
from exchange.replay.prepared import PreparedDay, WindowFix
from exchange.replay.queue_model import (
    PowerQueueModel,
    QueueModel,
    split_decrease,
    split_increase,
)
from gateways.marketdata.lobster import HALT_RESUME, HALT_TRADING


@dataclass(slots=True)
class ReplayStats:
    """What the replay did besides applying messages as written (all zero when no
    agent order or impact disturbed it, except the window counters)."""

    messages: int = 0
    window_levels: int = 0  # levels whose size was taken from the orderbook file
    stale_levels: int = 0  # levels dropped: they emptied while outside the window
    crossed_adds: int = 0  # replayed adds that traded on arrival
    crossed_qty: int = 0
    clamped: int = 0  # cancels/executions larger than what was left of their order
    missing: int = 0  # cancels/executions of orders no longer in the book
    displaced_qty: int = 0  # replayed execution volume that hit other orders than in the data
    dropped_qty: int = 0  # replayed execution volume that found nothing to hit
    halts: int = 0

    @property
    def adapted(self) -> int:
        """Replayed messages that had to be adapted to the agent's doings."""
        return self.crossed_adds + self.clamped + self.missing

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _count_at(owned: dict[int, OwnedOrder], price: int) -> int:
    """How many of one side's agent orders rest at ``price`` (usually none or one)."""
    n = 0
    for o in owned.values():
        if o.price == price:
            n += 1
    return n


def _price_time(o: OwnedOrder) -> tuple[int, int]:
    price = o.price or 0
    return (-price if o.side > 0 else price, -o.key)


class LobsterReplayer:
    __slots__ = ("book", "day", "engine", "now_ns", "offset", "pos", "queue_model", "stats")

    def __init__(
        self, day: PreparedDay, engine: MatchingEngine, queue_model: QueueModel | None = None
    ) -> None:
        self.day = day
        self.engine = engine
        self.book = engine.book(day.symbol)
        self.queue_model: QueueModel = queue_model or PowerQueueModel()
        self.offset = 0  # ticks the replayed market is shifted by (impact)
        self.pos = 1  # next message to apply
        self.now_ns = day.start_ns
        self.stats = ReplayStats()

    # ---------------------------------------------------------------- windows
    def seed(self, index: int) -> None:
        """Start at message ``index`` from orderbook row ``index - 1`` (row 0 for the
        day's start, whose message is already in that row)."""
        index = max(1, min(index, len(self.day)))
        bids, asks = self.day.book_row(index - 1)
        self.book.seed(bids, asks)
        self.pos = index
        self.offset = 0
        self.now_ns = self.day.rows[index - 1][0]
        self.stats = ReplayStats()

    @property
    def done(self) -> bool:
        return self.pos >= len(self.day)

    def next_ts(self) -> int | None:
        return self.day.rows[self.pos][0] if self.pos < len(self.day) else None

    def run_until(self, ts_ns: int) -> None:
        """Apply every message with a timestamp <= ``ts_ns``."""
        self.run_to(self.day.index_after(ts_ns))

    # ---------------------------------------------------------------- hot loop
    def run_to(self, end: int) -> None:
        """Apply messages ``pos .. end - 1``."""
        end = min(end, len(self.day))
        start = self.pos
        if end <= start:
            return
        if self.engine.publishes_market_data:
            self._run_general(end)
            return
        rows = self.day.rows
        book = self.book
        bid_q, ask_q = book.bid_q, book.ask_q
        l2 = book.l2
        bsz, asz = l2.bid_sizes, l2.ask_sizes
        bpx, apx = l2.bid_prices, l2.ask_prices
        owned_b, owned_a = book.owned_bids, book.owned_asks
        by_side = {1: (bid_q, bsz, bpx, owned_b), -1: (ask_q, asz, apx, owned_a)}
        tape_append = book.tape.append
        events = self.day.window_events
        fixes = self.day.window_fixes
        stats = self.stats
        n_events = len(events)
        ev = bisect_left(events, start)
        shift = self.offset
        window_levels = 0  # added to the stats at the end
        i = start
        # Runs of messages up to and including the next window event (or ``end``), so
        # the per-message loop carries no event test.
        while i < end:
            fix_at = events[ev] if ev < n_events else end
            if fix_at < end:
                stop = fix_at + 1
                ev += 1
            else:
                fix_at = -1
                stop = end
            for ts, typ, oid, q, p, s in rows[i:stop]:
                if shift:
                    p += shift  # noqa: PLW2901 (the replayed market, moved by impact)
                if typ == 1:
                    if s == 1:
                        if apx and p >= apx[0]:
                            self._crossing_add(ts, oid, q, p, s)
                        else:
                            lvl = bid_q.get(p)
                            if lvl is None:
                                bid_q[p] = {oid: q}
                                bsz[p] = q
                                insort(bpx, p)
                            else:
                                lvl[oid] = q
                                bsz[p] += q
                    elif bpx and p <= bpx[-1]:
                        self._crossing_add(ts, oid, q, p, s)
                    else:
                        lvl = ask_q.get(p)
                        if lvl is None:
                            ask_q[p] = {oid: q}
                            asz[p] = q
                            insort(apx, p)
                        else:
                            lvl[oid] = q
                            asz[p] += q
                elif typ <= 4:
                    qs, sizes, prices, owned = by_side[s]
                    lvl = qs.get(p)
                    if typ != 4 and lvl is not None and lvl.get(oid) == q:
                        # the commonest message: a known order deleted (or cancelled)
                        # whole, which needs no clamping
                        del lvl[oid]
                        left = sizes[p] - q
                        if left:
                            sizes[p] = left
                        else:
                            del sizes[p]
                            del qs[p]
                            del prices[bisect_left(prices, p)]
                        continue
                    v = None
                    key = oid
                    if lvl is not None:
                        v = lvl.get(oid)
                        if v is None:
                            key = PHANTOM_FRONT
                            v = lvl.get(PHANTOM_FRONT)
                    if (
                        v is None
                        or v < q
                        or (typ == 3 and key != PHANTOM_FRONT and v != q)
                        or (typ == 4 and owned)
                    ):
                        if typ == 4:
                            self._execution(ts, oid, q, p, s)
                        else:
                            self._cancel(typ, oid, q, p, s)
                    else:
                        if v == q:
                            del lvl[key]  # type: ignore[union-attr]
                        else:
                            lvl[key] = v - q  # type: ignore[index]
                        left = sizes[p] - q
                        if left:
                            sizes[p] = left
                        else:
                            del sizes[p]
                            del qs[p]
                            del prices[bisect_left(prices, p)]
                        if typ == 4:
                            book.last_trade_px = p
                            tape_append(ts, p, q, -s, False)
                elif typ == 5:
                    if owned_b if s == 1 else owned_a:
                        self._hidden_execution(ts, q, p, s)
                    else:
                        book.last_trade_px = p
                        tape_append(ts, p, q, -s, False)
                else:
                    self._special(ts, typ, q, p, s, code=p - shift)
            i = stop
            if fix_at < 0:
                continue
            # The window reconcile (:meth:`_reconcile`), inline: an entering level
            # where no agent order rests becomes one phantom entry, and without agent
            # orders on the side the stale-level scan runs only when the count of our
            # levels inside the file's price range differs from the file's.
            # (``ts`` is still that of message ``fix_at``, the last one of the run)
            for fix in fixes[fix_at]:
                s = fix.side
                qs, sizes, prices, owned = by_side[s]
                for p, q in fix.entering:
                    if shift:
                        p += shift  # noqa: PLW2901 (as above)
                    if (
                        not q
                        or (apx and p >= apx[0] if s == 1 else bpx and p <= bpx[-1])
                        or (owned and _count_at(owned, p))
                    ):
                        self._set_background(s, p, q, ts)
                        continue
                    if p not in qs:
                        insort(prices, p)
                    qs[p] = {PHANTOM_FRONT: q}
                    sizes[p] = q
                    window_levels += 1
                if owned:
                    self._drop_stale(fix)
                    continue
                bound = fix.bound
                if bound is None:
                    inside = len(prices)
                elif s == 1:
                    inside = len(prices) - bisect_left(prices, bound + shift)
                else:
                    inside = bisect_right(prices, bound + shift)
                if inside != fix.count:
                    self._drop_stale(fix)
        stats.window_levels += window_levels
        self._finish(start, end)

    def _finish(self, start: int, end: int) -> None:
        self.pos = end
        self.now_ns = self.day.rows[end - 1][0]
        self.stats.messages += end - start
        l2 = self.book.l2
        l2.seq += end - start
        l2.last_update_ns = self.now_ns

    def _run_general(self, end: int) -> None:
        """One message at a time through the book primitives, publishing market data."""
        rows = self.day.rows
        fixes = self.day.window_fixes
        book, engine = self.book, self.engine
        start = self.pos
        for i in range(start, end):
            ts, typ, oid, q, p, s = rows[i]
            p += self.offset
            if typ == 1:
                best = book.best(-s)
                if best is not None and (p >= best if s == 1 else p <= best):
                    self._crossing_add(ts, oid, q, p, s)
                else:
                    book.add(s, p, oid, q)
            elif typ == 4:
                self._execution(ts, oid, q, p, s)
            elif typ in (2, 3):
                self._cancel(typ, oid, q, p, s)
            elif typ == 5:
                self._hidden_execution(ts, q, p, s)
            else:
                self._special(ts, typ, q, p, s, code=p - self.offset)
            if i in fixes:
                self._reconcile(i)
            engine.publish(book, ts)
        self._finish(start, end)

    # ------------------------------------------------------------ slow paths
    def _crossing_add(self, ts: int, oid: int, q: int, p: int, s: int) -> None:
        remaining, _ = self.engine.match(self.book, s, p, q, taker=None, ts_ns=ts)
        self.stats.crossed_adds += 1
        self.stats.crossed_qty += q - remaining
        if remaining:
            self.book.add(s, p, oid, remaining)

    def _cancel(self, typ: int, oid: int, q: int, p: int, s: int) -> None:
        book = self.book
        lvl = book.queue(s, p)
        if lvl is None:
            self.stats.missing += 1
            return
        v = lvl.get(oid)
        if v is not None and oid != PHANTOM_FRONT:
            take = v if typ == 3 else min(q, v)
            if v != q if typ == 3 else v < q:
                self.stats.clamped += 1
            book.take(s, p, oid, take)
            return
        remaining = q
        for key in (PHANTOM_FRONT, PHANTOM_BACK):
            remaining -= book.take(s, p, key, remaining)
            if not remaining:
                return
        if remaining == q:
            self.stats.missing += 1
        else:
            self.stats.clamped += 1

    def _fill_owned_first(
        self, orders: list[OwnedOrder], remaining: int, aggr: int, ts: int
    ) -> int:
        engine, book = self.engine, self.book
        for o in sorted(orders, key=_price_time):
            remaining -= engine.fill_resting(book, o.key, remaining, aggr, ts)
            if not remaining:
                break
        return remaining

    def _execution(self, ts: int, oid: int, q: int, p: int, s: int) -> None:
        book, engine, stats = self.book, self.engine, self.stats
        aggr = -s
        remaining = q
        owned = book.owned(s)
        if owned:
            better = [o for o in owned.values() if (o.price or 0) * s > p * s]
            if better:
                remaining = self._fill_owned_first(better, remaining, aggr, ts)
                if not remaining:
                    return
        lvl = book.queue(s, p)
        if lvl is None:
            stats.missing += 1
            stats.dropped_qty += remaining
            return
        target: int | None = oid
        if oid not in lvl or oid == PHANTOM_FRONT:
            target = PHANTOM_FRONT if PHANTOM_FRONT in lvl else None
            if target is None and PHANTOM_BACK in lvl:
                target = PHANTOM_BACK
        if owned and target is not None:
            for k in list(lvl):
                if k == target:
                    break
                if k < 0:
                    remaining -= engine.fill_resting(book, k, remaining, aggr, ts)
                    if not remaining:
                        return
        if target is not None:
            took = book.take(s, p, target, remaining)
            if took:
                engine.record_trade(book, p, took, aggr, ts, agent=False)
                remaining -= took
            if remaining:
                stats.clamped += 1
        else:
            stats.missing += 1
        if remaining:
            lvl = book.queue(s, p)
            for k in list(lvl or ()):
                if k < 0:
                    took = engine.fill_resting(book, k, remaining, aggr, ts)
                else:
                    took = book.take(s, p, k, remaining)
                    engine.record_trade(book, p, took, aggr, ts, agent=False)
                stats.displaced_qty += took
                remaining -= took
                if not remaining:
                    break
            stats.dropped_qty += remaining

    def _hidden_execution(self, ts: int, q: int, p: int, s: int) -> None:
        book, engine = self.book, self.engine
        aggr = -s
        remaining = q
        owned = book.owned(s)
        if owned:
            better = [o for o in owned.values() if (o.price or 0) * s > p * s]
            if better:
                remaining = self._fill_owned_first(better, remaining, aggr, ts)
            lvl = book.queue(s, p)
            if remaining and lvl is not None:
                # Displayed size beats hidden size at the same price, but not displayed
                # size queued behind background orders the data shows did not trade.
                for k in list(lvl):
                    if k >= 0:
                        break
                    remaining -= engine.fill_resting(book, k, remaining, aggr, ts)
                    if not remaining:
                        break
        if remaining:
            engine.record_trade(book, p, remaining, aggr, ts, agent=False)

    def _special(self, ts: int, typ: int, q: int, p: int, s: int, *, code: int) -> None:
        if typ == 7:
            self.stats.halts += 1
            if code == HALT_TRADING:
                self.engine.halt(self.day.symbol, True)
            elif code == HALT_RESUME:
                self.engine.halt(self.day.symbol, False)
            # code 0 (quoting resumes): orders stay refused until trading resumes.
        elif typ == 6:
            self.engine.record_trade(self.book, p, q, -s, ts, agent=False)

    # ---------------------------------------------------------------- window
    def _reconcile(self, i: int) -> None:
        """The window reconcile after message ``i``, through the book primitives (so
        published market data sees every level it changes)."""
        ts = self.day.rows[i][0]
        for fix in self.day.window_fixes[i]:
            self._reconcile_side(fix, ts)

    def _reconcile_side(self, fix: WindowFix, ts: int) -> None:
        s, shift = fix.side, self.offset
        for price, size in fix.entering:
            self._set_background(s, price + shift, size, ts)
        self._drop_stale(fix)

    def _drop_stale(self, fix: WindowFix) -> None:
        s, shift, book = fix.side, self.offset, self.book
        l2 = book.l2
        if s > 0:
            qs, sizes, prices, owned = book.bid_q, l2.bid_sizes, l2.bid_prices, book.owned_bids
        else:
            qs, sizes, prices, owned = book.ask_q, l2.ask_sizes, l2.ask_prices, book.owned_asks
        if fix.bound is None:
            in_range = list(prices)
        elif s > 0:
            in_range = prices[bisect_left(prices, fix.bound + shift) :]
        else:
            in_range = prices[: bisect_right(prices, fix.bound + shift)]
        if len(in_range) == fix.count:
            return  # nothing stale (owned-only levels would make the counts differ)
        shown, before = fix.prices, fix.before
        direct = book.touched is None  # no market data to publish: edit the level dicts
        for price in in_range:
            # Stale: a level the file did not show before (it sat beyond the window)
            # and does not show now. A level the file showed before and not now was
            # emptied by this very message; if some of it is still here, that is the
            # agent's doing (displaced demand), not something that happened unseen.
            p = price - shift
            if p in shown or p in before:
                continue
            mine = _count_at(owned, price) if owned else 0
            if not direct or (mine and mine != len(qs[price])):
                self._drop_background(s, price)  # keeps the agent's orders, drops the rest
            elif not mine:
                self.stats.stale_levels += 1
                del qs[price]
                del sizes[price]
                del prices[bisect_left(prices, price)]
            # else: only agent orders here, nothing of the crowd to drop

    def _drop_background(self, s: int, price: int) -> None:
        q = self.book.queue(s, price)
        if q is None:
            return
        owned = {k: v for k, v in q.items() if k < 0}
        if len(owned) == len(q):
            return  # only agent orders here: nothing of the crowd to drop
        self.stats.stale_levels += 1
        self.book.replace_level(s, price, owned)

    def _set_background(self, s: int, price: int, target: int, ts: int) -> None:
        book = self.book
        opp = book.best(-s)
        if opp is not None and (price >= opp if s > 0 else price <= opp):
            # Only possible once the agent moved the book: size that comes into view
            # across our book meets it as an incoming order would.
            lvl = book.queue(s, price)
            have = sum(v for k, v in lvl.items() if k >= 0) if lvl else 0
            if target > have:
                self._crossing_add(ts, PHANTOM_FRONT, target - have, price, s)
            self.stats.window_levels += 1
            return
        lvl = book.queue(s, price)
        if lvl is None:
            book.add(s, price, PHANTOM_FRONT, target)
            self.stats.window_levels += 1
            return
        owned = [k for k in lvl if k < 0]
        bg = sum(v for k, v in lvl.items() if k >= 0)
        self.stats.window_levels += 1
        # The level was out of sight: orders we knew may be gone and unknown ones may
        # have come, even when the total is unchanged, and sizes cannot tell which. So
        # the crowd's size here becomes anonymous (phantom) size; later messages for
        # any of its orders draw on it, which keeps the level total exact.
        if not owned:
            book.replace_level(s, price, {PHANTOM_FRONT: target})
            return
        ahead = 0
        for k, v in lvl.items():
            if k < 0:
                break
            ahead += v
        behind = bg - ahead
        if target > bg:
            front, back = split_increase(self.queue_model, target - bg)
            ahead += front
            behind += back
        else:
            cut_front, cut_back = split_decrease(self.queue_model, ahead, behind, bg - target)
            ahead -= cut_front
            behind -= cut_back
        new: dict[int, int] = {}
        if ahead:
            new[PHANTOM_FRONT] = ahead
        for k in owned:
            new[k] = lvl[k]
        if behind:
            new[PHANTOM_BACK] = behind
        book.replace_level(s, price, new)

"""Draws zero-intelligence order flow and sends it through the matching engine.

Gillespie's method: all event clocks are exponential, so the time to the next event
is exponential with the total rate, and which event happens is drawn in proportion
to the rates. The cancellation part of the total depends on how many orders rest
within the model's depth, so it is recomputed after every event (and after every
agent request: redrawing a memoryless clock is exact).

The flow is background liquidity: its orders rest under keys >= 1 and never report,
its market orders trade with whatever rests, the agent's orders included. So an
agent's passive order fills when the synthetic crowd's market orders reach it, and
an aggressive one moves the book the flow then builds on.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, fields
from itertools import accumulate

from exchange.engine.matching import MatchingEngine
from exchange.flow.model import FlowParams, Regime


@dataclass(slots=True)
class FlowStats:
    limit_orders: int = 0
    market_orders: int = 0
    cancels: int = 0
    traded_qty: int = 0
    refills: int = 0  # a side ran empty and was given one order at the reference
    pruned_levels: int = 0  # levels dropped for being far beyond the model's depth

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class ZeroIntelligenceFlow:
    def __init__(
        self,
        params: FlowParams,
        regime: Regime,
        engine: MatchingEngine,
        symbol: str,
        rng: random.Random,
    ) -> None:
        self.params = params
        self.engine = engine
        self.book = engine.book(symbol)
        self.symbol = symbol
        self.rng = rng
        self.stats = FlowStats()
        self._keys = itertools.count(1)
        self.regime = regime
        self._set_rates(regime)
        self.ref_bid = params.start_price - 1
        self.ref_ask = params.start_price + 1

    def _set_rates(self, regime: Regime) -> None:
        p = self.params
        limit = [x * regime.limit for x in p.limit_rate]
        self._limit_cum = list(accumulate(limit))
        self._limit_total = self._limit_cum[-1]
        self._cancel = [x * regime.cancel for x in p.cancel_rate]
        self._market_buy = p.market_rate * regime.market * (1.0 + regime.trend)
        self._market_sell = p.market_rate * regime.market * (1.0 - regime.trend)

    # ------------------------------------------------------------ set-up
    def seed_book(self, mid: int, ts_ns: int) -> None:
        """An initial book from the calibrated mean depth profile (times the regime's
        depth), around ``mid``; orders are split into calibrated limit sizes."""
        p, book = self.params, self.book
        book.clear()
        profile = [round(x * self.regime.depth) for x in p.depth_profile]
        first = 1 + self.regime.gap
        d_min = next((d for d, x in enumerate(profile, start=first) if x > 0), first)
        half = d_min // 2
        ask_ref, bid_ref = mid + half, mid - half
        for d, size in enumerate(profile, start=first):
            if size <= 0:
                continue
            for side, price in ((1, ask_ref - d), (-1, bid_ref + d)):
                left = size
                while left > 0:
                    q = min(left, self.rng.choice(p.limit_sizes))
                    book.add(side, price, next(self._keys), q)
                    left -= q
        self.ref_bid = book.best(1) or mid - 1
        self.ref_ask = book.best(-1) or mid + 1
        if book.touched is not None:
            self.engine.publish(book, ts_ns)

    # ------------------------------------------------------------ clock
    def _cancel_weights(self, side: int, opp_best: int) -> tuple[list[tuple[int, float]], float]:
        """Per level within the depth: (price, orders there x per-order cancel rate),
        and their total. Levels past twice the depth are dropped first: CST's model
        has no flow there, and a trending market would otherwise leave an ever longer
        tail of orders behind."""
        book = self.book
        prices = book.prices(side)
        queues = book.queues(side)
        owned = book.owned(side)
        cancel = self._cancel
        gap = self.regime.gap
        depth = len(cancel) + gap  # the model's depth, moved out with the limit orders
        self._prune(side, opp_best, prices, 2 * depth)
        out: list[tuple[int, float]] = []
        total = 0.0
        if side > 0:
            for i in range(len(prices) - 1, bisect_left(prices, opp_best - depth) - 1, -1):
                price = prices[i]
                d = opp_best - price
                if d < 1:
                    continue
                q = queues[price]
                n = len(q) - (sum(1 for k in q if k < 0) if owned else 0)
                if n:
                    w = n * cancel[max(1, d - gap) - 1]
                    out.append((price, w))
                    total += w
        else:
            for price in prices[: bisect_right(prices, opp_best + depth)]:
                d = price - opp_best
                if d < 1:
                    continue
                q = queues[price]
                n = len(q) - (sum(1 for k in q if k < 0) if owned else 0)
                if n:
                    w = n * cancel[max(1, d - gap) - 1]
                    out.append((price, w))
                    total += w
        return out, total

    def _prune(self, side: int, opp_best: int, prices: list[int], limit: int) -> None:
        book = self.book
        while prices:
            worst = prices[0] if side > 0 else prices[-1]
            if (opp_best - worst if side > 0 else worst - opp_best) <= limit:
                return
            q = book.queue(side, worst) or {}
            keep = {k: v for k, v in q.items() if k < 0}
            if len(keep) == len(q):
                return  # only agent orders out there: leave them
            book.replace_level(side, worst, keep)
            self.stats.pruned_levels += 1

    def _refs(self) -> tuple[int, int]:
        bb, ba = self.book.best(1), self.book.best(-1)
        if bb is not None:
            self.ref_bid = bb
        if ba is not None:
            self.ref_ask = ba
        if self.ref_bid >= self.ref_ask:  # a side emptied and the other moved through
            if ba is None:
                self.ref_ask = self.ref_bid + 1
            else:
                self.ref_bid = self.ref_ask - 1
        return self.ref_bid, self.ref_ask

    def next_event_ns(self, now_ns: int) -> int:
        bid, ask = self._refs()
        self._cancel_bid, self._cb = self._cancel_weights(1, ask)
        self._cancel_ask, self._ca = self._cancel_weights(-1, bid)
        total = 2 * self._limit_total + self._market_buy + self._market_sell + self._cb + self._ca
        if total <= 0:
            return now_ns + 3_600_000_000_000
        return now_ns + max(1, round(self.rng.expovariate(total) * 1e9))

    # ------------------------------------------------------------ events
    def step(self, ts_ns: int) -> None:
        """Apply one event at ``ts_ns`` (call :meth:`next_event_ns` first)."""
        rng, engine, p = self.rng, self.engine, self.params
        bid, ask = self.ref_bid, self.ref_ask
        lt = self._limit_total
        u = rng.random() * (2 * lt + self._market_buy + self._market_sell + self._cb + self._ca)
        if u < 2 * lt:
            side = 1 if u < lt else -1
            r = u if side > 0 else u - lt
            d = bisect_right(self._limit_cum, r) + 1
            d = min(d, len(self._limit_cum)) + self.regime.gap
            price = ask - d if side > 0 else bid + d
            if price <= 0:
                return
            engine.background_order(
                self.symbol,
                side,
                price,
                rng.choice(p.limit_sizes),
                key=next(self._keys),
                ts_ns=ts_ns,
            )
            self.stats.limit_orders += 1
            return
        u -= 2 * lt
        if u < self._market_buy + self._market_sell:
            side = 1 if u < self._market_buy else -1
            filled = engine.background_order(
                self.symbol,
                side,
                None,
                rng.choice(p.market_sizes),
                key=next(self._keys),
                ts_ns=ts_ns,
            )
            self.stats.market_orders += 1
            self.stats.traded_qty += filled
            self._refill(ts_ns)
            return
        u -= self._market_buy + self._market_sell
        levels, side = (self._cancel_bid, 1) if u < self._cb else (self._cancel_ask, -1)
        if not levels:
            return
        r = rng.random() * (self._cb if side > 0 else self._ca)
        acc = 0.0
        price = levels[-1][0]
        for px, w in levels:
            acc += w
            if r < acc:
                price = px
                break
        q = self.book.queue(side, price)
        if not q:
            return
        keys = [k for k in q if k >= 0]
        if not keys:
            return
        key = rng.choice(keys)
        engine.background_cancel(self.symbol, side, price, key=key, qty=q[key], ts_ns=ts_ns)
        self.stats.cancels += 1
        self._refill(ts_ns)

    def _refill(self, ts_ns: int) -> None:
        """CST's boundary condition: a side never stays empty. One order at the
        reference price (the last best quote) puts it back."""
        book = self.book
        for side in (1, -1):
            if book.best(side) is None:
                opp = book.best(-side)
                ref = self.ref_bid if side > 0 else self.ref_ask
                if opp is not None and (ref >= opp if side > 0 else ref <= opp):
                    ref = opp - 1 if side > 0 else opp + 1
                if ref <= 0:
                    continue
                self.engine.background_order(
                    self.symbol,
                    side,
                    ref,
                    self.rng.choice(self.params.limit_sizes),
                    key=next(self._keys),
                    ts_ns=ts_ns,
                )
                self.stats.refills += 1

    @staticmethod
    def expected_event_rate(params: FlowParams, regime: Regime) -> float:
        """Arrival rate of limit and market orders (cancels depend on the book)."""
        limit = sum(params.limit_rate) * regime.limit * 2
        return limit + 2 * params.market_rate * regime.market

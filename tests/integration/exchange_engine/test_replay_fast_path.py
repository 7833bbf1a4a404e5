"""The replay's hand-written fast loop (no market data published) against its general
path (one message at a time through the book primitives, publishing market data).

The fast loop inlines the common cases: a known order deleted whole, and the level-window
reconcile on a side where no agent order rests. A random agent that rests orders at the
touch, inside the spread and deep in the book (where window levels come back into view
around it), crosses, cancels and replaces, under each impact model, must see the same
reports and leave exactly the same order-by-order book, queue order included, after every
step on both paths.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import OrdType, Side, TimeInForce
from exchange.data import lobster_message_files
from exchange.engine import CollectingMarketData
from exchange.replay import (
    JitteredLatency,
    LinearPermanentImpact,
    NoImpact,
    ReplaySimulator,
    TransientPropagatorImpact,
    load_day,
)
from exchange.replay.impact import ImpactModel

S = 1_000_000_000
FILES = lobster_message_files()

IMPACTS: dict[str, Callable[[], ImpactModel]] = {
    "none": NoImpact,
    "permanent": lambda: LinearPermanentImpact(gamma=0.01),
    "transient": lambda: TransientPropagatorImpact(kappa=0.5, decay_s=30.0, beta=0.5),
}


def _state(sim: ReplaySimulator) -> tuple[Any, ...]:
    ob = sim.order_book
    return (
        [(p, list(q.items())) for p, q in sorted(ob.bid_q.items())],
        [(p, list(q.items())) for p, q in sorted(ob.ask_q.items())],
        ob.l2.snapshot(),
        sorted(ob.owned_bids),
        sorted(ob.owned_asks),
        ob.last_trade_px,
        sim.offset,
        sim.stats.as_dict(),
        len(sim.tape),
    )


def _run(path: Path, impact: Callable[[], ImpactModel], publish: bool, seed: int) -> list[Any]:
    sim = ReplaySimulator(
        load_day(path),
        impact=impact(),
        latency=JitteredLatency(seed=1),
        market_data=CollectingMarketData() if publish else None,
    )
    rng = random.Random(seed)
    start, end = sim.sample_window(rng, 1200 * S)
    sim.reset(start, end, seed=3)
    out: list[Any] = []
    resting: list[tuple[str, Side, int, int]] = []
    for n in range(250):
        book = sim.book
        r = rng.random()
        side = rng.choice([Side.BUY, Side.SELL])
        if r < 0.45 and book.best_bid and book.best_ask:
            # at the touch, one tick inside, or up to 8 ticks deep (beyond a level-1 window)
            ref = book.best_bid if side is Side.BUY else book.best_ask
            price = ref - side.sign * rng.choice([-1, 0, 0, 1, 2, 4, 8])
            tif = TimeInForce.IOC if rng.random() < 0.15 else TimeInForce.DAY
            qty = rng.randint(1, 300)
            sim.send(NewOrderRequest(f"c{n}", sim.symbol, side, qty, price, tif=tif))
            if tif is TimeInForce.DAY:
                resting.append((f"c{n}", side, qty, price))
        elif r < 0.5:
            qty = rng.randint(1, 200)
            sim.send(NewOrderRequest(f"m{n}", sim.symbol, side, qty, None, ord_type=OrdType.MARKET))
        elif r < 0.6 and resting:
            clid, s, qty, _ = resting.pop(rng.randrange(len(resting)))
            sim.send(CancelRequest(f"x{n}", clid, sim.symbol, s, qty))
        elif r < 0.68 and resting:
            i = rng.randrange(len(resting))
            clid, s, qty, price = resting[i]
            new_qty, new_price = qty + rng.randint(-qty + 1, 100), price + rng.randint(-2, 2)
            sim.send(ReplaceRequest(f"r{n}", clid, sim.symbol, s, new_qty, new_price))
            resting[i] = (f"r{n}", s, new_qty, new_price)
        deliveries = sim.advance_to(sim.now_ns + rng.randint(1, 6) * S // 2)
        out.append(([(d.session, d.report, d.ts_ns) for d in deliveries], _state(sim)))
    assert sim.order_book.problems() == []
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).parent.name)
@pytest.mark.parametrize("impact", list(IMPACTS), ids=str)
def test_fast_loop_equals_the_general_path(path: Path, impact: str) -> None:
    fast = _run(path, IMPACTS[impact], publish=False, seed=21)
    general = _run(path, IMPACTS[impact], publish=True, seed=21)
    assert len(fast) == len(general)
    for step, (a, b) in enumerate(zip(fast, general, strict=True)):
        assert a == b, f"step {step} differs"
    # the comparison covered what it is about: agent fills, window levels taken from the
    # file, and (with impact) a shifted market
    reports = [r for reps, _ in fast for _, r, _ in reps]
    assert any(getattr(r, "last_qty", 0) for r in reports)
    stats = fast[-1][1][7]
    assert stats["window_levels"] > 0 or "_1" in Path(path).parent.name
    if impact != "none":
        assert any(state[6] != 0 for _, state in fast)


def test_prepared_day_indexes_like_searchsorted() -> None:
    day = load_day(next(p for p in FILES if "AMZN_2012-06-21_5" in str(p)))
    rng = np.random.default_rng(4)
    probes = np.concatenate(
        [
            rng.integers(day.start_ns - 10 * S, day.end_ns + 10 * S, 2000),
            day.ts[rng.integers(0, len(day), 2000)],  # exact message times (many repeat)
            [day.start_ns, day.end_ns, day.start_ns - 1, day.end_ns + 1],
        ]
    )
    for t in probes.tolist():
        assert day.index_at(t) == int(np.searchsorted(day.ts, t, side="left"))
        assert day.index_after(t) == int(np.searchsorted(day.ts, t, side="right"))

"""A random agent trades inside real LOBSTER windows: the book stays sound after every
step, core's order tracker accepts every report, and runs are reproducible."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from core.events import CancelReject, ExecReport
from core.order_tracker import OrderTracker
from core.orders import ChildOrder
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest
from core.types import OrdType, Side, TimeInForce
from exchange.data import lobster_message_files
from exchange.flow.model import load_params, regime
from exchange.flow.simulator import SyntheticSimulator
from exchange.replay import (
    JitteredLatency,
    LinearPermanentImpact,
    NoImpact,
    ReplaySimulator,
    TransientPropagatorImpact,
    default_impact,
    load_day,
)
from exchange.replay.api import MarketSimulator
from exchange.replay.impact import ImpactModel

S = 1_000_000_000
FILES = lobster_message_files()


def drive(sim: MarketSimulator, rng: random.Random, steps: int) -> list[tuple[str, str, int, int]]:
    """Random child orders, cancels and replaces; returns a fingerprint of every report."""
    tracker = OrderTracker()
    log: list[tuple[str, str, int, int]] = []
    for n in range(1, steps + 1):
        book = sim.book
        side = rng.choice([Side.BUY, Side.SELL])
        r = rng.random()
        live = [o for o in tracker.live() if not o.status.is_pending]
        if r < 0.35 and book.best_bid and book.best_ask:
            ref = book.best_bid if side is Side.BUY else book.best_ask
            price = ref - side.sign * rng.randint(-1, 3)
            tif = rng.choice([TimeInForce.DAY, TimeInForce.DAY, TimeInForce.IOC])
            order = ChildOrder(f"c{n}", sim.symbol, side, rng.randint(1, 400), price, tif=tif)
            tracker.add(order)
            sim.send(NewOrderRequest(order.cl_ord_id, sim.symbol, side, order.qty, price, tif=tif))
        elif r < 0.45:
            order = ChildOrder(
                f"m{n}", sim.symbol, side, rng.randint(1, 300), None, ord_type=OrdType.MARKET
            )
            tracker.add(order)
            sim.send(
                NewOrderRequest(
                    order.cl_ord_id, sim.symbol, side, order.qty, None, ord_type=OrdType.MARKET
                )
            )
        elif r < 0.6 and live:
            o = rng.choice(live)
            tracker.request_cancel(o.cl_ord_id, f"x{n}")
            sim.send(CancelRequest(f"x{n}", o.cl_ord_id, sim.symbol, o.side, o.qty))
        elif r < 0.7 and live:
            o = rng.choice(live)
            if o.price is not None:
                qty = o.cum_qty + rng.randint(1, 200)
                price = o.price + rng.randint(-2, 2)
                tracker.request_replace(o.cl_ord_id, f"r{n}", price, qty)
                sim.send(ReplaceRequest(f"r{n}", o.cl_ord_id, sim.symbol, o.side, qty, price))
        for d in sim.advance_to(sim.now_ns + rng.randint(1, 3) * S // 2):
            rep = d.report
            if isinstance(rep, CancelReject):
                tracker.on_cancel_reject(rep)
                log.append(("reject", rep.cl_ord_id, d.ts_ns, 0))
            else:
                assert isinstance(rep, ExecReport)
                update = tracker.on_exec_report(rep)
                assert not update.cum_mismatch, rep
                log.append((rep.exec_type.name, rep.cl_ord_id, d.ts_ns, rep.last_qty))
        problems = sim.order_book.problems()
        assert problems == [], problems
    # Whatever is live in our records rests in the venue with the same quantities.
    venue = {o.cl_ord_id: o for o in sim.open_orders()}
    ours = {o.cl_ord_id: o for o in tracker.live() if not o.status.is_pending}
    assert set(ours) <= set(venue)
    for clid, o in ours.items():
        assert o.cum_qty == venue[clid].cum_qty and o.leaves_qty == venue[clid].leaves_qty
    return log


IMPACTS: list[ImpactModel] = [
    NoImpact(),
    LinearPermanentImpact(gamma=0.005),
    TransientPropagatorImpact(kappa=0.3, decay_s=60.0, beta=0.5),
    default_impact("sqrt", "AMZN"),
]


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).parent.name)
@pytest.mark.parametrize("impact", IMPACTS, ids=lambda m: type(m).__name__)
def test_random_agent_in_replay(path: Path, impact: ImpactModel) -> None:
    sim = ReplaySimulator(load_day(path), impact=impact, latency=JitteredLatency(seed=1))
    rng = random.Random(7)
    start, end = sim.sample_window(rng, 900 * S)
    sim.reset(start, end, seed=3)
    log = drive(sim, rng, 400)
    assert any(kind == "TRADE" for kind, *_ in log)
    assert sim.stats.messages > 0


def test_replay_is_deterministic_for_a_seed() -> None:
    day = load_day(next(p for p in FILES if "AMZN_2012-06-21_5" in str(p)))
    runs = []
    for _ in range(2):
        sim = ReplaySimulator(
            day,
            impact=TransientPropagatorImpact(kappa=0.3, decay_s=60.0, beta=0.5),
            latency=JitteredLatency(seed=9),
        )
        sim.reset(day.start_ns + 3600 * S, day.start_ns + 4500 * S, seed=5)
        runs.append((drive(sim, random.Random(11), 300), sim.stats.as_dict(), sim.tape.price))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", ["calm", "volatile", "trending", "thin"])
def test_random_agent_in_synthetic_regimes(name: str) -> None:
    sim = SyntheticSimulator(
        load_params("AMZN"), regime=regime(name), latency=JitteredLatency(seed=2)
    )
    sim.reset(seed=8)
    log = drive(sim, random.Random(13), 300)
    assert any(kind == "TRADE" for kind, *_ in log)

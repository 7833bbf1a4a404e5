"""Hand-built backtest results for the summary, gate and report tests: orders spread over
the day with known costs per policy, no simulation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from policies.backtest.metrics import INVENTORY_POINTS, OrderOutcome
from policies.backtest.orders import ParentSpec
from policies.backtest.summary import GroupData, summarise

KINDS = {"cand": "rl", "twap": "twap", "vwap": "vwap", "pov": "pov"}
OPEN, MIDDAY, CLOSE = 35_000.0, 45_000.0, 56_000.0  # seconds after midnight
Cost = Callable[[ParentSpec, float], float]  # order, its market move -> shortfall, bps


def orders(n: int, key: str = "TEST 2012-06-21 L5 09:30-16:00") -> list[ParentSpec]:
    tods = (OPEN, MIDDAY, CLOSE)
    return [
        ParentSpec(
            group=key,
            index=i,
            seed=i,
            start_ns=int(tods[i % 3] * 1e9) + i,
            horizon_ns=300_000_000_000,
            side=1 if i % 2 else -1,
            qty=100 + i,
            size_frac=0.02 + 0.18 * ((i * 7) % n) / n,
            tod_s=tods[i % 3],
            spread_ticks=1.0 + (i * 5) % n,
            volatility_bps=1.0 + (i * 11) % n,
            depth=100.0 + (i * 13) % n,
        )
        for i in range(n)
    ]


def outcome(is_bps: float, actions: list[list[int]] | None = None) -> OrderOutcome:
    third = is_bps / 3
    return OrderOutcome(
        is_bps=is_bps,
        spread_bps=third,
        impact_bps=third,
        timing_bps=is_bps - 2 * third,
        arrival_mid=1000.0,
        fill_rate=1.0,
        sweep_share=0.01,
        participation=0.1,
        child_orders=10,
        cancels=2,
        replaces=3,
        denied=0,
        inventory=list(np.linspace(1, 0, INVENTORY_POINTS)),
        actions=actions,
    )


def group(n: int, costs: dict[str, Cost], *, seed: int = 0, key: str | None = None) -> GroupData:
    """Each policy's cost = costs[policy](order, market move); the move is shared by
    every policy on an order (as the market's drift is in a real backtest)."""
    os_ = orders(n) if key is None else orders(n, key)
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 10.0, n)
    g = GroupData(os_[0].group, {"file": "test.csv", "sha256": "0" * 64}, os_)
    for p, f in costs.items():
        acts = (
            [[1, 2, 0], [0, 3, 1], [0, 0, 4], [1, 1, 1], [0, 0, 2]]
            if KINDS.get(p) == "rl"
            else None
        )
        g.outcomes[p] = [outcome(f(o, m), acts) for o, m in zip(os_, market, strict=True)]
    return g


def summary_of(*groups: GroupData, draws: int = 500, seed: int = 1) -> dict[str, object]:
    names = list(groups[0].outcomes)
    return summarise(
        list(groups),
        {p: KINDS.get(p, p) for p in names},
        reference="twap",
        seed=seed,
        draws=draws,
        level=0.95,
    )


def noise(scale: float, seed: int) -> Cost:
    """A policy-specific wobble around the shared market move."""
    rng = np.random.default_rng(seed)
    table = rng.normal(0.0, scale, 10_000)
    return lambda o, m: float(table[o.index])

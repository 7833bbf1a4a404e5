"""The one rule at the daemon level: the real node, over real TCP, trades exactly as the
backtest does once their clocks are the same.

Live here is the whole deployment: redis-server, the exchange process replaying the
shipped AMZN day and the daemon with the committed policy; the parent is submitted
through Redis, market data reaches the daemon over the websocket, the runner decides
and its orders go out over FIX. The two processes run on a lock-stepped clock
(exchange ``[pacing] mode = "lockstep"``, daemon ``[clock] mode = "lockstep"``): the
market moves only as far as the daemon's next decision and waits for its orders. The
exchange models the environment's order latency in market time and uses its impact
model, and starts its replay where the environment seeds its book.

The backtest is the environment run by ``rlexec backtest`` (the simulated clock, the
in-process router). The two must send the same child orders (ClOrdIDs, sides,
quantities, prices, order types, times) and receive the same reports (ExecIDs, types,
statuses, fill quantities and prices, cumulative and leaves quantities, times at the
millisecond FIX carries), for the same arrival mid and shortfall.

Known and accepted in the set-up, not hidden: the daemon's risk overlay has watched the
market only since the replay started (the environment's participation window starts
full); the parents are sized so that neither overlay denies anything, which identical
requests prove for the daemon and ``denied == 0`` for the environment.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.types import Side
from daemon.parity import ParentPlan, at, backtest, committed_config, differences, lockstep

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CASES = {
    # the committed policy, with its own evaluation settings; ends in the completion sweep
    "policy_sell_sweeps_at_the_end": (
        ParentPlan(Side.SELL, 1500, at("AMZN", "14:30:00"), 300),
        None,
    ),
    # a larger buy under the exchange's default impact model (square root)
    "policy_buy_sqrt_impact": (ParentPlan(Side.BUY, 2400, at("AMZN", "15:05:00"), 240), "sqrt"),
    # a baseline runs through the same runner
    "twap_sell": (ParentPlan(Side.SELL, 900, at("AMZN", "15:20:00"), 120, algo="twap"), None),
    # passive at the touch with catch-up crossing, at the tolerance issue 15's gate run
    # tuned on both tickers: rests, replaces, cancels, crosses and ends in the sweep
    "catchup_sell": (
        ParentPlan(
            Side.SELL, 1500, at("AMZN", "15:10:00"), 240, algo="catchup", catchup_tolerance=0.2
        ),
        None,
    ),
    # the same tactic along a front-loaded line ([execution] catchup_urgency live, the
    # tuned settings' urgency in the backtest)
    "catchup_front_loaded_sell": (
        ParentPlan(
            Side.SELL,
            1500,
            at("AMZN", "15:10:00"),
            240,
            algo="catchup",
            catchup_tolerance=0.2,
            catchup_urgency=2.0,
        ),
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_node_on_a_lockstepped_clock_sends_the_same_child_orders_and_gets_the_same_fills_as_the_backtest(
    case: str, tmp_path: Path
) -> None:
    plan, impact = CASES[case]
    config = committed_config(impact=impact)
    expected = backtest(plan, config)
    assert expected.requests, "the backtest sent no child order: nothing would be compared"
    assert expected.fills, "the backtest got no fill: nothing would be compared"
    assert expected.extra["denied"] == 0, "the environment's risk overlay denied an order"

    live = lockstep(plan, tmp_path / "stack", config)

    assert differences(expected, live) == []
    assert live.requests == expected.requests
    assert live.reports == expected.reports
    assert (live.start_ns, live.arrival_mid, live.filled, live.state) == (
        expected.start_ns,
        expected.arrival_mid,
        expected.filled,
        expected.state,
    )
    assert live.is_bps == pytest.approx(expected.is_bps, abs=1e-9)
    if case in ("policy_sell_sweeps_at_the_end", "catchup_sell"):
        assert expected.extra["swept"] > 0, "the completion sweep was not exercised"
    if case == "catchup_sell":  # the tactic's own moves, not TWAP's
        kinds = {r.kind for r in expected.requests}
        assert {"new", "replace", "cancel"} <= kinds, kinds
        twap = backtest(replace(plan, algo="twap", catchup_tolerance=None), config)
        assert twap.requests != expected.requests
    if case == "catchup_front_loaded_sell":  # its own line, not the straight one's
        straight = backtest(replace(plan, catchup_urgency=None), config)
        assert straight.requests != expected.requests

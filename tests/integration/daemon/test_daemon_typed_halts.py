"""The node's halts are the risk overlay's: one trading state, whoever raised the halt.

A halt the overlay raises itself (``internal_error``, a bug inside a risk check) stops
the node like any other: resting orders cancelled, ``rlexec_trading_halted`` set,
``/readyz`` naming it. A halt the node raises (stale market data) is the one a denial
names. Against the scripted venue over loopback FIX and market data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.requests import NewOrderRequest
from core.types import OrdStatus, OrdType, Side, TimeInForce
from risk.halts import Halt, HaltKind
from risk.overlay import RiskOverlay
from risk.reasons import Denied, DenyReason
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_node import (
    node_config,
    started,
    venue,
    working_twap,
)
from tests.integration.daemon.test_daemon_races import _move_bid_up

__all__ = ["venue"]  # the fixture


def _halted_gauge(node: object, kind: str) -> float:
    value = node.metrics.registry.get_sample_value(  # type: ignore[attr-defined]
        "rlexec_trading_halted", {"reason": kind}
    )
    return 0.0 if value is None else value


async def test_a_bug_inside_a_risk_check_halts_the_node_cancels_what_rests_and_shows_in_readyz(
    tmp_path: Path, venue: ScriptedVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        (child,) = venue.live()

        def bug(self: RiskOverlay, o: object) -> None:
            raise ZeroDivisionError("bug inside a check")

        # the injected fault: a real overlay whose exposure check has a bug
        monkeypatch.setattr(RiskOverlay, "_check_exposure", bug)
        _move_bid_up(venue)  # the TWAP follows the touch: a replace, checked, denied
        await eventually(lambda: "internal_error" in node.halts, what="the overlay's halt")
        assert not node.may_trade(SYMBOL)
        assert _halted_gauge(node, "internal_error") == 1
        await eventually(lambda: not venue.live(), what="resting children cancelled")
        assert venue.orders[child.cl_ord_id].status is OrdStatus.CANCELED
        ready = node.readiness()
        assert not ready.ready and "internal_error" in ready.halts
        assert node.status()["halts"]["internal_error"].startswith("risk check of a replace")
    finally:
        await node.stop()


async def test_a_denial_while_market_data_is_stale_names_the_market_data_halt(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await working_twap(node, venue)
        venue.silence_market_data()
        await eventually(lambda: f"md:{SYMBOL}" in node.halts, what="a market-data halt")
        assert node.risk.halted_by(SYMBOL) == Halt.market_data(SYMBOL)
        assert _halted_gauge(node, "md") == 1
        req = NewOrderRequest("T-1", SYMBOL, Side.BUY, 100, 21_990, OrdType.LIMIT, TimeInForce.DAY)
        denied = node.risk.check_new(req, node.clock.now_ns())
        assert isinstance(denied, Denied) and denied.reason is DenyReason.TRADING_HALTED
        assert denied.context.halt == Halt(HaltKind.MARKET_DATA, SYMBOL)  # type: ignore[union-attr]
        venue.revive_market_data()
        await eventually(lambda: f"md:{SYMBOL}" not in node.halts, what="the halt lifted")
        assert node.risk.halted_by(SYMBOL) is None and _halted_gauge(node, "md") == 0
    finally:
        await node.stop()


async def test_an_overdue_acknowledgement_is_a_typed_halt_of_its_symbol(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        venue.hold_acks = venue.hold_status = True
        await working_twap(node, venue)
        await eventually(
            lambda: node.risk.halted_by(SYMBOL) == Halt.ack_overdue(SYMBOL),
            what="an ack_overdue halt in the overlay",
        )
        assert f"ack_overdue:{SYMBOL}" in node.halts
        assert node.risk.halted_by("MSFT") is None  # per symbol: other symbols trade
        assert _halted_gauge(node, "ack_overdue") == 1
        venue.release_acks()
        venue.answer_status()
        await eventually(lambda: node.risk.halted_by(SYMBOL) is None, what="the halt lifted")
        assert _halted_gauge(node, "ack_overdue") == 0
    finally:
        await node.stop()

"""The participation window across a restart (issue 13 item 6): the market's recent
prints and our fills come back from the journal, so a parent can trade at once after a
restart; with no history at all the cap denies, by decision (nothing shows we are not
the market)."""

from __future__ import annotations

import time
from pathlib import Path

from core.types import Side
from daemon.node import Node
from risk.reasons import DenyReason
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_node import new_orders, node_config, started, twap, venue

__all__ = ["venue"]  # the fixture


def _market_volume(node: Node) -> int:
    return node.risk._symbols[SYMBOL].market_volume.total  # what the cap compares against


async def test_after_a_restart_the_participation_window_is_rebuilt_and_the_parent_trades(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    cfg = node_config(tmp_path, venue)
    node = await started(cfg)
    try:
        for _ in range(10):  # the tape: 100,000 shares within the window
            venue.md.publish_trade(SYMBOL, 22_001, 10_000, Side.BUY, time.time_ns())
        await eventually(lambda: _market_volume(node) >= 100_000, what="the prints seen")
    finally:
        await node.stop()
    again = await started(cfg)
    try:
        assert _market_volume(again) >= 100_000
        await again.submit_parent("P2", twap())  # no prints since the restart
        await eventually(venue.live, what="a child order sent after the restart")
        assert again.risk.denials[DenyReason.PARTICIPATION_CAP] == 0
    finally:
        await again.stop()


async def test_with_no_volume_history_the_participation_cap_denies(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node = await started(node_config(tmp_path, venue))
    try:
        await node.submit_parent("P1", twap())
        await eventually(
            lambda: node.risk.denials[DenyReason.PARTICIPATION_CAP] > 0, what="a denial"
        )
        assert new_orders(venue) == []
    finally:
        await node.stop()

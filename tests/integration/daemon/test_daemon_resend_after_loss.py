"""A NewOrderSingle lost on the wire, then the venue's ResendRequest (issue 13, item 4).

The daemon talks to the scripted venue through a relay that loses one message; the
venue notices the gap at the daemon's next heartbeat and asks for a resend, as after a
silent partition. A stale order must be gap-filled and settled as never sent (the venue
never sees it); a fresh one the node still wants goes again with PossDupFlag=Y.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.types import OrdStatus
from daemon.node import Node
from tests.integration.daemon.daemon_venue import ScriptedVenue, eventually
from tests.integration.daemon.lossy_link import LossyLink
from tests.integration.daemon.test_daemon_node import (
    new_orders,
    node_config,
    started,
    venue,
    working_twap,
)

__all__ = ["venue"]  # the fixture, imported for pytest

NEW_ORDER = b"\x0135=D\x01"


@pytest.fixture
async def link(venue: ScriptedVenue) -> AsyncIterator[LossyLink]:
    relay = LossyLink(venue.fix_port)
    await relay.start()
    yield relay
    await relay.stop()


async def _node(tmp_path: Path, venue: ScriptedVenue, link: LossyLink, **extra: str) -> Node:
    cfg = node_config(
        tmp_path,
        venue,
        RLEXEC__FIX__PORT=str(link.port),
        RLEXEC__FIX__SESSION__HEARTBEAT_INTERVAL_S="1",  # the venue sees the gap within 1 s
        RLEXEC__EXECUTION__ACK_TIMEOUT_S="60",  # the resend path, not the ack timeout, acts
        **extra,
    )
    return await started(cfg)


async def test_a_lost_order_found_stale_on_resend_is_gap_filled_and_settled_as_never_sent(
    tmp_path: Path, venue: ScriptedVenue, link: LossyLink
) -> None:
    # Nothing else goes out for a while (decisions 5 s apart), so the venue notices the
    # gap only at the next heartbeat, ~1 s later: by then the order is past its 0.2 s.
    node = await _node(
        tmp_path,
        venue,
        link,
        RLEXEC__FIX__SESSION__MAX_ORDER_RESEND_AGE_S="0.2",
        RLEXEC__EXECUTION__DECISION_INTERVAL_S="5",
    )
    try:
        link.lose_next = NEW_ORDER
        await working_twap(node, venue, wait=False)
        await eventually(lambda: link.lost, what="the NewOrderSingle lost on the wire")
        (child,) = node.engine.tracker.live()
        lost_id = child.cl_ord_id
        await eventually(
            lambda: child.status is OrdStatus.REJECTED, timeout=10, what="settled: never sent"
        )
        assert node.router.initiator.session.stats.messages_not_resent >= 1
        assert node.metrics.fix_not_resent._value.get() >= 1  # said in metrics too
        assert lost_id in venue.status_requests  # asked, not assumed
        assert lost_id not in {r.cl_ord_id for r in new_orders(venue)}  # never reached it
        assert lost_id not in {o.cl_ord_id for o in node.risk.open_orders()}
        assert not any(h.startswith("internal_error") for h in node.halts)
    finally:
        await node.stop()


async def test_a_lost_order_still_wanted_and_fresh_is_resent_and_acked(
    tmp_path: Path, venue: ScriptedVenue, link: LossyLink
) -> None:
    # The next decision (0.1 s later) shows the venue the gap at once; 5 s is the default.
    node = await _node(tmp_path, venue, link)
    try:
        link.lose_next = NEW_ORDER
        await working_twap(node, venue, wait=False)
        await eventually(lambda: link.lost, what="the NewOrderSingle lost on the wire")
        (child,) = node.engine.tracker.live()
        await eventually(lambda: child.status is OrdStatus.NEW, timeout=10, what="resent, acked")
        assert [r.cl_ord_id for r in new_orders(venue)].count(child.cl_ord_id) == 1
        assert node.router.initiator.session.stats.messages_not_resent == 0
    finally:
        await node.stop()

"""Hot swap with parents in flight (issue 19 item 5): a signed ``load_policy`` over a real
redis-server while two policy parents trade against a venue over real FIX and websocket
on loopback.

What must hold: the swap lands between decisions; no parent is restarted, interrupted or
duplicated; every decision after the reply is the new policy's, made on observations
normalised with the new artifact's statistics; an artifact reading another feature
layout is refused while parents run, and the old policy stays.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import structlog
import torch

from core.parent import ParentState
from daemon.control.client import send_command
from daemon.control.commands import SubmitParent
from daemon.node import DEFAULT_POLICY_DIR, Node
from policies.artifact import artifact_digest, load_artifact, save_artifact
from policies.features import FeatureBuilder, FeatureSpec, Normaliser
from tests.conftest import RedisServer
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_node import new_orders, node_config, started, venue

__all__ = ["venue"]  # the fixture


def retrained_copy(out: Path, seed: int = 7, *, manifest: dict[str, Any] | None = None) -> str:
    """The committed policy with other weights and other normalisation statistics, in the
    same feature layout: what a retrain writes (``manifest``: more of its manifest, e.g.
    tuned baselines). Returns its digest."""
    art = load_artifact(DEFAULT_POLICY_DIR)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in art.net.parameters():
            t.add_(0.05 * torch.randn(t.shape, generator=gen))
    norm = art.normaliser
    shifted = Normaliser(norm.mean + 0.25 * norm.std, norm.std * np.float32(1.5), norm.clip)
    return save_artifact(
        out,
        art.net,
        feature_spec=art.feature_spec,
        normaliser=shifted,
        action_spec=art.action_spec,
        extra={"name": "retrained_copy", **(manifest or {})},
    )


def other_layout_copy(out: Path) -> str:
    """The committed weights (feature set v1) relabelled as set v2: as many inputs, other
    features. The network shape fits, so nothing but the layout check can refuse it."""
    art = load_artifact(DEFAULT_POLICY_DIR)
    spec = art.feature_spec
    assert spec.version == 1
    v2 = FeatureSpec.of_version(
        2, lookback=spec.lookback, decision_interval_s=spec.decision_interval_s
    )
    return save_artifact(
        out,
        art.net,
        feature_spec=v2,
        normaliser=art.normaliser,
        action_spec=art.action_spec,
        extra={"name": "v2_layout"},
    )


@pytest.fixture
async def node(
    tmp_path: Path, venue: ScriptedVenue, redis_server: RedisServer
) -> AsyncIterator[tuple[Node, bytes]]:
    key = secrets.token_hex(32).encode()
    (tmp_path / "key").write_bytes(key + b"\n")
    cfg = node_config(
        tmp_path,
        venue,
        RLEXEC__REDIS__ENABLED="true",
        RLEXEC__REDIS__URL=redis_server.url,
        RLEXEC__CONTROL__HMAC_KEY_FILE=str(tmp_path / "key"),
    )
    n = await started(cfg)
    try:
        yield n, key
    finally:
        await n.stop()


async def two_parents_deciding(node: Node) -> list[str]:
    node.engine.on_market_trade(SYMBOL, 1_000_000, node.clock.now_ns())
    ids = ["P1", "P2"]
    await node.submit_parent("P1", SubmitParent(symbol=SYMBOL, side="buy", qty=400, duration_s=120))
    await node.submit_parent(
        "P2", SubmitParent(symbol=SYMBOL, side="sell", qty=400, duration_s=120)
    )
    await eventually(
        lambda: all(node.runners[p].decisions >= 3 for p in ids), what="both parents deciding"
    )
    return ids


async def test_a_signed_load_policy_over_redis_swaps_between_decisions_with_parents_in_flight(
    node: tuple[Node, bytes], venue: ScriptedVenue, redis_server: RedisServer, tmp_path: Path
) -> None:
    n, key = node
    digest = retrained_copy(tmp_path / "retrained")
    ids = await two_parents_deciding(n)
    old = n.policy
    runners = {p: n.runners[p] for p in ids}
    tasks = {p: r._task for p, r in runners.items()}
    # children in flight across the swap: the venue holds their acks back until after it
    venue.hold_acks = True
    sent_before = len(new_orders(venue))
    await eventually(lambda: len(new_orders(venue)) > sent_before, what="a child in flight")
    with structlog.testing.capture_logs() as logs:
        reply = await send_command(
            redis_server.url,
            "load_policy",
            {"path": str(tmp_path / "retrained"), "sha256": digest},
            key=key,
        )
        assert reply["ok"], reply
        assert reply["result"]["digest"] == digest
        new = n.policy
        assert new is not old and new.artifact.digest == digest
        # the reply is written after the swap, on the loop the decisions run on: from here
        # on, no decision can be the old policy's
        old_decisions = old.decisions
        decided = {p: r.decisions for p, r in runners.items()}
        await eventually(
            lambda: all(runners[p].decisions >= decided[p] + 2 for p in ids),
            what="decisions with the acks still held",
        )
        venue.release_acks()
        await eventually(
            lambda: all(runners[p].decisions >= decided[p] + 5 for p in ids),
            what="five more decisions per parent",
        )
    assert old.decisions == old_decisions
    # every decision was made by exactly one of the two policies: none lost, none twice
    assert sum(r.decisions for r in runners.values()) == old.decisions + new.decisions
    assert new.decisions >= 10
    for p, runner in runners.items():
        assert n.runners[p] is runner and runner._task is tasks[p] and not runner.done
        assert runner.parent.state is ParentState.WORKING
        assert runner.driver.policy is new
        # observations are normalised with the new artifact's statistics, from the same
        # (warm) feature state
        builder = runner.driver.builder
        assert isinstance(builder, FeatureBuilder)
        assert builder.normaliser is new.artifact.normaliser
        obs = builder.normaliser(builder.last_raw)
        assert np.array_equal(obs, new.artifact.normaliser(builder.last_raw))
    sent = [r.cl_ord_id for r in new_orders(venue)]
    assert len(sent) == len(set(sent))  # no child sent twice
    known = {o.cl_ord_id for o in n.engine.tracker.orders.values()}
    assert {o.cl_ord_id for o in venue.live()} <= known  # nothing at the venue the node lost
    (swapped,) = [e for e in logs if e["event"] == "policy_swapped"]
    assert swapped["new_digest"] == digest and swapped["old_digest"] == old.artifact.digest
    assert sorted(swapped["parents"]) == ids


async def test_a_policy_of_another_feature_layout_is_refused_while_parents_run(
    node: tuple[Node, bytes], redis_server: RedisServer, tmp_path: Path
) -> None:
    n, key = node
    digest = other_layout_copy(tmp_path / "v2")
    ids = await two_parents_deciding(n)
    old = n.policy
    reply = await send_command(
        redis_server.url, "load_policy", {"path": str(tmp_path / "v2"), "sha256": digest}, key=key
    )
    assert reply["ok"] is False, reply
    message = reply["error"]["message"]
    assert "feature layout differs" in message and "the loaded policy stays" in message
    assert "2 parent(s)" in message
    assert n.policy is old
    before = {p: n.runners[p].decisions for p in ids}
    await eventually(
        lambda: all(n.runners[p].decisions > before[p] + 2 for p in ids),
        what="the parents deciding on",
    )
    for p in ids:
        runner = n.runners[p]
        assert runner.driver.policy is old and not runner.done
        builder = runner.driver.builder
        assert isinstance(builder, FeatureBuilder)
        assert builder.normaliser is old.artifact.normaliser
    # with no policy parent running, the same artifact loads (new parents get its layout)
    for p in ids:
        await n.cancel_parent(p)
    await eventually(lambda: all(n.runners[p].done for p in ids), what="the parents finished")
    reply = await send_command(
        redis_server.url, "load_policy", {"path": str(tmp_path / "v2"), "sha256": digest}, key=key
    )
    assert reply["ok"], reply
    assert n.policy.artifact.digest == artifact_digest(tmp_path / "v2")

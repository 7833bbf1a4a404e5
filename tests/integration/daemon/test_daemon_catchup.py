"""Algo ``catchup`` (passive at the touch with catch-up crossing) in the node: commands
over a real redis-server, orders over real FIX and websocket on loopback to the scripted
venue.

What must hold: its tolerance is the node's, resolved once at start (config, else the
starting artifact's tuned value) and named with its source; without one a submit naming
catchup is refused, saying how to enable it, and creates nothing; a hot swap changes
neither running catchup parents' tolerance nor new ones'; a restart resumes each parent
with the algo and tolerance it was given, whatever the config says by then. The same
holds for the urgency (the line the tolerance is measured against): an artifact that
tuned a front-loaded line runs catchup along it, and a restart keeps it.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.types import OrdType
from daemon.config import DaemonConfig
from daemon.control.client import send_command
from daemon.control.commands import SubmitParent
from daemon.journal import Journal
from daemon.node import DEFAULT_POLICY_DIR, Node
from policies.baselines import PassiveCatchUp, TwapSchedule
from policies.baselines.schedules import FrontLoadedSchedule
from policies.learned import load_policy
from tests.captured_logs import captured_logs
from tests.conftest import RedisServer
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_hot_swap import retrained_copy
from tests.integration.daemon.test_daemon_node import new_orders, node_config, started, venue

__all__ = ["venue"]  # the fixture

TOLERANCE = "RLEXEC__EXECUTION__CATCHUP_TOLERANCE"


def submit(parent_id: str, algo: str = "catchup") -> dict[str, object]:
    return {
        "symbol": SYMBOL,
        "side": "buy",
        "qty": 600,
        "duration_s": 60,
        "parent_id": parent_id,
        "algo": algo,
    }


def tuned_copy(out: Path, tolerance: float, urgency: float | None = None) -> str:
    """A retrained artifact whose manifest carries the schedule baselines and a tuned
    catch-up tolerance (and urgency, unless None: a manifest from before it), as
    ``rlexec train`` writes them. Returns its digest."""
    baselines = load_policy(DEFAULT_POLICY_DIR).artifact.manifest["baselines"]
    tuned: dict[str, object] = {
        "tolerance": tolerance,
        "chosen_by": "lowest mean IS over 64 training episodes",
    }
    if urgency is not None:
        tuned["urgency"] = urgency
    return retrained_copy(out, manifest={"baselines": {**baselines, "passive_catchup": tuned}})


def catchup_tolerance_of(node: Node, parent_id: str) -> float:
    runner = node.runners[parent_id]
    assert runner.algo == "catchup"
    policy = runner.driver.policy
    assert isinstance(policy, PassiveCatchUp)
    return policy.tolerance


@pytest.fixture
async def key(tmp_path: Path) -> bytes:
    key = secrets.token_hex(32).encode()
    (tmp_path / "key").write_bytes(key + b"\n")
    return key


def redis_config(tmp_path: Path, redis: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "RLEXEC__REDIS__ENABLED": "true",
        "RLEXEC__REDIS__URL": redis.url,
        "RLEXEC__CONTROL__HMAC_KEY_FILE": str(tmp_path / "key"),
        **extra,
    }


@pytest.fixture
async def node_without_tolerance(
    tmp_path: Path, venue: ScriptedVenue, redis_server: RedisServer, key: bytes
) -> AsyncIterator[Node]:
    cfg = node_config(tmp_path, venue, **redis_config(tmp_path, redis_server))
    n = await started(cfg)
    try:
        yield n
    finally:
        await n.stop()


async def test_a_catchup_submit_on_a_node_without_a_tolerance_is_refused_saying_how_to_enable_it_and_creates_nothing(
    node_without_tolerance: Node, venue: ScriptedVenue, redis_server: RedisServer
) -> None:
    n = node_without_tolerance
    n.engine.on_market_trade(SYMBOL, 100_000, n.clock.now_ns())
    reply = await send_command(redis_server.url, "submit_parent", submit("C1"))
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == "rejected"
    message = reply["error"]["message"]
    assert message.startswith("algo catchup is unavailable on this node: ")
    assert "[execution] catchup_tolerance is not set" in message
    assert f"artifact {DEFAULT_POLICY_DIR} has no baselines.passive_catchup.tolerance" in message
    assert "0.20 on AMZN and AAPL 09:30-12:00, 0.30 on AMZN alone" in message
    # nothing was created: no parent, no runner, nothing journalled for it, nothing sent
    assert n.engine.parents == {} and n.runners == {}
    journal = Journal(n.cfg.node.data_dir / "journal.db")
    try:
        kinds = {rec.kind for rec in journal.records()}
    finally:
        journal.close()
    assert not kinds & {"parent", "parent_algo", "new"}, kinds
    assert not venue.requests
    status = await send_command(redis_server.url, "status")
    assert status["result"]["catchup"] == {
        "available": False,
        "tolerance": None,
        "urgency": None,
        "source": message.removeprefix("algo catchup is unavailable on this node: "),
    }
    # the node runs the other algos as before
    reply = await send_command(redis_server.url, "submit_parent", submit("T1", "twap"))
    assert reply["ok"], reply


async def test_a_catchup_parent_submitted_over_redis_rests_at_the_touch_with_the_configured_tolerance(
    tmp_path: Path, venue: ScriptedVenue, redis_server: RedisServer, key: bytes
) -> None:
    cfg = node_config(tmp_path, venue, **redis_config(tmp_path, redis_server, **{TOLERANCE: "0.1"}))
    with captured_logs() as logs:
        n = await started(cfg)
    try:
        (line,) = [e for e in logs if e["event"] == "catchup_tolerance"]
        assert (line["tolerance"], line["source"]) == (0.1, "config [execution] catchup_tolerance")
        n.engine.on_market_trade(SYMBOL, 100_000, n.clock.now_ns())
        reply = await send_command(redis_server.url, "submit_parent", submit("C1"))
        assert reply["ok"], reply
        assert catchup_tolerance_of(n, "C1") == 0.1
        await eventually(venue.live, what="a child resting at the venue")
        (child,) = new_orders(venue)
        book = n.md.book(SYMBOL)
        assert book is not None
        # passive, at our touch (a buy rests at the bid), not crossing
        assert child.ord_type is OrdType.LIMIT and child.tif.rests
        assert child.price == book.best_bid
        status = await send_command(redis_server.url, "status")
        (view,) = status["result"]["parents"]
        assert (view["algo"], view["tolerance"]) == ("catchup", 0.1)
    finally:
        await n.stop()


async def test_a_hot_swap_changes_neither_running_catchup_parents_tolerance_and_urgency_nor_those_of_new_ones(
    tmp_path: Path, venue: ScriptedVenue, redis_server: RedisServer, key: bytes
) -> None:
    digest = tuned_copy(tmp_path / "tuned", 0.3, urgency=2.0)
    cfg = node_config(tmp_path, venue, **redis_config(tmp_path, redis_server, **{TOLERANCE: "0.1"}))
    n = await started(cfg)
    try:
        n.engine.on_market_trade(SYMBOL, 1_000_000, n.clock.now_ns())
        assert (await send_command(redis_server.url, "submit_parent", submit("C1")))["ok"]
        await eventually(lambda: n.runners["C1"].decisions >= 3, what="the catchup parent deciding")
        tactic = n.runners["C1"].driver.policy
        with captured_logs() as logs:
            reply = await send_command(
                redis_server.url,
                "load_policy",
                {"path": str(tmp_path / "tuned"), "sha256": digest},
                key=key,
            )
        assert reply["ok"], reply
        assert n.policy.artifact.digest == digest
        decided = n.runners["C1"].decisions
        await eventually(
            lambda: n.runners["C1"].decisions >= decided + 3, what="decisions after the swap"
        )
        # the running parent decides with the same tactic object, at the same tolerance
        assert n.runners["C1"].driver.policy is tactic
        assert catchup_tolerance_of(n, "C1") == 0.1
        # a new catchup parent gets the node's tolerance, not the loaded artifact's
        assert (await send_command(redis_server.url, "submit_parent", submit("C2")))["ok"]
        assert catchup_tolerance_of(n, "C2") == 0.1
        # ... and the node's straight line, not the loaded artifact's front-loaded one
        assert catchup_line_of(n, "C1") == catchup_line_of(n, "C2") == (0.1, 0.0, "twap")
        (kept,) = [e for e in logs if e["event"] == "catchup_tolerance_kept"]
        assert (kept["tolerance"], kept["loaded_artifact_tuned"]) == (0.1, 0.3)
        assert (kept["urgency"], kept["loaded_artifact_tuned_urgency"]) == (0.0, 2.0)
        status = await send_command(redis_server.url, "status")
        assert status["result"]["catchup"]["tolerance"] == 0.1
        assert status["result"]["catchup"]["urgency"] == 0.0
    finally:
        await n.stop()


async def test_a_node_started_on_an_artifact_with_a_tuned_tolerance_runs_catchup_with_it_and_names_it(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    tuned_copy(tmp_path / "tuned", 0.3)
    cfg = node_config(tmp_path, venue, RLEXEC__POLICY__PATH=str(tmp_path / "tuned"))
    with captured_logs() as logs:
        n = await started(cfg)
    try:
        (line,) = [e for e in logs if e["event"] == "catchup_tolerance"]
        assert line["tolerance"] == 0.3
        assert line["source"] == (
            f"artifact {tmp_path / 'tuned'} baselines.passive_catchup.tolerance "
            "(lowest mean IS over 64 training episodes)"
        )
        n.engine.on_market_trade(SYMBOL, 100_000, n.clock.now_ns())
        await n.submit_parent("C1", SubmitParent.model_validate(submit("C1")))
        assert catchup_tolerance_of(n, "C1") == 0.3
    finally:
        await n.stop()


async def stopped_with_parents_open(
    tmp_path: Path, venue: ScriptedVenue, algos: dict[str, str]
) -> DaemonConfig:
    """A node at tolerance 0.1 that submitted ``algos`` (parent id -> algo), each with a
    child resting, then stopped: the parents stay open, as after a crash."""
    cfg = node_config(tmp_path, venue, **{TOLERANCE: "0.1"})
    n = await started(cfg)
    try:
        n.engine.on_market_trade(SYMBOL, 100_000, n.clock.now_ns())
        for parent_id, algo in algos.items():
            await n.submit_parent(parent_id, SubmitParent.model_validate(submit(parent_id, algo)))
        await eventually(lambda: len(venue.live()) == len(algos), what="every child resting")
    finally:
        await n.stop()
    return cfg


async def test_a_restarted_node_resumes_each_parent_with_the_algo_and_tolerance_it_was_given(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    await stopped_with_parents_open(tmp_path, venue, {"C1": "catchup", "T1": "twap"})
    # restarted without the tolerance: catchup is no longer offered for new parents
    again = await started(node_config(tmp_path, venue))
    try:
        assert {p: again.runners[p].algo for p in ("C1", "T1")} == {"C1": "catchup", "T1": "twap"}
        assert catchup_tolerance_of(again, "C1") == 0.1
        assert again.runners["C1"].driver.policy is not again.policy
        assert again.runners["T1"].driver.policy is not again.policy
        with pytest.raises(ValueError, match="algo catchup is unavailable on this node"):
            await again.submit_parent("C2", SubmitParent.model_validate(submit("C2")))
    finally:
        await again.stop()


async def test_a_parent_whose_algo_record_does_not_read_is_not_resumed_and_the_halt_names_it(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    cfg = await stopped_with_parents_open(tmp_path, venue, {"C1": "catchup"})
    db = sqlite3.connect(cfg.node.data_dir / "journal.db")
    (seq,) = db.execute("SELECT seq FROM records WHERE kind = 'parent_algo'").fetchone()
    db.execute(
        "UPDATE records SET body = ? WHERE seq = ?",
        (b'{"parent_id": "C1", "algo": "catchup"}', seq),
    )
    db.commit()
    db.close()
    again = Node(cfg)
    await again.start()
    try:
        assert f"record {seq} (parent_algo)" in again.halts["recovery"]
        assert "algo catchup with tolerance None" in again.halts["recovery"]
        assert "C1" not in again.runners  # neither as catchup at a guess nor as the policy
        assert not again.may_trade(SYMBOL)
        await eventually(lambda: again.recovered, what="venue reconciliation")
        await eventually(lambda: not venue.live(), what="the resting child cancelled")
        assert (await again.cancel_parent("C1"))["state"] == "canceled"
    finally:
        await again.stop()


def catchup_line_of(node: Node, parent_id: str) -> tuple[float, float, str]:
    """The tolerance, urgency and line (schedule name) a catchup parent works."""
    policy = node.runners[parent_id].driver.policy
    assert isinstance(policy, PassiveCatchUp)
    return policy.tolerance, policy.urgency, policy.schedule.name


async def test_a_node_on_an_artifact_that_tuned_an_urgency_runs_catchup_along_the_front_loaded_line_and_a_restart_keeps_it(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    tuned_copy(tmp_path / "tuned", 0.3, urgency=2.0)
    cfg = node_config(tmp_path, venue, RLEXEC__POLICY__PATH=str(tmp_path / "tuned"))
    with captured_logs() as logs:
        n = await started(cfg)
    try:
        (line,) = [e for e in logs if e["event"] == "catchup_tolerance"]
        assert (line["tolerance"], line["urgency"]) == (0.3, 2.0)
        assert line["source"].startswith(
            f"artifact {tmp_path / 'tuned'} baselines.passive_catchup.tolerance and .urgency"
        )
        assert n.status()["catchup"]["urgency"] == 2.0
        n.engine.on_market_trade(SYMBOL, 100_000, n.clock.now_ns())
        await n.submit_parent("C1", SubmitParent.model_validate(submit("C1")))
        assert catchup_line_of(n, "C1") == (0.3, 2.0, FrontLoadedSchedule.name)
        tactic = n.runners["C1"].driver.policy
        assert isinstance(tactic, PassiveCatchUp)
        assert isinstance(tactic.schedule, FrontLoadedSchedule)
        assert tactic.schedule.urgency == 2.0
        await eventually(venue.live, what="a child resting at the venue")
        (view,) = n.status()["parents"]
        assert (view["algo"], view["tolerance"], view["urgency"]) == ("catchup", 0.3, 2.0)
    finally:
        await n.stop()
    journal = Journal(cfg.node.data_dir / "journal.db")
    try:
        (record,) = [r.payload for r in journal.records() if r.kind == "parent_algo"]
    finally:
        journal.close()
    assert record == {"parent_id": "C1", "algo": "catchup", "tolerance": 0.3, "urgency": 2.0}
    # restarted on the committed artifact at a configured straight line: the open parent
    # resumes along the line it was given, new ones get the node's new setting
    again = await started(node_config(tmp_path, venue, **{TOLERANCE: "0.1"}))
    try:
        assert catchup_line_of(again, "C1") == (0.3, 2.0, FrontLoadedSchedule.name)
        await again.submit_parent("C2", SubmitParent.model_validate(submit("C2")))
        assert catchup_line_of(again, "C2") == (0.1, 0.0, TwapSchedule.name)
    finally:
        await again.stop()

"""The market models in the live node, over real FIX and websocket on loopback.

AMZN's LOBSTER touch (2012-06-21, from 09:35) is replayed through the scripted venue's
market-data publisher into the node, whose clock is a simulated one the test moves frame
by frame, so every statistic the models read is the same on every run. Assessments are
called by the test at chosen market times ([signals] assess_every_s is set beyond the
test's length) except where the cadence itself is what is tested.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from core.clock import SimClock
from core.requests import NewOrderRequest
from core.types import Side
from daemon.config import DaemonConfig
from daemon.control.commands import SubmitParent
from daemon.node import Node, NodeStartError
from exchange.data import SHIPPED_DATA
from risk.reasons import Denied
from signals.recording import read_decisions
from signals.short_horizon import SignalServer
from tests.captured_logs import captured_logs
from tests.integration.daemon.daemon_venue import SYMBOL, ScriptedVenue, eventually
from tests.integration.daemon.test_daemon_node import node_config

NS = 1_000_000_000
DAY_NS = 1_340_236_800 * NS  # 2012-06-21 00:00, the replay's midnight (local time as UTC)
START_S = 9 * 3600 + 35 * 60  # 09:35: past the opening auction's noise
WARM_S = 330  # past the anomaly detectors' 5-minute warm-up
STEP_S = 0.5


def lobster_touch(seconds: float) -> list[tuple[int, int, int, int, int]]:
    """(ts_ns, bid, bid size, ask, ask size) every STEP_S from START_S for ``seconds``:
    the touch that held at each step in AMZN's level-1 file, prices in cents (ticks)."""
    folder = SHIPPED_DATA / "lobster" / "AMZN_2012-06-21_1"
    end_s = START_S + seconds
    times: list[float] = []
    rows: list[list[int]] = []
    with (
        gzip.open(next(folder.glob("*message_1.csv.gz")), "rt") as msg,
        gzip.open(next(folder.glob("*orderbook_1.csv.gz")), "rt") as book,
    ):
        for m, b in zip(msg, book, strict=True):
            t = float(m.split(",", 1)[0])
            if t > end_s:
                break
            times.append(t)
            rows.append([int(x) for x in b.split(",")])
    t_arr = np.asarray(times)
    out = []
    for k in range(int(seconds / STEP_S)):
        t = START_S + k * STEP_S
        i = int(np.searchsorted(t_arr, t, side="right")) - 1
        ask, ask_size, bid, bid_size = rows[i]
        out.append((DAY_NS + round(t * NS), bid // 100, bid_size, ask // 100, ask_size))
    return out


class Replay:
    """Moves the node's clock to each frame's time, publishes the touch as a delta and
    waits until the node's tracker has taken it."""

    def __init__(self, node: Node, venue: ScriptedVenue, clock: SimClock) -> None:
        self.node, self.venue, self.clock = node, venue, clock
        book = venue.md.books[SYMBOL]
        self.touch = (book.best_bid, book.best_bid_size, book.best_ask, book.best_ask_size)

    async def frame(self, ts_ns: int, bid: int, bid_size: int, ask: int, ask_size: int) -> None:
        self.clock.advance_to(max(ts_ns, self.clock.now_ns()))
        if (bid, bid_size, ask, ask_size) == self.touch:
            return
        # the book becomes this touch alone: every other level goes
        bids, asks = self.venue.md.books[SYMBOL].snapshot()
        changes = [(Side.BUY, p, 0) for p, _ in bids if p != bid]
        changes += [(Side.SELL, p, 0) for p, _ in asks if p != ask]
        changes += [(Side.BUY, bid, bid_size), (Side.SELL, ask, ask_size)]
        self.venue.md.publish_delta(SYMBOL, changes, ts_ns)
        self.touch = (bid, bid_size, ask, ask_size)
        tracker = self.node.signals.symbols[SYMBOL].tracker  # type: ignore[union-attr]
        for _ in range(5000):
            if (tracker.bid, tracker.bid_size, tracker.ask, tracker.ask_size) == self.touch:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"the node's tracker never saw the touch {self.touch}")


@pytest.fixture
async def venue() -> AsyncIterator[ScriptedVenue]:
    v = ScriptedVenue(market_ns=DAY_NS + START_S * NS - NS)
    await v.start()
    yield v
    await v.stop()


def signals_config(tmp: Path, venue: ScriptedVenue, **extra: str) -> DaemonConfig:
    settings = {
        "RLEXEC__SIGNALS__ASSESS_EVERY_S": "60",  # the test assesses, at chosen times
        "RLEXEC__MARKETDATA__STALE_AFTER_S": "5",
        **extra,
    }
    return node_config(tmp, venue, **settings)


async def replayed_node(
    tmp: Path, venue: ScriptedVenue, seconds: float
) -> tuple[Node, Replay, list[tuple[int, int, int, int, int]]]:
    clock = SimClock(venue.market_ns)
    node = Node(signals_config(tmp, venue), clock=clock)
    await node.start()
    await eventually(lambda: node.recovered and not node.halts, what="node trading")
    replay = Replay(node, venue, clock)
    frames = lobster_touch(seconds)
    for f in frames[: int(WARM_S / STEP_S)]:
        await replay.frame(*f)
    return node, replay, frames[int(WARM_S / STEP_S) :]


async def open_the_spread(node: Node, replay: Replay, frame: tuple[int, int, int, int, int]) -> None:  # fmt: skip
    """The anomaly: ``frame``'s touch with the spread opened to ~6x its mean around the
    same mid."""
    ts, bid, bsz, ask, asz = frame
    assert node.signals is not None
    wide = round(3 * node.signals.symbols[SYMBOL].tracker.mean_spread)
    await replay.frame(ts, bid - wide, bsz, ask + wide, asz)


def order_between_caps(node: Node, cl_ord_id: str) -> NewOrderRequest:
    """A sell at the touch sized at 3/4 of the configured caps: inside them, outside
    half of them."""
    lim = node.risk.limits.symbols[SYMBOL]
    book = node.md.book(SYMBOL)
    assert book is not None and book.best_bid is not None
    price = book.best_bid
    by_notional = int(float(lim.max_order_notional) / (price * 0.01))
    qty = int(0.75 * min(lim.max_order_qty, by_notional))
    return NewOrderRequest(cl_ord_id, SYMBOL, Side.SELL, qty, price)


def sample(node: Node, name: str, **labels: str) -> float | None:
    return node.metrics.registry.get_sample_value(name, labels)


async def test_a_spread_jump_in_replayed_amzn_data_tightens_the_overlay_until_released(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node, replay, frames = await replayed_node(tmp_path, venue, WARM_S + 240)
    try:
        assert node.signals is not None
        node.signals.assess(SYMBOL)
        assert not node.signals.dynamic.posture(SYMBOL).tightened, "quiet market: no posture"
        node.engine.on_market_trade(SYMBOL, 1_000_000, node.clock.now_ns())
        approved = node.risk.check_new(order_between_caps(node, "before"), node.clock.now_ns())
        assert not isinstance(approved, Denied), approved

        ts = frames[0][0]
        with captured_logs() as logs:
            await open_the_spread(node, replay, frames[0])
            a = node.signals.assess(SYMBOL)
        assert a is not None and "spread_jump" in {r.source for r in a.requests}
        posture = node.signals.dynamic.posture(SYMBOL)
        configured = node.signals.dynamic.configured.symbols[SYMBOL]
        assert node.risk.limits.symbols[SYMBOL] is configured  # the configuration stays
        assert posture.limits.max_order_qty == configured.max_order_qty // 2
        denied = node.risk.check_new(order_between_caps(node, "during"), node.clock.now_ns())
        assert isinstance(denied, Denied), "the tightened posture must deny it"
        assert denied.reason.name.startswith("MAX_ORDER"), denied
        assert sample(node, "rlexec_risk_posture_changes_total", symbol=SYMBOL,
                      source="spread_jump", action="tighten") == 1  # fmt: skip
        assert sample(node, "rlexec_risk_posture_scale", symbol=SYMBOL, cap="order_qty") == 0.5
        # (a spread that wide also reads as a thin market: regime_thin may tighten too)
        line = next(
            e for e in logs if e["event"] == "risk_posture_changed" and e["source"] == "spread_jump"
        )
        assert line["action"] == "tighten"
        assert (
            line["old_max_order_qty"] > line["new_max_order_qty"] == configured.max_order_qty // 2
        )
        assert "spread" in line["why"]

        # the touch comes back; 30 s of quiet market time later spread_jump is released,
        # and once the regime reads the market as it was, the configured limits are back
        released_after_s = None
        for f in frames[1:]:
            await replay.frame(*f)
            if f[0] % NS:
                continue
            node.signals.assess(SYMBOL)  # once a market second, as the cadence would
            if released_after_s is None and "spread_jump" not in node.signals.dynamic.asks(SYMBOL):
                released_after_s = (f[0] - ts) / NS
            if not node.signals.dynamic.posture(SYMBOL).tightened:
                break
        assert released_after_s is not None and 30 <= released_after_s <= 32
        assert not node.signals.dynamic.posture(SYMBOL).tightened
        assert sample(node, "rlexec_risk_posture_changes_total", symbol=SYMBOL,
                      source="spread_jump", action="release") == 1  # fmt: skip
        assert sample(node, "rlexec_risk_posture_scale", symbol=SYMBOL, cap="order_qty") == 1.0
        again = node.risk.check_new(order_between_caps(node, "after"), node.clock.now_ns())
        assert not isinstance(again, Denied), again
    finally:
        await node.stop()


async def test_a_non_finite_signal_tightens_as_a_model_fault_and_lapses_after_its_ttl(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node, replay, frames = await replayed_node(tmp_path, venue, WARM_S + 80)
    try:
        assert node.signals is not None
        sym = node.signals.symbols[SYMBOL]
        good = sym.server
        # the fault: a model whose every prediction is NaN (the loader refuses such an
        # artifact, so it is built in memory)
        model = good.model
        sym.server = SignalServer(
            dataclasses.replace(model, trees=dataclasses.replace(model.trees, base=float("nan")))
        )
        signal, _ = node.signals.at_decision(SYMBOL, node.clock.now_ns())
        sym.server = good
        assert signal is None
        posture = node.signals.dynamic.posture(SYMBOL)
        assert posture.sources == ("model_fault",)
        assert sample(node, "rlexec_signal_model_faults_total", symbol=SYMBOL, model="signal") == 1
        # nothing renews it: it lapses 60 s of market time later, at an assessment
        for f in frames[: int(70 / STEP_S)]:
            await replay.frame(*f)
        node.signals.assess(SYMBOL)
        assert not node.signals.dynamic.posture(SYMBOL).tightened
        assert sample(node, "rlexec_risk_posture_changes_total", symbol=SYMBOL,
                      source="model_fault", action="expire") == 1  # fmt: skip
    finally:
        await node.stop()


async def test_the_cadence_assesses_on_its_own(tmp_path: Path, venue: ScriptedVenue) -> None:
    clock = SimClock(venue.market_ns)
    node = Node(
        signals_config(tmp_path, venue, RLEXEC__SIGNALS__ASSESS_EVERY_S="0.05"), clock=clock
    )
    await node.start()
    try:
        replay = Replay(node, venue, clock)
        for f in lobster_touch(20):
            await replay.frame(*f)
        assert node.signals is not None
        sym = node.signals.symbols[SYMBOL]
        await eventually(lambda: sym.assessed_ns == clock.now_ns(), what="an assessment")
        p = sample(node, "rlexec_signal_regime_probability", symbol=SYMBOL, regime="volatile")
        assert p is not None and 0 <= p <= 1
    finally:
        await node.stop()


async def test_a_corrupt_model_artifact_refuses_the_start_unless_signals_are_off(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    from signals.train import ARTIFACTS

    bad = tmp_path / "models"
    for d in ARTIFACTS.iterdir():
        if d.is_dir():
            (bad / d.name).mkdir(parents=True)
            for f in d.iterdir():
                (bad / d.name / f.name).write_bytes(f.read_bytes())
    arrays = bad / "regime" / "arrays.safetensors"
    data = bytearray(arrays.read_bytes())
    data[-5] ^= 0xFF
    arrays.write_bytes(bytes(data))
    with pytest.raises(NodeStartError, match=r"regime.*sha256.*enabled = false"):
        Node(node_config(tmp_path, venue, RLEXEC__SIGNALS__ARTIFACT_DIR=str(bad)))
    off = Node(
        node_config(
            tmp_path,
            venue,
            RLEXEC__SIGNALS__ARTIFACT_DIR=str(bad),
            RLEXEC__SIGNALS__ENABLED="false",
        )
    )
    assert off.signals is None
    off.journal.close()


async def test_a_policy_parent_is_recorded_as_parquet_and_judged_against_its_backtest(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    cfg = node_config(
        tmp_path,
        venue,
        RLEXEC__EXECUTION__COMPLETION="stop",
        RLEXEC__SIGNALS__RECORDING_FLUSH_S="0.2",
    )
    node = Node(cfg)
    await node.start()
    await eventually(lambda: node.recovered and not node.halts, what="node trading")
    try:
        node.engine.on_market_trade(SYMBOL, 100_000, node.clock.now_ns())
        await node.submit_parent(
            "P1", SubmitParent(symbol=SYMBOL, side="sell", qty=500, duration_s=2)
        )
        runner = node.runners["P1"]
        filled: set[str] = set()
        while not runner.parent.state.is_terminal:
            for o in venue.live():  # the venue fills whatever the policy rests
                if o.cl_ord_id not in filled and o.req.price is not None:
                    filled.add(o.cl_ord_id)
                    venue.fill(o.cl_ord_id, o.req.qty - o.cum, o.req.price)
            await asyncio.sleep(0.02)
        await eventually(lambda: runner.done, what="the parent finished")
        parent = runner.parent
        assert node.decision_log is not None
        await node.decision_log.flush()
        table = read_decisions(tmp_path / "node" / "recordings")
        rows = table.to_pylist()
        assert len(rows) == runner.decisions > 0
        assert [r["decision"] for r in rows] == list(range(len(rows)))
        assert {r["policy_digest"] for r in rows} == {node.policy.artifact.digest}
        assert all(
            len(r["observation"]) == len(node.policy.artifact.feature_spec.names) for r in rows
        )
        assert sum(r["fill_qty"] for r in rows) == parent.filled_qty
        assert rows[-1]["remaining_qty"] == parent.remaining_qty
        # the rewards telescope to minus the parent's shortfall (remainder at the mid)
        book = node.md.book(SYMBOL)
        assert book is not None and book.mid is not None
        final = parent.shortfall_bps(mark=book.mid) if parent.remaining_qty else parent.shortfall_bps()  # fmt: skip
        assert sum(r["reward"] for r in rows) == pytest.approx(-final, abs=1e-9)
        assert all(r["signal"] is not None for r in rows)
        parts = list((tmp_path / "node" / "recordings").glob("day=*/part-*.parquet"))
        assert parts and pq.read_table(parts[0]).num_rows > 0

        # monitoring: the reference is there, drift is measured, the parent judged
        assert sample(node, "rlexec_policy_monitoring_reference", kind="expected_is") == 1
        assert sample(node, "rlexec_policy_monitoring_reference", kind="feature_stats") == 1
        node.monitor.export()
        names = node.policy.artifact.feature_spec.names
        psi = [sample(node, "rlexec_feature_psi", feature=n) for n in names]
        assert all(v is not None and v >= 0 for v in psi) and max(psi) > 0  # type: ignore[operator]
        assert parent.filled_qty > 0
        z = sample(node, "rlexec_policy_is_z", symbol=SYMBOL)
        assert z is not None and np.isfinite(z)
        assert sample(node, "rlexec_decisions_recorded_total") == len(rows)
    finally:
        await node.stop()


async def test_a_recordings_folder_that_cannot_be_written_never_stops_decisions(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the recordings folder should be\n")  # mkdir fails: ENOTDIR
    root = blocker / "recordings"
    cfg = node_config(
        tmp_path,
        venue,
        RLEXEC__EXECUTION__COMPLETION="stop",
        RLEXEC__SIGNALS__RECORDING_DIR=str(root),
        RLEXEC__SIGNALS__RECORDING_FLUSH_S="0.1",
    )
    node = Node(cfg)
    await node.start()
    await eventually(lambda: node.recovered and not node.halts, what="node trading")
    try:
        node.engine.on_market_trade(SYMBOL, 100_000, node.clock.now_ns())
        with captured_logs() as logs:
            await node.submit_parent(
                "P1", SubmitParent(symbol=SYMBOL, side="sell", qty=500, duration_s=1.5)
            )
            runner = node.runners["P1"]
            await eventually(lambda: runner.done, what="the parent finished")
            await eventually(
                lambda: (sample(node, "rlexec_recorder_errors_total", stage="open") or 0) >= 2,
                what="the failures counted",
            )
        assert runner.decisions > 3 and not node.halts, "decisions went on, nothing halted"
        failing = [e for e in logs if e["event"] == "recorder_failing"]
        assert len(failing) == 1 and failing[0]["stage"] == "open"  # logged once, not per try
        assert node.decision_log is not None and node.decision_log.buffered == runner.decisions

        # the disk is fixed: what was kept is written, nothing lost
        blocker.unlink()
        with captured_logs() as logs:
            await eventually(
                lambda: node.decision_log is not None and node.decision_log.buffered == 0,
                what="the kept rows written",
            )
        assert any(e["event"] == "recorder_recovered" for e in logs)
        assert read_decisions(root).num_rows == runner.decisions
    finally:
        await node.stop()


async def test_a_feed_synced_again_is_assessed_before_its_halt_clears(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    node, replay, frames = await replayed_node(tmp_path, venue, WARM_S + 10)
    try:
        assert node.signals is not None
        signals = node.signals
        mono = [0.0]
        signals._monotonic = lambda: mono[0]  # the backstop's clock, simulated
        await open_the_spread(node, replay, frames[0])
        signals.assess(SYMBOL)
        assert "spread_jump" in signals.dynamic.asks(SYMBOL)

        venue.silence_market_data()  # the feed stalls with the spread still wide
        await eventually(lambda: f"md:{SYMBOL}" in node.halts, what="a market-data halt")
        mono[0] += 1_000  # long enough for the backstop: the posture lapses while halted
        replay.clock.advance(1.0)
        signals.assess_all()
        assert not signals.dynamic.posture(SYMBOL).tightened
        with captured_logs() as logs:
            venue.revive_market_data()
            await eventually(lambda: f"md:{SYMBOL}" not in node.halts, what="the halt lifted")
        events = [(e["event"], e.get("source") or e.get("halt")) for e in logs]
        tightened = events.index(("risk_posture_changed", "spread_jump"))
        cleared = events.index(("risk_halt_cleared", f"md:{SYMBOL}"))
        assert tightened < cleared, "the symbol must not trade a moment on the lapsed posture"
        assert "spread_jump" in signals.dynamic.asks(SYMBOL)
    finally:
        await node.stop()


def signal_policy(folder: Path, *, baselines: bool = True) -> Path:
    """A policy reading the short-horizon signal (feature set v3): zero weights, so it
    decides something fixed; what is tested is what it is fed."""
    from daemon.commands import DEFAULT_POLICY_DIR
    from policies.actions import ActionSpec
    from policies.artifact import load_artifact, save_artifact
    from policies.features import FeatureSpec, Normaliser
    from policies.network import PolicyNet
    from signals.provider import committed_signal_digest

    spec = FeatureSpec.of_version(3, signal=committed_signal_digest())
    extra: dict[str, object] = {"name": "v3-test"}
    if baselines:  # the schedule tactics' parameters, as every trained artifact carries
        extra["baselines"] = load_artifact(DEFAULT_POLICY_DIR).manifest["baselines"]
    net = PolicyNet(len(spec.names), ActionSpec().n)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    save_artifact(
        folder,
        net,
        feature_spec=spec,
        normaliser=Normaliser.identity(len(spec.names)),
        action_spec=ActionSpec(),
        extra=extra,
    )
    return folder


async def test_a_policy_reading_the_signal_is_fed_by_the_nodes_own_tracker_or_never_starts(
    tmp_path: Path, venue: ScriptedVenue
) -> None:
    art = signal_policy(tmp_path / "v3")
    with pytest.raises(NodeStartError, match="reads the short-horizon signal"):
        Node(
            node_config(
                tmp_path / "off",
                venue,
                RLEXEC__POLICY__PATH=str(art),
                RLEXEC__SIGNALS__ENABLED="false",
            )
        )
    node = Node(node_config(tmp_path / "on", venue, RLEXEC__POLICY__PATH=str(art)))
    await node.start()
    await eventually(lambda: node.recovered and not node.halts, what="node trading")
    try:
        node.engine.on_market_trade(SYMBOL, 100_000, node.clock.now_ns())
        await node.submit_parent(
            "P1", SubmitParent(symbol=SYMBOL, side="sell", qty=500, duration_s=30)
        )
        runner = node.runners["P1"]
        await eventually(lambda: runner.decisions >= 2, what="two decisions")
        builder = runner.driver.builder
        assert node.signals is not None
        assert builder.signal is not None
        assert builder.signal.tracker is node.signals.symbols[SYMBOL].tracker  # type: ignore[attr-defined]
    finally:
        await node.stop()


def test_a_policy_without_schedule_baselines_is_refused_at_start_in_one_line(
    tmp_path: Path,
) -> None:
    """It was a KeyError traceback from deep in the node's construction. A hot swap keeps
    the running node's schedule parameters, so it does not need them."""
    from daemon.commands import check_baselines, load_policy_artifact

    art = signal_policy(tmp_path / "bare", baselines=False)
    policy = load_policy_artifact(art, None, lambda _: None)  # a hot swap needs none
    with pytest.raises(NodeStartError, match=r"no usable schedule baselines.*vwap_profile"):
        check_baselines(policy)  # a start does

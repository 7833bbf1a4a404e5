"""The effects of control commands: what submit, cancel, pause, kill ... do to the node.

:class:`NodeCommands` is the :class:`daemon.control.handler.ControlTarget`: the command
handler journals and deduplicates, the transports (Redis stream, tests) only carry;
the effect of each command is here, once. Each method raises ``ValueError`` to refuse
with a message the operator can act on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import policies
from core.clock import Clock
from core.instruments import Instrument
from core.log import get_logger
from core.parent import ParentOrder, ParentState
from core.types import OrdStatus, Side
from daemon.control.commands import LoadPolicy, SubmitParent
from daemon.fix_router import FixRouter
from daemon.halts import NodeHalts
from daemon.parents import Parents
from daemon.reconciliation import Reconciler
from execution.executor import ExecutionEngine
from gateways.marketdata.client import MarketDataClient
from policies.evaluate import BaselineParams
from policies.learned import LearnedPolicy, load_policy
from risk.command_auth import CommandRefused, SignedCommand
from risk.overlay import RiskOverlay

log = get_logger("rlexec.node")

DEFAULT_POLICY_DIR = Path(policies.__file__).resolve().parent / "artifacts" / "ppo_amzn"


class NodeStartError(RuntimeError):
    """The node cannot start (bad policy, unreadable journal, ...); the message says why."""


def load_policy_artifact(
    path: Path | None, sha256: str | None, on_error: Callable[[str], None]
) -> LearnedPolicy:
    """The artifact at ``path`` (the bundled one if None), verified; NodeStartError if not."""
    from policies.artifact import ArtifactError

    target = path or DEFAULT_POLICY_DIR
    try:
        policy = load_policy(target, sha256, on_error=on_error)
    except (ArtifactError, OSError) as exc:
        raise NodeStartError(f"policy {target}: {exc}") from exc
    log.info("policy_loaded", path=str(target), name=policy.name, digest=policy.artifact.digest)
    return policy


def check_baselines(policy: LearnedPolicy) -> None:
    """The schedule tactics (twap, vwap, pov, ac) run on the starting artifact's
    parameters; NodeStartError, in one line, when it has none."""
    try:
        BaselineParams.from_json(policy.artifact.manifest.get("baselines", {}))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise NodeStartError(
            f"policy {policy.artifact.path}: its manifest has no usable schedule baselines "
            "(baselines.vwap_profile and baselines.almgren_chriss, as every trained "
            f"artifact carries them): {exc!r}"
        ) from None


class PolicyGuard:
    """Counts the policy's refused outputs (NaN, out of range): each one is a decision
    that sends nothing new, logged, and shown in ``status`` as ``guard_trips``."""

    def __init__(self) -> None:
        self.trips = 0

    def __call__(self, why: str) -> None:
        self.trips += 1
        log.error("policy_guard", detail=why, action="wait (no new orders this decision)")


class NodeCommands:
    def __init__(
        self,
        *,
        node_id: str,
        clock: Clock,
        engine: ExecutionEngine,
        risk: RiskOverlay,
        router: FixRouter,
        md: MarketDataClient,
        halts: NodeHalts,
        parents: Parents,
        reconciler: Reconciler,
        instruments: dict[str, Instrument],
        policy_guard: PolicyGuard,
    ) -> None:
        self.node_id = node_id
        self.clock = clock
        self.engine = engine
        self.risk = risk
        self.router = router
        self.md = md
        self.halts = halts
        self.parents = parents
        self.reconciler = reconciler
        self.instruments = instruments
        self.policy_guard = policy_guard

    # ---------------------------------------------------------------- parents
    async def submit_parent(self, parent_id: str, args: SubmitParent) -> dict[str, Any]:
        existing = self.engine.parents.get(parent_id)
        if existing is not None:
            return {"parent_id": parent_id, "state": existing.state.value, "existing": True}
        if args.symbol not in self.instruments:
            raise ValueError(
                f"unknown symbol {args.symbol}; configured: {sorted(self.instruments)}"
            )
        choice = self.parents.choose(args.algo)  # an algo this node cannot run: refused
        now = self.clock.now_ns()
        if now < 1_000_000_000 * 86_400:
            raise ValueError("market clock not synced yet (no market data): try again shortly")
        side = Side.BUY if args.side == "buy" else Side.SELL
        parent = ParentOrder(
            parent_id, args.symbol, side, args.qty, now, now + int(args.duration_s * 1e9)
        )
        builder = self.parents.new_builder(args.symbol)  # refused before anything exists
        self.parents.journal_choice(parent_id, choice)
        self.engine.add_parent(parent)
        self.parents.spawn(parent, choice, builder)
        log.info(
            "parent_submitted",
            parent_id=parent_id,
            symbol=args.symbol,
            side=args.side,
            qty=args.qty,
            duration_s=args.duration_s,
            algo=args.algo,
            tolerance=choice.tolerance,
            urgency=choice.urgency,
        )
        return {"parent_id": parent_id, "state": parent.state.value}

    def _parent(self, parent_id: str) -> ParentOrder:
        parent = self.engine.parents.get(parent_id)
        if parent is None:
            raise ValueError(f"no parent {parent_id}")
        return parent

    async def cancel_parent(self, parent_id: str) -> dict[str, Any]:
        parent = self._parent(parent_id)
        if not parent.state.is_terminal:
            self.parents.set_parent_state(parent, ParentState.CANCELED, "cancel_parent command")
            self.halts.cancel_parent_children(parent_id)
            self.parents.wake(parent_id)
        return {"parent_id": parent_id, "state": parent.state.value, "filled": parent.filled_qty}

    async def pause(self, parent_id: str | None) -> dict[str, Any]:
        targets = [self._parent(parent_id)] if parent_id else list(self.engine.open_parents())
        for p in targets:
            if p.state is ParentState.WORKING:
                self.parents.set_parent_state(p, ParentState.PAUSED, "pause command")
                self.halts.cancel_parent_children(p.parent_id)
        return {"paused": [p.parent_id for p in targets if p.state is ParentState.PAUSED]}

    async def resume(self, parent_id: str | None) -> dict[str, Any]:
        targets = [self._parent(parent_id)] if parent_id else list(self.engine.open_parents())
        for p in targets:
            if p.state is ParentState.PAUSED:
                self.parents.set_parent_state(p, ParentState.WORKING, "resume command")
                self.parents.wake(p.parent_id)
        return {"working": [p.parent_id for p in targets if p.state is ParentState.WORKING]}

    # ---------------------------------------------------------------- kill switch
    async def kill(self, reason: str) -> dict[str, Any]:
        """Engage the kill switch; the reply says what is being cancelled, whichever pass
        sent the cancel, and what is cancelled as soon as the venue answers it."""
        decision = self.engine.engage_kill(f"command: {reason}")
        live = list(self.engine.tracker.live())
        return {
            "engaged": True,
            "cancels_sent": len(decision.sent),
            "cancelling": sorted(o.cl_ord_id for o in live if o.status is OrdStatus.PENDING_CANCEL),
            "cancel_on_answer": sorted(
                o.cl_ord_id
                for o in live
                if o.status in (OrdStatus.PENDING_NEW, OrdStatus.PENDING_REPLACE) and o.tif.rests
            ),
        }

    async def reset_kill(self, reason: str, auth: SignedCommand | None) -> dict[str, Any]:
        if auth is None:
            raise CommandRefused("malformed", "reset_kill must be signed")
        # signed with the operator's wall clock: checked against ours, never market time
        was = self.risk.reset_kill_switch(auth, time.time_ns(), action=auth.action)
        log.warning("kill_switch_reset_by_command", reason=reason, was_engaged=was)
        self.parents.wake_all()
        return {"engaged": False, "was_engaged": was}

    # ---------------------------------------------------------------- policy, status
    async def load_policy(self, args: LoadPolicy) -> dict[str, Any]:
        try:
            new = load_policy_artifact(args.path, args.sha256, self.policy_guard)
        except NodeStartError as exc:  # the running node is fine: the artifact is refused
            raise ValueError(f"{exc}; the loaded policy stays") from None
        self.parents.swap_policy(new)
        return {"loaded": str(args.path), "digest": new.artifact.digest, "name": new.name}

    def status(self) -> dict[str, Any]:
        policy = self.parents.policy
        return {
            "node": self.node_id,
            "market_time_ns": self.clock.now_ns(),
            "halts": self.halts.labels(),
            "recovered": self.reconciler.recovered,
            "fix": {
                "logged_on": self.router.ready,
                "next_sender_seq": self.router.next_sender_seq,
                "next_target_seq": self.router.next_target_seq,
            },
            "marketdata": {s: st.value for s, st in self.md.status.items()},
            "parents": [self.parents.view(p) for p in self.engine.parents.values()],
            "positions": {s: self.risk.position(s) for s in self.risk.limits.symbols},
            "risk": self.risk.snapshot(),
            "policy": {
                "name": policy.name,
                "digest": policy.artifact.digest,
                "guard_trips": self.policy_guard.trips,
            },
            "catchup": self.parents.catchup.to_json(),
        }

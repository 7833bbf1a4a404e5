"""Health: /readyz, the gauges refreshed every quarter second, the state posted to Redis,
risk's denials and kill-switch changes as metrics.

Readiness never waits on anything: every condition is what the node already knows
(Redis reachability is what the control plane's own task last saw), so a probe answers
at once even when the loop is busy. Housekeeping must never take the node down: a
failing round is logged and the next one runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from core.instruments import Instrument
from core.log import get_logger
from daemon import volume_history
from daemon.control.redis_plane import RedisControlPlane
from daemon.fix_router import FixRouter
from daemon.halts import NodeHalts
from daemon.http_api import Readiness
from daemon.journal import Journal, JournalError
from daemon.loop_monitor import LoopMonitor
from daemon.metrics import Metrics
from daemon.reconciliation import Reconciler
from daemon.sd_notify import Notifier
from execution.executor import ExecutionEngine
from gateways.marketdata.client import BookStatus, MarketDataClient
from risk.events import KillSwitchEngaged, KillSwitchReset, RiskEvent
from risk.halts import HaltKind
from risk.overlay import RiskOverlay
from risk.reasons import Denied

log = get_logger("rlexec.node")


class Health:
    def __init__(
        self,
        *,
        metrics: Metrics,
        halts: NodeHalts,
        risk: RiskOverlay,
        engine: ExecutionEngine,
        router: FixRouter,
        md: MarketDataClient,
        journal: Journal,
        reconciler: Reconciler,
        control: RedisControlPlane | None,
        instruments: Mapping[str, Instrument],
        loop_monitor: LoopMonitor,
        notifier: Callable[[], Notifier],
        status: Callable[[], dict[str, Any]],
        publish: Callable[[dict[str, Any]], None],
    ) -> None:
        self.metrics = metrics
        self.halts = halts
        self.risk = risk
        self.engine = engine
        self.router = router
        self.md = md
        self.journal = journal
        self.reconciler = reconciler
        self.control = control
        self.instruments = instruments
        self.loop_monitor = loop_monitor
        self._notifier = notifier
        self._status = status
        self._publish = publish
        risk.add_listener(self.on_risk_event)

    def on_risk_event(self, event: RiskEvent) -> None:
        """Denials and kill-switch changes as metrics (and events on Redis)."""
        if isinstance(event, Denied):
            self.metrics.risk_denials.labels(event.reason.value).inc()
        elif isinstance(event, KillSwitchEngaged):
            self.metrics.kill_switch.set(1)
            self._publish({"event": "kill_switch", "engaged": True, "detail": event.detail})
        elif isinstance(event, KillSwitchReset):
            self.metrics.kill_switch.set(0)
            self._publish({"event": "kill_switch", "engaged": False})

    def readiness(self) -> Readiness:
        """May this node trade, and if not, why: every failing condition by name, and
        the halts with their reasons (the kill switch among them). Never waits on
        anything: Redis reachability is what the control plane's own task last saw."""
        halts = self.halts.labels()
        if self.risk.kill_switch.engaged:
            halts["kill_switch"] = self.risk.kill_switch.status.detail or "engaged"
        checks = {
            "fix_logged_on": self.router.ready,
            "market_data_fresh": all(st is BookStatus.SYNCED for st in self.md.status.values()),
            "journal_writable": self.journal.writable(),
            "recovered": self.reconciler.recovered and not self.halts.raised(HaltKind.RECOVERY),
            "may_trade": not halts and not self.halts.stopping,
        }
        if self.control is not None:
            checks["redis_reachable"] = self.control.reachable
        return Readiness(checks, halts)

    async def housekeeping(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(0.25)
            tick += 1
            try:
                self.reconciler.check_acks()
                self.refresh_gauges()
                if tick % 4 == 0:
                    self.metrics.ready.set(1 if self.readiness().ready else 0)
                    self.keep_volume_history()
                    if self.control is not None:
                        self.control.post_state({"status": self._status()})
                notifier = self._notifier()
                interval = notifier.watchdog_ping_interval_s
                if interval is not None and self.loop_monitor.last_lag_s < interval:
                    notifier.watchdog()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # housekeeping must never take the node down
                log.error("housekeeping_failed", error=repr(exc))

    def keep_volume_history(self) -> None:
        try:
            volume_history.keep(self.journal, self.risk, self.instruments)
        except JournalError as exc:
            self.metrics.journal_errors.inc()
            log.error("volume_history_not_saved", error=str(exc))

    def refresh_gauges(self) -> None:
        m = self.metrics
        now_wall = time.time_ns()
        for symbol in self.instruments:
            last = self.md.stats.last_update_ns
            m.md_age.labels(symbol).set(max(0.0, (now_wall - last) / 1e9) if last else 0.0)
        m.fix_seq.labels("out").set(self.router.next_sender_seq)
        m.fix_seq.labels("in").set(self.router.next_target_seq)
        m.kill_switch.set(1 if self.risk.kill_switch.engaged else 0)
        for symbol in self.risk.limits.symbols:
            m.position.labels(symbol).set(self.risk.position(symbol))
        pnl = float(self.risk.daily_pnl())
        m.pnl.labels("daily").set(pnl)
        limit = float(self.risk.limits.max_daily_loss)
        m.daily_loss_ratio.set(max(0.0, -pnl) / limit if limit > 0 else 0.0)
        active = 0
        for p in self.engine.parents.values():
            if p.state.is_terminal:
                continue
            active += 1
            m.parent_progress.labels(p.parent_id, p.symbol).set(p.progress)
            m.parent_shortfall.labels(p.parent_id, p.symbol).set(p.shortfall_bps())
        m.parents_active.set(active)

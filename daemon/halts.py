"""The node's halts: raised and cleared through the risk overlay's trading state.

Safety over availability. Whenever the node cannot vouch for its state (FIX down, a
symbol's market data stale, the journal failing, orders unsettled after a restart, a
runner crashing, an acknowledgement overdue) it *halts*: no new orders, resting ones
cancelled where the venue can still hear us, the reason logged, exported as
``rlexec_trading_halted{reason=<kind>}`` and listed by ``/readyz``.

The overlay holds every halt (:meth:`risk.RiskOverlay.halt`), so a denial names the halt
behind it and ``may_trade`` is one question to one place. This module acts on what the
overlay says (:class:`~risk.events.HaltRaised`, :class:`~risk.events.HaltCleared`),
whoever raised it: the node's own halts and the overlay's ``internal_error`` alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from core.clock import Clock
from core.log import get_logger
from daemon.journal import JournalError
from daemon.metrics import Metrics
from execution.executor import ExecutionEngine
from risk.events import HaltCleared, HaltRaised, RiskEvent
from risk.halts import Halt, HaltKind
from risk.overlay import RiskOverlay

log = get_logger("rlexec.node")

# What a reconnect itself halts: a request younger than the ack timeout may go out again
# after a logon while only these stand (see daemon.venue_events.VenueEvents.resend_allowed).
RECONNECTING = frozenset({HaltKind.FIX_DOWN, HaltKind.RECONCILING})


class NodeHalts(Mapping[str, str]):
    """The node's halts by label -> detail (``"md:AMZN"``, the kill switch apart), as
    ``/readyz`` and ``status`` list them; raised and cleared through the overlay."""

    def __init__(
        self,
        risk: RiskOverlay,
        engine: ExecutionEngine,
        metrics: Metrics,
        clock: Clock,
        *,
        venue_ready: Callable[[], bool],
        on_lifted: Callable[[], None],
    ) -> None:
        self.risk = risk
        self.engine = engine
        self.metrics = metrics
        self.clock = clock
        self._venue_ready = venue_ready
        self._on_lifted = on_lifted
        # shutdown under way: nothing new goes out, whatever the halts say
        self.stopping = False
        risk.add_listener(self.on_risk_event)

    # ---------------------------------------------------------------- raise / clear
    def halt(self, halt: Halt, detail: str) -> None:
        """Stop new orders where ``halt`` applies and cancel what rests there. Raised
        again with a new detail, it cancels again (e.g. at logon, once the venue hears)."""
        old = self.risk.halts().get(halt)
        if old == detail:
            return
        if not self.risk.halt(halt, detail, self.clock.now_ns()):
            self._halted(halt, detail)  # renewed: HaltRaised is heard only once

    def clear(self, halt: Halt) -> None:
        self.risk.clear_halt(halt, self.clock.now_ns())

    def on_risk_event(self, event: RiskEvent) -> None:
        if isinstance(event, HaltRaised):
            self._halted(event.halt, event.detail)
        elif isinstance(event, HaltCleared):
            self._lifted(event.halt)

    def _halted(self, halt: Halt, detail: str) -> None:
        self.metrics.trading_halted.labels(halt.kind.value).set(1)
        log.warning("trading_halted", reason=halt.label, detail=detail)
        self._cancel_where(halt)

    def _lifted(self, halt: Halt) -> None:
        remaining = self.labels()
        if not any(h.kind is halt.kind for h in self.risk.halts()):
            self.metrics.trading_halted.labels(halt.kind.value).set(0)
        log.info(
            "trading_resumed" if not remaining else "halt_cleared",
            reason=halt.label,
            remaining=sorted(remaining),
        )
        self._on_lifted()

    # ---------------------------------------------------------------- questions
    def may_trade(self, symbol: str) -> bool:
        """Nothing stops new orders in ``symbol``: no halt there, no kill switch, no shutdown."""
        return not self.stopping and self.risk.halted_by(symbol) is None

    def labels(self) -> dict[str, str]:
        """Every node halt by label -> detail (``"md:AMZN"``), the kill switch apart."""
        return {
            h.label: d for h, d in self.risk.halts().items() if h.kind is not HaltKind.KILL_SWITCH
        }

    def __getitem__(self, label: str) -> str:
        return self.labels()[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self.labels())

    def __len__(self) -> int:
        return len(self.labels())

    def raised(self, kind: HaltKind) -> bool:
        return any(h.kind is kind for h in self.risk.halts())

    def blocks_resend(self, symbol: str) -> bool:
        """A halt in ``symbol`` other than the reconnect's own (see :data:`RECONNECTING`)."""
        return any(h.applies_to(symbol) and h.kind not in RECONNECTING for h in self.risk.halts())

    # ---------------------------------------------------------------- effects
    def _cancel_where(self, halt: Halt) -> None:
        if not self._venue_ready():
            return  # nothing reaches the venue; orders are settled on reconnect
        for order in list(self.engine.tracker.live()):
            if halt.applies_to(order.symbol) and not order.status.is_pending:
                self.cancel_parent_children(order.parent_id)

    def cancel_parent_children(self, parent_id: str) -> None:
        self.guarded(lambda: self.engine.cancel_children(parent_id))

    def guarded(self, fn: Callable[[], object]) -> None:
        """Run an engine action; a journal failure halts instead of crashing the loop."""
        try:
            fn()
        except JournalError as exc:
            self.journal_failed(exc, critical=True)

    def journal_failed(self, exc: JournalError, *, critical: bool = False) -> None:
        self.metrics.journal_errors.inc()
        if critical:
            log.critical("journal_failed", error=str(exc))
        self.halt(Halt(HaltKind.JOURNAL), str(exc))

"""Applies an impact model to a running replay: feeds it the agent's trades and moves
the replayed market to its offset.

Kept apart from :class:`~exchange.replay.simulator.ReplaySimulator` so any driver of a
:class:`~exchange.replay.replayer.LobsterReplayer` (the environment's own router, the
exchange process) can add impact with three calls: :meth:`on_report` from the report
sink, :meth:`next_change_ns` to know where to pause the replay, :meth:`apply` there.
"""

from __future__ import annotations

from core.events import CancelReject, ExecReport
from core.types import ExecType
from exchange.replay.impact import ImpactModel, to_offset
from exchange.replay.replayer import LobsterReplayer

_MAX_ROUNDS = 8  # shift -> agent order crossed -> trade -> shift ... converges fast


class ImpactDriver:
    __slots__ = ("_never_at", "dirty", "model", "replayer", "shifts")

    def __init__(self, model: ImpactModel, replayer: LobsterReplayer) -> None:
        self.model = model
        self.replayer = replayer
        self.shifts = 0
        self.dirty = False
        # The offset at which the model last said "never changes" (None: not known).
        # By the model contract that answer holds until the agent trades again, so the
        # replay does not ask again at every pause.
        self._never_at: int | None = None

    def reset(self) -> None:
        self.model.reset()
        self.shifts = 0
        self.dirty = False
        self._never_at = None

    @property
    def offset(self) -> int:
        return self.replayer.offset

    def on_report(self, report: ExecReport | CancelReject) -> None:
        """Feed every report of an owned order; trades move the model."""
        if isinstance(report, ExecReport) and report.exec_type is ExecType.TRADE:
            self.model.on_trade(report.ts_ns, report.side.sign * report.last_qty)
            self.dirty = True
            self._never_at = None

    def next_change_ns(self, now_ns: int) -> int | None:
        """When the offset must next be applied (``now_ns`` if a trade is pending)."""
        if self.dirty:
            return now_ns
        offset = self.replayer.offset
        if offset == self._never_at:
            return None
        t = self.model.next_change_ns(now_ns, offset)
        if t is None:
            self._never_at = offset
        return t

    def apply(self, now_ns: int) -> None:
        """Shift the replayed market to the model's offset at ``now_ns``; agent orders
        the shifted market crosses trade (which may move the model again)."""
        rp = self.replayer
        for _ in range(_MAX_ROUNDS):
            self.dirty = False
            delta = to_offset(self.model.value(now_ns)) - rp.offset
            if delta == 0:
                return
            rp.book.shift_background(delta)
            rp.offset += delta
            self.shifts += 1
            rp.engine.rematch_crossing(rp.book, now_ns)
            if not self.dirty:
                return

"""Every policy decision, recorded for retraining (signals/recording.py: daily Parquet).

A row is one decision of a ``policy`` parent and what followed it, as the training
environment defines a step: the observation the policy acted on, its action index, the
quantity and notional filled *after* it (until the parent's next decision or its end),
the reward (minus the change of the parent's implementation shortfall over that span,
bps of arrival notional, the remainder marked at the mid: ``policies.env``'s reward
without the training-only shaping terms), the quantity still open, the policy's digest,
and the signal and regime served at the decision. So a row is written once the next
decision (or the end) has happened.

Failure policy: a recording is evidence for the learning loop, not an order-state
record (the journal is that), so a recorder that cannot write (folder not writable, disk
full, a record refused) never stops or delays a decision. The rows are kept in memory
(at most ``MAX_BUFFERED``; older ones are dropped and counted) and the write is retried
each flush; every failure is counted in ``rlexec_recorder_errors_total{stage}`` and
logged when the recorder starts failing and when it recovers; the RlexecRecorderFailing
alert fires. Writing runs in a worker thread, so a slow disk does not stall the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.log import get_logger
from core.parent import ParentOrder
from daemon.metrics import Metrics
from daemon.periodic import Periodic
from signals.recording import DecisionRecord, DecisionRecorder, RecordingError

log = get_logger("rlexec.recording")

MAX_BUFFERED = 100_000  # rows held while the recorder cannot write (~100 MB at most)


@dataclass(slots=True)
class _Pending:
    """A decision whose consequences are still accruing."""

    ts_ns: int
    decision: int
    observation: list[float]
    action: int
    policy_digest: str
    signal: float | None
    regime: str | None
    filled: int  # the parent's filled qty and notional at the decision
    notional: int


class DecisionLog:
    def __init__(self, root: Path, metrics: Metrics, *, flush_s: float) -> None:
        self.root = root
        self.metrics = metrics
        self.flush_s = flush_s
        self._rows: deque[DecisionRecord] = deque()
        self._pending: dict[str, _Pending] = {}
        self._prev_is: dict[str, float] = {}  # shortfall at each parent's last decision
        self._recorder: DecisionRecorder | None = None
        self._failing = False
        self._in_flight = 0
        self._cadence = Periodic("decision-recorder", flush_s, self._flush_step)
        self._flushing = asyncio.Lock()

    # ------------------------------------------------------------------ decisions
    def on_decision(
        self,
        parent: ParentOrder,
        *,
        ts_ns: int,
        decision: int,
        features: np.ndarray,
        action: int,
        policy_digest: str,
        signal: float | None,
        regime: str | None,
        mid: float | None,
    ) -> None:
        self._close_step(parent, mid)
        self._pending[parent.parent_id] = _Pending(
            ts_ns, decision, [float(x) for x in features], int(action), policy_digest,
            signal, regime, parent.filled_qty, parent.notional,
        )  # fmt: skip

    def on_parent_done(self, parent: ParentOrder, mid: float | None) -> None:
        self._close_step(parent, mid)
        self._prev_is.pop(parent.parent_id, None)

    def _close_step(self, parent: ParentOrder, mid: float | None) -> None:
        p = self._pending.pop(parent.parent_id, None)
        if parent.remaining_qty:
            is_now = parent.shortfall_bps(mark=mid if mid is not None else parent.arrival_mid)
        else:
            is_now = parent.shortfall_bps()
        prev = self._prev_is.get(parent.parent_id, 0.0)
        self._prev_is[parent.parent_id] = is_now
        if p is None:
            return
        self._append(
            DecisionRecord(
                ts_ns=p.ts_ns,
                symbol=parent.symbol,
                parent_id=parent.parent_id,
                decision=p.decision,
                observation=p.observation,
                action=p.action,
                fill_qty=parent.filled_qty - p.filled,
                fill_notional_tu=parent.notional - p.notional,
                reward=-(is_now - prev),
                remaining_qty=parent.remaining_qty,
                policy_digest=p.policy_digest,
                signal=p.signal,
                regime=p.regime,
            )
        )

    def _append(self, rec: DecisionRecord) -> None:
        if len(self._rows) >= MAX_BUFFERED:
            self._rows.popleft()
            self.metrics.recorder_errors.labels("dropped").inc()
        self._rows.append(rec)

    @property
    def buffered(self) -> int:
        """Rows not yet written (held, or being written now)."""
        return len(self._rows) + self._in_flight

    # ------------------------------------------------------------------ writing
    def start(self) -> None:
        self._cadence.start()

    async def _flush_step(self) -> None:
        # a stop while a part is being written lets that write finish (the lock then
        # orders close()'s final flush after it): one writer thread at a time
        await asyncio.shield(self.flush())

    async def flush(self) -> int:
        """Write what is buffered as one part (in a worker thread); rows written."""
        async with self._flushing:
            if not self._rows:
                return 0
            rows = list(self._rows)
            self._rows.clear()
            self._in_flight = len(rows)
            try:
                stage, error, written = await asyncio.to_thread(self._write, rows)
            finally:
                self._in_flight = 0
            if written:
                self.metrics.decisions_recorded.inc(written)
            if stage is None:
                if self._failing:
                    self._failing = False
                    log.warning("recorder_recovered", root=str(self.root), rows=written)
                return written
            self.metrics.recorder_errors.labels(stage).inc()
            if stage != "record":  # nothing written: keep the rows for the next try
                for rec in reversed(rows):
                    if len(self._rows) >= MAX_BUFFERED:
                        self.metrics.recorder_errors.labels("dropped").inc()
                        break
                    self._rows.appendleft(rec)
            if not self._failing:
                self._failing = True
                log.error(
                    "recorder_failing",
                    root=str(self.root),
                    stage=stage,
                    error=error,
                    rows_kept=len(self._rows),
                    detail="decisions go on; recordings are kept in memory and retried "
                    f"every {self.flush_s:g} s (at most {MAX_BUFFERED} rows)",
                )
            return written

    def _write(self, rows: list[DecisionRecord]) -> tuple[str | None, str, int]:
        """In a worker thread: (failed stage or None, error, rows written)."""
        try:
            if self._recorder is None:
                # flushed only from here: never on the decision path
                self._recorder = DecisionRecorder(self.root, flush_rows=2**62, flush_s=1e12)
        except (OSError, RecordingError) as exc:
            return "open", str(exc), 0
        refused = []
        for rec in rows:
            try:
                self._recorder.record(rec)
            except RecordingError as exc:  # one bad record is refused alone
                refused.append(str(exc))
        try:
            self._recorder.flush()
        except (OSError, RecordingError) as exc:
            # a failed part leaves the recorder's buffer unknown: start a fresh one next time
            with contextlib.suppress(Exception):
                self._recorder.close()
            self._recorder = None
            return "flush", str(exc), 0
        written = len(rows) - len(refused)
        if refused:
            return "record", f"{len(refused)} record(s) refused: {refused[0]}", written
        return None, "", written

    async def close(self) -> None:
        """Stop the cadence and write what is left (the node's stop)."""
        await self._cadence.stop()
        await self.flush()
        if self._recorder is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._recorder.close)
            self._recorder = None

"""Decision recordings for the learning loop: every decision, append-only, in Parquet.

The daemon records one :class:`DecisionRecord` per policy decision (what it saw, what
it did, what filled since the last decision, the reward) and ``rlexec retrain`` reads
them back as experience. Layout, one folder per UTC day (hive-style, so any Parquet
reader can filter by day)::

    <root>/day=2026-12-04/part-00000001.parquet
    <root>/day=2026-12-04/part-00000002.parquet
    <root>/day=2026-12-05/part-00000001.parquet

Crash safety comes from never appending to a file: the writer buffers rows and flushes
them as a new, complete part (written under a temporary name, fsync'd, renamed into
place, the folder fsync'd). A writer killed at any moment leaves only whole parts plus
at most one temporary file the reader ignores (and the next writer removes); it loses at
most the rows not yet flushed (``flush_rows`` rows or ``flush_s`` seconds of them).
Parts are never rewritten; a day rotates when a record's timestamp crosses midnight UTC.
One writer per folder at a time (an advisory lock on ``<root>/.lock``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
SCHEMA = pa.schema(
    [
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("parent_id", pa.string(), nullable=False),
        pa.field("decision", pa.int64(), nullable=False),  # index within the parent
        pa.field("observation", pa.list_(pa.float32()), nullable=False),
        pa.field("action", pa.int32(), nullable=False),
        pa.field("fill_qty", pa.int64(), nullable=False),  # filled since the last decision
        pa.field("fill_notional_tu", pa.int64(), nullable=False),  # qty x price ticks
        pa.field("reward", pa.float64(), nullable=False),
        pa.field("remaining_qty", pa.int64(), nullable=False),
        pa.field("policy_digest", pa.string(), nullable=False),
        pa.field("signal", pa.float64(), nullable=True),  # short-horizon signal, if served
        pa.field("regime", pa.string(), nullable=True),
    ],
    metadata={"rlexec.decisions.schema_version": str(SCHEMA_VERSION)},
)
_PART = re.compile(r"^part-(\d{8})\.parquet$")
_DAY = re.compile(r"^day=(\d{4}-\d{2}-\d{2})$")
_NS_PER_S = 1_000_000_000


class RecordingError(ValueError):
    """A record or a folder that cannot be written or read; the message says which."""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    ts_ns: int
    symbol: str
    parent_id: str
    decision: int
    observation: Sequence[float]
    action: int
    fill_qty: int
    fill_notional_tu: int
    reward: float
    remaining_qty: int
    policy_digest: str
    signal: float | None = None
    regime: str | None = None


_COLUMNS = tuple(f.name for f in fields(DecisionRecord))
assert tuple(SCHEMA.names) == _COLUMNS, "DecisionRecord and SCHEMA must list the same columns"


def day_of(ts_ns: int) -> str:
    """The UTC calendar day of a timestamp, ``YYYY-MM-DD``."""
    return dt.datetime.fromtimestamp(ts_ns // _NS_PER_S, tz=dt.UTC).strftime("%Y-%m-%d")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DecisionRecorder:
    """Buffers records and flushes them as whole Parquet parts (see the module doc)."""

    def __init__(self, root: str | Path, *, flush_rows: int = 512, flush_s: float = 5.0) -> None:
        if flush_rows < 1 or not flush_s > 0:
            raise RecordingError(f"flush_rows must be >= 1 and flush_s > 0, got {flush_rows}, {flush_s}")  # fmt: skip
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._lock: IO[bytes] | None = (self.root / ".lock").open("ab")
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            self._lock = None
            raise RecordingError(f"{self.root} is being recorded by another writer (.lock held)") from None  # fmt: skip
        for stale in self.root.glob("day=*/.part-*.tmp"):
            stale.unlink()  # a previous writer died mid-flush; its rows were never complete
        self._rows: list[DecisionRecord] = []
        self._day: str | None = None
        self._last_flush = time.monotonic()
        self.parts_written = 0
        self.rows_written = 0

    def record(self, rec: DecisionRecord) -> None:
        """Queue one decision; flushes when the buffer is full, old, or the day turns."""
        if self._lock is None:
            raise RecordingError("the recorder is closed")
        if type(rec) is not DecisionRecord:
            raise RecordingError(f"not a DecisionRecord: {rec!r:.200}")
        problem = _problem(rec)
        if problem is not None:
            raise RecordingError(f"decision record refused, nothing buffered: {problem}")
        day = day_of(rec.ts_ns)
        if self._day is not None and day != self._day:
            self.flush()
        self._day = day
        self._rows.append(rec)
        if len(self._rows) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_s:  # fmt: skip
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as one new part; the part's path (None if empty)."""
        self._last_flush = time.monotonic()
        if not self._rows or self._day is None:
            return None
        try:
            table = pa.Table.from_pylist([_row(r) for r in self._rows], schema=SCHEMA)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            rows, self._rows = self._rows, []
            raise RecordingError(f"{len(rows)} records not writable ({exc}); dropped from the buffer") from None  # fmt: skip
        folder = self.root / f"day={self._day}"
        folder.mkdir(exist_ok=True)
        seq = _next_part(folder)
        final = folder / f"part-{seq:08d}.parquet"
        tmp = folder / f".part-{seq:08d}.tmp"
        with tmp.open("wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, final)
        _fsync_dir(folder)
        self.parts_written += 1
        self.rows_written += table.num_rows
        self._rows = []
        return final

    def close(self) -> None:
        if self._lock is None:
            return
        try:
            self.flush()
        finally:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> DecisionRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_INT64 = 2**63
_INTS = ("ts_ns", "decision", "fill_qty", "fill_notional_tu", "remaining_qty")
_STRS = ("symbol", "parent_id", "policy_digest")


def _problem(r: DecisionRecord) -> str | None:
    """Why the record would not fit the schema, checked per record (cheaply) so one bad
    record is refused alone instead of spoiling the flush of the good ones."""
    for name in _INTS:
        v = getattr(r, name)
        if type(v) is not int or not -_INT64 <= v < _INT64:
            return f"{name} = {v!r:.40} is not an int64"
    if type(r.action) is not int or not -(2**31) <= r.action < 2**31:
        return f"action = {r.action!r:.40} is not an int32"
    for name in _STRS:
        if type(getattr(r, name)) is not str:
            return f"{name} is not a str"
    if r.regime is not None and type(r.regime) is not str:
        return "regime is not a str or None"
    for name in ("reward", "signal"):
        v = getattr(r, name)
        if not (type(v) in (int, float) or (v is None and name == "signal")):
            return f"{name} = {v!r:.40} is not a number"
    if not all(type(x) in (int, float) for x in r.observation):
        return "observation holds something that is not a number"
    return None


def _row(r: DecisionRecord) -> dict[str, Any]:
    return {name: getattr(r, name) for name in _COLUMNS}


def _next_part(folder: Path) -> int:
    seqs = [int(m[1]) for p in folder.iterdir() if (m := _PART.match(p.name))]
    return max(seqs, default=0) + 1


def recorded_days(root: str | Path) -> list[str]:
    """The days with at least one complete part, oldest first."""
    p = Path(root)
    if not p.is_dir():
        raise RecordingError(f"no recordings folder {p}")
    return sorted(m[1] for d in p.iterdir() if d.is_dir() and (m := _DAY.match(d.name)))


def part_files(root: str | Path, days: Iterable[str] | None = None) -> list[Path]:
    """Every complete part of the chosen days (all by default), in recording order."""
    p = Path(root)
    chosen = recorded_days(p) if days is None else list(days)
    out: list[Path] = []
    for day in chosen:
        folder = p / f"day={day}"
        if folder.is_dir():
            out.extend(sorted(f for f in folder.iterdir() if _PART.match(f.name)))
    return out


def read_decisions(root: str | Path, days: Iterable[str] | None = None) -> pa.Table:
    """The recorded decisions as one table (the schema's columns, recording order).

    A part that is not readable Parquet of this schema raises :class:`RecordingError`
    naming it (a recording is evidence: nothing is skipped silently).
    """
    tables = []
    for f in part_files(root, days):
        try:
            t = pq.read_table(f, schema=SCHEMA)
        except (pa.ArrowException, OSError) as exc:
            raise RecordingError(f"{f}: not a readable decisions part: {exc}") from None
        tables.append(t)
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables)

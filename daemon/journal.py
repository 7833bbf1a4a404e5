"""The journal: every command, parent, child request and venue report, before acting.

SQLite in WAL mode, one append-only ``records`` table. Why SQLite rather than a flat
log: an operator can answer "what happened to ClOrdID X" with the sqlite3 shell at
3 a.m., and transactions make the ClOrdID high-water mark and command de-duplication
atomic with the records they guard.

Durability: with ``fsync="os"`` (default) each record is committed to the WAL before
the call returns, so it survives the process being killed (kill -9, OOM, a crash) —
the failure the daemon's recovery is built for — at ~10-20 us per record. With
``fsync="always"`` SQLite also fsyncs every commit (``synchronous=FULL``), which
survives a power loss or kernel crash at ~0.2 ms per record; choose it where the host
is not trusted to stay up.

A write that fails raises :class:`JournalError`; the node treats that as "risk state
unknown": it stops sending, cancels what rests and alerts.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from daemon import records

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns  INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    body   BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    result     BLOB
);
CREATE TABLE IF NOT EXISTS snapshots (
    key    TEXT PRIMARY KEY,
    ts_ns  INTEGER NOT NULL,
    body   BLOB    NOT NULL
);
"""


class JournalError(RuntimeError):
    """The journal could not be written or read; the node must stop trading."""


@dataclass(frozen=True, slots=True)
class JournalRecord:
    seq: int
    ts_ns: int
    kind: str
    payload: Any


class Journal:
    def __init__(
        self,
        path: str | Path,
        *,
        fsync: Literal["os", "always"] = "os",
        now_ns: Callable[[], int] = time.time_ns,
        on_write: Callable[[float], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._now_ns = now_ns
        self._on_write = on_write
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"journal {self.path}: WAL mode unavailable (got {mode})")
            self._db.execute(f"PRAGMA synchronous={'FULL' if fsync == 'always' else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot open: {exc}") from exc
        self.fsync = fsync

    # ---------------------------------------------------------------- write
    def record(self, kind: str, payload: Any) -> int:
        """Append one record; returns its sequence number once it is durable."""
        t0 = time.perf_counter()
        try:
            body = records.encode(payload)
            cur = self._db.execute(
                "INSERT INTO records(ts_ns, kind, body) VALUES (?, ?, ?)",
                (self._now_ns(), kind, body),
            )
        except (sqlite3.Error, TypeError) as exc:
            raise JournalError(f"journal {self.path}: cannot write {kind} record: {exc}") from exc
        if self._on_write is not None:
            self._on_write(time.perf_counter() - t0)
        seq = cur.lastrowid
        if seq is None:  # pragma: no cover - sqlite always sets it for an INSERT
            raise JournalError(f"journal {self.path}: no sequence number for {kind} record")
        return seq

    def record_command(self, command_id: str, payload: Any) -> bool:
        """Journal a control command once; False when that id was already journalled."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seen = self._db.execute(
                    "SELECT 1 FROM commands WHERE command_id = ?", (command_id,)
                ).fetchone()
                if seen:
                    self._db.execute("ROLLBACK")
                    return False
                cur = self._db.execute(
                    "INSERT INTO records(ts_ns, kind, body) VALUES (?, 'command', ?)",
                    (self._now_ns(), records.encode(payload)),
                )
                self._db.execute(
                    "INSERT INTO commands(command_id, seq) VALUES (?, ?)",
                    (command_id, cur.lastrowid),
                )
                self._db.execute("COMMIT")
                return True
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot record command: {exc}") from exc

    def store_command_result(self, command_id: str, result: Any) -> None:
        """Remember a command's reply so a redelivered command gets the same answer."""
        try:
            self._db.execute(
                "UPDATE commands SET result = ? WHERE command_id = ?",
                (records.encode(result), command_id),
            )
        except (sqlite3.Error, TypeError) as exc:
            raise JournalError(f"journal {self.path}: cannot store command result: {exc}") from exc

    def command_result(self, command_id: str) -> tuple[bool, Any]:
        """(journalled?, stored reply or None) for a command id."""
        try:
            row = self._db.execute(
                "SELECT result FROM commands WHERE command_id = ?", (command_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot read command result: {exc}") from exc
        if row is None:
            return False, None
        return True, (None if row[0] is None else records.decode("reply", row[0]))

    def save_snapshot(self, key: str, payload: Any) -> None:
        """Keep the latest ``payload`` under ``key`` (state rebuilt on a restart that the
        records do not carry, such as the market's recent volume); replaces the last."""
        try:
            self._db.execute(
                "INSERT INTO snapshots(key, ts_ns, body) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET ts_ns = excluded.ts_ns, body = excluded.body",
                (key, self._now_ns(), records.encode(payload)),
            )
        except (sqlite3.Error, TypeError) as exc:
            raise JournalError(f"journal {self.path}: cannot save snapshot {key}: {exc}") from exc

    def snapshot(self, key: str) -> Any:
        """The payload last saved under ``key`` (JSON types), or None."""
        try:
            row = self._db.execute("SELECT body FROM snapshots WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot read snapshot {key}: {exc}") from exc
        if row is None:
            return None
        try:
            return records.decode("snapshot", row[0])
        except records.RecordError as exc:
            raise JournalError(f"journal {self.path}: snapshot {key}: {exc}") from exc

    def reserve(self, n: int) -> int:
        """ClOrdID high-water mark (implements ``core.ids.SequenceStore``)."""
        if n <= 0:
            raise ValueError(f"reserve needs n > 0, got {n}")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'clordid_next'").fetchone()
            first = int(row[0]) if row else 1
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('clordid_next', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (first + n,),
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise JournalError(f"journal {self.path}: cannot reserve ClOrdIDs: {exc}") from exc
        return first

    # ----------------------------------------------------------------- read
    def records(self, after_seq: int = 0, *, lenient: bool = False) -> Iterator[JournalRecord]:
        """Every record in order. A record that does not decode raises
        :class:`JournalError`, or with ``lenient`` comes back with a
        :class:`~daemon.records.Undecodable` payload (recovery names it and goes on)."""
        try:
            rows = self._db.execute(
                "SELECT seq, ts_ns, kind, body FROM records WHERE seq > ? ORDER BY seq",
                (after_seq,),
            )
            for seq, ts_ns, kind, body in rows:
                try:
                    payload = records.decode(kind, body)
                except records.RecordError as exc:
                    if not lenient:
                        raise JournalError(f"journal {self.path}: record {seq}: {exc}") from exc
                    payload = records.Undecodable(str(exc))
                yield JournalRecord(seq, ts_ns, kind, payload)
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot read: {exc}") from exc

    def writable(self) -> bool:
        """Health probe for /readyz: can we still write (disk full, read-only fs)?"""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('probe', 1)")
            self._db.execute("COMMIT")
            return True
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            return False

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

"""The audit log (drop copy): every order, cancel, replace, reject and fill as the
exchange saw it, one JSON object per line, appended and flushed as it happens.

It is the venue's side of the story. Reconciliation tests replay the daemon's
journal against it: every ClOrdID the daemon journalled must appear here with the
same outcome, every ExecID here must be in the journal exactly once. So each line
carries the FIX session it arrived on or left by, the ClOrdID chain
(ClOrdID/OrigClOrdID) and the ExecID, with prices in ticks and quantities in units
like everything else on the order path.

Line schema (``kind`` selects the rest; the remaining keys are the fields of the
core type named, enums as their FIX values)::

    {"n": 17, "ts": <clock ns>, "session": "RLEXEC->EXCHANGE", "kind": "new_order", ...NewOrderRequest}
    kinds: new_order, cancel_request, replace_request (inbound requests),
           exec_report (every ExecutionReport sent: acks, fills, cancels, rejects;
                        not status answers, which change nothing),
           cancel_reject (OrderCancelReject sent),
           bad_message (an inbound message that never became a request, and why)

Writes go straight to the OS (``flush`` after each line); ``fsync=True`` also forces
them to disk at the price of blocking the event loop for a disk round trip per line.
A crash can leave a final partial line; on reopen the log starts a fresh line after
it, and :func:`read_audit` reports it instead of failing.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import IO, Any

import orjson

from core.clock import Clock
from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest

_KIND: dict[type, str] = {
    NewOrderRequest: "new_order",
    CancelRequest: "cancel_request",
    ReplaceRequest: "replace_request",
    ExecReport: "exec_report",
    CancelReject: "cancel_reject",
}
_FIELDS: dict[type, tuple[str, ...]] = {
    t: tuple(f.name for f in dataclasses.fields(t)) for t in _KIND
}

Audited = NewOrderRequest | CancelRequest | ReplaceRequest | ExecReport | CancelReject


class AuditCorrupt(Exception):
    """An audit line other than a crash-truncated last one does not parse."""


class AuditLog:
    """Append-only JSON-lines drop copy (see module doc)."""

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock, fsync: bool = False) -> None:
        self.path = Path(path)
        self.clock = clock
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._n = _last_number(self.path)
        self._file: IO[bytes] | None = open(self.path, "ab")  # noqa: SIM115 - lives as long as the log
        if self._file.tell() and not _ends_with_newline(self.path):
            self._file.write(b"\n")  # isolate a crash-truncated last line
            self._file.flush()

    @property
    def records_written(self) -> int:
        return self._n

    def record(self, session: str, item: Audited) -> None:
        """Log one inbound request or outbound report, as sent/received on ``session``."""
        kind = _KIND[type(item)]
        row: dict[str, Any] = {"n": 0, "ts": self.clock.now_ns(), "session": session, "kind": kind}
        for name in _FIELDS[type(item)]:
            row[name] = getattr(item, name)
        self._write(row)

    def bad_message(self, session: str, reason: str, fields: dict[str, str] | None = None) -> None:
        """An inbound message that could not become a request (logged with the reject)."""
        row: dict[str, Any] = {
            "n": 0,
            "ts": self.clock.now_ns(),
            "session": session,
            "kind": "bad_message",
            "reason": reason,
            "fields": fields or {},
        }
        self._write(row)

    def _write(self, row: dict[str, Any]) -> None:
        if self._file is None:
            raise RuntimeError(f"audit log {self.path} is closed")
        self._n += 1
        row["n"] = self._n
        self._file.write(orjson.dumps(row) + b"\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def read_audit(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """All records, and one note per crash-truncated line skipped.

    A truncated line is a record cut short by a crash: it starts like a record and
    does not end like one. Any other line that does not parse raises
    :class:`AuditCorrupt` naming the file and line number.
    """
    p = Path(path)
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    for i, line in enumerate(p.read_bytes().split(b"\n")):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            if not isinstance(row, dict) or "kind" not in row or "n" not in row:
                raise ValueError("not an audit record")
        except (orjson.JSONDecodeError, ValueError) as exc:
            if line.startswith(b'{"n":') and not line.rstrip().endswith(b"}"):
                notes.append(f"{p}:{i + 1}: partial record ({len(line)} bytes) skipped")
                continue
            raise AuditCorrupt(f"{p}:{i + 1}: not a valid audit record ({exc})") from None
        records.append(row)
    return records, notes


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _last_number(path: Path) -> int:
    """The ``n`` of the last complete record, so numbering continues across restarts."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    with open(path, "rb") as f:
        f.seek(max(0, size - 65536))
        tail = f.read().split(b"\n")
    for line in reversed(tail):
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("n"), int):
            return int(row["n"])
    return 0

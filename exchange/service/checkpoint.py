"""The venue's checkpoint: where the market had got to, and where our orders queued.

The audit log says which orders rest and what they filled
(:mod:`exchange.service.venue_state`); it cannot say how far a replay had run when
nothing was traded for a while, nor how much size queued ahead of each resting order.
That is all this small JSON file holds, rewritten every ``checkpoint_s`` of wall time
and at a clean stop (written to a temporary file, then renamed over the old one, so a
crash leaves the old or the new checkpoint, never half of one)::

    {"version": 1, "source": "<sha256 of the market config>",
     "event_ns": {"AMZN": 1340288100000000000}, "finished": false,
     "queue_ahead": {"<session>|<OrderID>": 1200}, "audit_records": 4711}

It is advisory: without it (deleted, unreadable) a restart still keeps every order,
fill and ClOrdID, resumes the market at the last report's time and queues the orders
at the back of their levels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

VERSION = 1


class CheckpointError(ValueError):
    """The checkpoint file exists but cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    source: str  # fingerprint of the market configuration it belongs to
    event_ns: dict[str, int] = field(default_factory=dict)
    finished: bool = False
    queue_ahead: dict[str, int] = field(default_factory=dict)
    audit_records: int = 0


def queue_key(session: str, venue_order_id: str) -> str:
    return f"{session}|{venue_order_id}"


def write_checkpoint(path: Path, cp: Checkpoint) -> None:
    body = {
        "version": VERSION,
        "source": cp.source,
        "event_ns": cp.event_ns,
        "finished": cp.finished,
        "queue_ahead": cp.queue_ahead,
        "audit_records": cp.audit_records,
    }
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(orjson.dumps(body))
    os.replace(tmp, path)


def read_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint, None when there is none; :class:`CheckpointError` when it is
    there but unusable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        body = orjson.loads(raw)
        if not isinstance(body, dict) or body.get("version") != VERSION:
            raise ValueError(f"not a version {VERSION} checkpoint")
        return Checkpoint(
            source=str(body["source"]),
            event_ns={str(k): int(v) for k, v in body["event_ns"].items()},
            finished=bool(body["finished"]),
            queue_ahead={str(k): int(v) for k, v in body["queue_ahead"].items()},
            audit_records=int(body["audit_records"]),
        )
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: unusable checkpoint ({exc})") from None

"""What every drill checks, from the venue's and the daemon's own records.

Sources, each written by a different process, none by the drill:

- the exchange's **audit log** (every request it received, every report it sent);
- the daemon's **journal** (every request it sent, every report it applied);
- the **FIX wire** as the fault proxy delivered it (:class:`FixWire`): when the
  daemon sent each request and when each answer reached it, on the monotonic clock.

Invariants (each violation is one line saying what, which ids, and by how much):

1. no ClOrdID reaches the venue twice;
2. every venue fill is journalled exactly once (none lost, none doubled, none invented);
3. each parent's filled quantity equals the venue's fills of its children;
4. nothing rests at the venue after the end;
5. the daemon restarts on its journal and becomes ready (checked by the drill runner);
6. no new order is sent while the daemon's state was unknown: while an earlier request
   had gone unanswered for longer than ``ack_timeout_s`` of wall time; and no stale
   resend (a PossDup NewOrderSingle/Replace older than ``stale_resend_s``) is sent.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.types import ExecType
from daemon.journal import Journal
from exchange.service.audit import read_audit
from exchange.service.venue_state import recover_orders

_MESSAGE = re.compile(rb"8=FIX[^\x01]*\x01.*?\x0110=\d{3}\x01", re.DOTALL)
REQUESTS = {"D", "G"}  # NewOrderSingle, OrderCancelReplaceRequest


@dataclass(frozen=True, slots=True)
class WireMsg:
    direction: str  # "up": daemon -> exchange, "down": exchange -> daemon
    t: float  # monotonic, when it was delivered to the other side
    fields: dict[int, str]

    @property
    def msg_type(self) -> str:
        return self.fields.get(35, "")

    @property
    def cl_ord_id(self) -> str:
        return self.fields.get(11, "")

    @property
    def poss_dup(self) -> bool:
        return self.fields.get(43) == "Y" or self.fields.get(97) == "Y"


class FixWire:
    """A :class:`daemon.fault_proxy.FaultProxy` tap: FIX messages as delivered."""

    def __init__(self) -> None:
        self.messages: list[WireMsg] = []
        self._buf: dict[str, bytes] = defaultdict(bytes)
        self._lock = threading.Lock()

    def __call__(self, direction: str, data: bytes, t: float) -> None:
        with self._lock:
            buf = self._buf[direction] + data
            end = 0
            for m in _MESSAGE.finditer(buf):
                end = m.end()
                fields: dict[int, str] = {}
                for part in m.group(0).split(b"\x01"):
                    tag, _, value = part.partition(b"=")
                    if tag.isdigit():
                        fields.setdefault(int(tag), value.decode("latin-1"))
                self.messages.append(WireMsg(direction, t, fields))
            self._buf[direction] = buf[end:][-65536:]

    def snapshot(self) -> list[WireMsg]:
        with self._lock:
            return list(self.messages)


def sent_while_unknown(wire: list[WireMsg], ack_timeout_s: float) -> list[str]:
    """New orders sent while an earlier request had been unanswered > ``ack_timeout_s``."""
    asked: dict[str, float] = {}  # ClOrdID -> when the venue got the request
    answered: dict[str, float] = {}  # ClOrdID -> when its first answer reached the daemon
    for m in wire:
        if m.direction == "up" and m.msg_type in REQUESTS and m.cl_ord_id not in asked:
            asked[m.cl_ord_id] = m.t
        elif m.direction == "down" and m.msg_type in ("8", "9") and m.cl_ord_id:
            answered.setdefault(m.cl_ord_id, m.t)
    out: list[str] = []
    for m in wire:
        if m.direction != "up" or m.msg_type != "D" or m.poss_dup:
            continue
        overdue = [
            (cl, m.t - t0)
            for cl, t0 in asked.items()
            if t0 <= m.t - ack_timeout_s and answered.get(cl, float("inf")) > m.t
        ]
        if overdue:
            cl, age = max(overdue, key=lambda x: x[1])
            out.append(
                f"new order {m.cl_ord_id} sent while {len(overdue)} request(s) had no answer "
                f"for > {ack_timeout_s:g} s (oldest {cl}: {age:.1f} s)"
            )
    return out


def stale_resends(wire: list[WireMsg], stale_after_s: float) -> list[str]:
    """PossDup NewOrderSingle/Replace whose original is older than ``stale_after_s``."""
    out: list[str] = []
    for m in wire:
        if m.direction != "up" or m.msg_type not in REQUESTS or not m.poss_dup:
            continue
        sent, orig = _fix_time(m.fields.get(52)), _fix_time(m.fields.get(122))
        if sent is not None and orig is not None and sent - orig > stale_after_s:
            out.append(
                f"stale resend of {m.cl_ord_id} (35={m.msg_type}, PossDup) sent "
                f"{sent - orig:.1f} s after the original"
            )
    return out


def _fix_time(value: str | None) -> float | None:
    if not value:
        return None
    for fmt in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):
        try:
            return datetime.strptime(value[:21], fmt).timestamp()
        except ValueError:
            continue
    return None


@dataclass(slots=True)
class Books:
    """The venue's and the daemon's records, read once the processes are done with them."""

    audit: list[dict[str, Any]]
    journal: list[tuple[str, Any]]
    audit_notes: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, audit_path: Path, journal_path: Path) -> Books:
        audit, notes = read_audit(audit_path) if audit_path.exists() else ([], [])
        j = Journal(journal_path)
        try:
            records = [(r.kind, r.payload) for r in j.records()]
        finally:
            j.close()
        return cls(audit, records, notes)


def check_books(
    books: Books, audit_path: Path, parent_filled: dict[str, int] | None = None
) -> tuple[list[str], dict[str, Any]]:
    """Invariants 1-4 (module doc); ``parent_filled``: the daemon's view, if it is up."""
    out: list[str] = []
    requests = [r for r in books.audit if r["kind"] in ("new_order", "replace_request")]
    dup = {k: n for k, n in Counter(r["cl_ord_id"] for r in requests).items() if n > 1}
    out += [f"ClOrdID {cl} reached the venue {n} times" for cl, n in sorted(dup.items())]

    venue_fills = {
        r["exec_id"]: r
        for r in books.audit
        if r["kind"] == "exec_report" and r["exec_type"] == ExecType.TRADE.value
    }
    journal_fills = Counter(
        p.exec_id for kind, p in books.journal if kind == "report" and p.exec_type is ExecType.TRADE
    )
    lost = sorted(set(venue_fills) - set(journal_fills))
    out += [
        f"venue fill {e} ({venue_fills[e]['cl_ord_id']}, {venue_fills[e]['last_qty']}) "
        "never journalled"
        for e in lost
    ]
    out += [f"fill {e} journalled {n} times" for e, n in journal_fills.items() if n > 1]
    out += [
        f"journalled fill {e} unknown to the venue" for e in set(journal_fills) - set(venue_fills)
    ]

    # parent of every ClOrdID, from the journal (FIX does not carry it), following
    # replace chains (OrigClOrdID)
    parent_of: dict[str, str] = {}
    for kind, p in books.journal:
        if kind in ("new", "replace"):
            orig = getattr(p, "orig_cl_ord_id", "")
            parent_of[p.cl_ord_id] = p.parent_id or parent_of.get(orig, "")
    venue_by_parent: Counter[str] = Counter()
    for f in venue_fills.values():
        venue_by_parent[parent_of.get(f["cl_ord_id"], "?")] += int(f["last_qty"])
    daemon_by_parent: Counter[str] = Counter()
    counted: set[str] = set()  # a doubled fill is reported above, counted once here
    for kind, p in books.journal:
        if kind == "report" and p.exec_type is ExecType.TRADE and p.exec_id not in counted:
            counted.add(p.exec_id)
            daemon_by_parent[parent_of.get(p.cl_ord_id, "?")] += p.last_qty
    for parent in sorted(set(venue_by_parent) | set(daemon_by_parent)):
        v, d = venue_by_parent[parent], daemon_by_parent[parent]
        if v != d:
            out.append(f"parent {parent}: journal has {d} filled, the venue {v}")
    for parent, filled in sorted((parent_filled or {}).items()):
        if filled != venue_by_parent[parent]:
            out.append(
                f"parent {parent}: daemon reports {filled} filled, venue fills "
                f"{venue_by_parent[parent]}"
            )
    resting = recover_orders(audit_path).live
    out += [
        f"{o.cl_ord_id} still resting at the venue ({o.leaves_qty} @ {o.price})" for o in resting
    ]
    facts = {
        "orders": sum(1 for r in requests if r["kind"] == "new_order"),
        "replaces": sum(1 for r in requests if r["kind"] == "replace_request"),
        "venue_fills": len(venue_fills),
        "filled_qty": sum(int(f["last_qty"]) for f in venue_fills.values()),
        "venue_filled_by_parent": dict(venue_by_parent),
    }
    return out, facts

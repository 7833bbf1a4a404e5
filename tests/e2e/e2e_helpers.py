"""Helpers for the end-to-end tests: wait on a parent, read the journal and the audit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from core.types import ExecType
from daemon.journal import Journal
from daemon.stack import Stack


async def parent_view(stack: Stack, parent_id: str) -> dict[str, Any]:
    reply = await stack.ctl("status")
    assert reply["ok"], reply
    for p in reply["result"]["parents"]:
        if p["parent_id"] == parent_id:
            return dict(p)
    raise AssertionError(f"parent {parent_id} not in status: {reply}")


async def wait_parent(
    stack: Stack, parent_id: str, timeout: float, until: str = "terminal"
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = await parent_view(stack, parent_id)
        if until == "terminal" and view["state"] in ("completed", "canceled", "expired"):
            return view
        if until == "filled" and view["filled"] > 0:
            return view
        await asyncio.sleep(0.2)
    log = stack.dir / "daemon.log"
    tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
    raise AssertionError(
        f"parent {parent_id} not {until} within {timeout} s: {view}\n" + "\n".join(tail)
    )


def journal_fills(data_dir: Path) -> dict[str, int]:
    """ExecID -> quantity of every fill the daemon journalled (duplicates would collide)."""
    fills: dict[str, int] = {}
    seen: list[str] = []
    j = Journal(data_dir / "journal.db")
    for rec in j.records():
        if rec.kind == "report" and rec.payload.exec_type is ExecType.TRADE:
            seen.append(rec.payload.exec_id)
            fills[rec.payload.exec_id] = rec.payload.last_qty
    j.close()
    return fills


def audit_fills(stack: Stack) -> dict[str, int]:
    return {
        r["exec_id"]: r["last_qty"]
        for r in stack.audit()
        if r["kind"] == "exec_report" and r["exec_type"] == ExecType.TRADE.value
    }


def audit_new_order_ids(stack: Stack) -> list[str]:
    return [r["cl_ord_id"] for r in stack.audit() if r["kind"] in ("new_order", "replace_request")]

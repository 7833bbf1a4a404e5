"""The exchange process keeps its orders across a restart, as a real venue does.

Real exchange processes (``python -m exchange.main``) killed with SIGKILL and started
again on the same audit log, checkpoint and FIX store; a FIX initiator over TCP on
127.0.0.1 stays logged on through it (it reconnects by itself).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from core.events import CancelReject, ExecReport
from core.requests import CancelRequest, MassStatusRequest, NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, Side
from daemon.stack import free_port
from exchange.service.audit import read_audit
from exchange.service.checkpoint import read_checkpoint
from tests.integration.exchange_service.test_exchange_process import Trader, _until

CONFIG = """
[logging]
format = "json"
[pacing]
mode = "realtime"
[source]
on_end = "stay"
[[source.lobster]]
ticker = "AMZN"
levels = 5
start = "10:00:00"
end = "11:00:00"
[marketdata]
port = {MD}
[fix]
port = {FIX}
[[fix.sessions]]
sender_comp_id = "EXCHANGE"
target_comp_id = "RLEXEC"
store_dir = "{TMP}/exchange-fix"
[audit]
path = "{AUDIT}"
[restart]
resting_orders = "{MODE}"
checkpoint_s = 0.1
"""


def _config(mode: str) -> tuple[str, int]:
    fix = free_port()
    text = CONFIG.replace("{MD}", str(free_port())).replace("{FIX}", str(fix))
    return text.replace("{MODE}", mode), fix


async def _best(md_url: str) -> tuple[int, int, int]:
    """(best bid, best ask, best ask size) from a market-data snapshot."""
    async with aiohttp.ClientSession() as s, s.ws_connect(md_url) as ws:
        await ws.send_str('{"op":"subscribe","symbols":["AMZN"]}')
        while True:
            data = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
            for m in data if isinstance(data, list) else [data]:
                if m["type"] == "snapshot":
                    return m["bids"][0][0], m["asks"][0][0], m["asks"][0][1]


async def _rest_two_orders(trader: Trader, md_url: str) -> tuple[ExecReport, ExecReport]:
    """A partially filled buy (PART0, replaced to PART and away from the touch) and an
    untouched deep bid; plus a cancelled order whose ClOrdIDs must stay known."""
    bid, ask, ask_size = await _best(md_url)
    qty = ask_size + 300
    trader.send(NewOrderRequest("PART0", "AMZN", Side.BUY, qty, ask))
    await _until(lambda: any(_trade(r, "PART0") for r in trader.reports), what="PART0 fill")
    replace = ReplaceRequest("PART", "PART0", "AMZN", Side.BUY, qty, bid - 200)
    trader.init.send_app(*trader.fm.order_cancel_replace_request(replace))
    await trader.wait_for("PART")
    trader.send(NewOrderRequest("DEEP", "AMZN", Side.BUY, 100, bid - 300))
    trader.send(NewOrderRequest("GONE", "AMZN", Side.BUY, 100, bid - 301))
    trader.send(CancelRequest("GONE-X", "GONE", "AMZN", Side.BUY, 100))
    await trader.wait_for("DEEP")
    await trader.wait_for("GONE-X")
    part = [r for r in trader.for_id("PART") if isinstance(r, ExecReport)][-1]
    (deep,) = trader.for_id("DEEP")
    assert isinstance(deep, ExecReport)
    assert part.ord_status is OrdStatus.PARTIALLY_FILLED and part.leaves_qty > 0
    return part, deep


def _trade(r: object, cl: str) -> bool:
    return isinstance(r, ExecReport) and r.cl_ord_id == cl and r.exec_type is ExecType.TRADE


def _audited_fills(path: Path, venue_order_id: str) -> int:
    records, _ = read_audit(path)
    return sum(
        r["last_qty"]
        for r in records
        if r["kind"] == "exec_report"
        and r["venue_order_id"] == venue_order_id
        and r["exec_type"] == "F"
    )


async def _kill_and_restart(start_exchange: Any, ex: Any, config: str) -> Any:
    ex.proc.kill()  # SIGKILL: no logout, no final checkpoint, no flush beyond the OS's
    await ex.proc.wait()
    return await start_exchange(config)


async def test_resting_and_partially_filled_orders_survive_a_kill_9_of_the_exchange(
    start_exchange: Any, tmp_path: Path
) -> None:
    config, fix_port = _config("keep")
    ex = await start_exchange(config)
    trader = Trader(fix_port)
    try:
        await trader.start()
        part, deep = await _rest_two_orders(trader, ex.md_url)
        await asyncio.sleep(0.3)  # a checkpoint with both orders' queue positions
        saved = read_checkpoint(ex.audit_path.with_suffix(".state.json"))
        assert saved is not None and len(saved.queue_ahead) == 2
        before = (await ex.health())["venue_time_ns"]

        ex = await _kill_and_restart(start_exchange, ex, config)
        health = await ex.health()
        assert health["restart"]["resume"] is True
        assert health["restart"]["kept"] == 2 and health["restart"]["cancelled"] == 0
        # the replay resumes where it was, not at the window's start
        assert health["venue_time_ns"] >= saved.event_ns["AMZN"] >= before - 10**9
        await trader.init.wait_logged_on(10)

        n = len(trader.reports)
        trader.init.send_app(*trader.fm.order_mass_status_request(MassStatusRequest("M1")))
        await _until(lambda: len(trader.reports) >= n + 2, what="mass status answers")
        status = {
            r.cl_ord_id: r
            for r in trader.reports[n:]
            if isinstance(r, ExecReport) and r.exec_type is ExecType.ORDER_STATUS
        }
        assert set(status) == {"PART", "DEEP"}, trader.reports[n:]
        p, d = status["PART"], status["DEEP"]
        assert p.venue_order_id == part.venue_order_id and d.venue_order_id == deep.venue_order_id
        assert p.cum_qty >= part.cum_qty > 0  # fills kept (more may have come since)
        assert p.cum_qty == _audited_fills(ex.audit_path, part.venue_order_id)
        assert (d.cum_qty, d.leaves_qty, d.price) == (0, 100, deep.price)

        # ClOrdIDs are remembered: a reuse is a duplicate, a cancel of a done order too late
        trader.send(NewOrderRequest("DEEP", "AMZN", Side.BUY, 100, deep.price))
        trader.send(CancelRequest("GONE-Y", "GONE", "AMZN", Side.BUY, 100))
        trader.send(CancelRequest("PART0-X", "PART0", "AMZN", Side.BUY, p.order_qty))
        await _until(lambda: len(trader.for_id("DEEP")) >= 3, what="duplicate reject")
        dup = trader.for_id("DEEP")[-1]
        assert isinstance(dup, ExecReport) and dup.exec_type is ExecType.REJECTED
        assert "duplicate" in dup.text
        (late,) = await trader.wait_for("GONE-Y")
        assert isinstance(late, CancelReject) and "too late" in late.reason
        (replaced,) = await trader.wait_for("PART0-X")  # the replace chain is remembered
        assert isinstance(replaced, CancelReject) and "too late" in replaced.reason

        # a new order gets an OrderID never used before
        trader.send(NewOrderRequest("NEW1", "AMZN", Side.BUY, 100, deep.price))
        (new1,) = await trader.wait_for("NEW1")
        assert isinstance(new1, ExecReport)
        assert new1.venue_order_id not in {part.venue_order_id, deep.venue_order_id}

        # and the restored orders trade on: cancelling PART keeps its fills
        trader.send(CancelRequest("PART-X", "PART", "AMZN", Side.BUY, p.order_qty))
        (cxl,) = await trader.wait_for("PART-X")
        assert isinstance(cxl, ExecReport) and cxl.exec_type is ExecType.CANCELED
        assert cxl.cum_qty == _audited_fills(ex.audit_path, part.venue_order_id)
    finally:
        await trader.init.stop()
    assert await ex.stop() == 0


async def test_a_venue_set_to_cancel_on_restart_sends_the_cancels_and_audits_them(
    start_exchange: Any,
) -> None:
    config, fix_port = _config("cancel")
    ex = await start_exchange(config)
    trader = Trader(fix_port)
    try:
        await trader.start()
        part, _ = await _rest_two_orders(trader, ex.md_url)
        ex = await _kill_and_restart(start_exchange, ex, config)
        await trader.init.wait_logged_on(10)
        await trader.wait_for("DEEP", 2)
        await _until(
            lambda: any(
                isinstance(r, ExecReport) and r.exec_type is ExecType.CANCELED
                for r in trader.for_id("PART")
            ),
            what="PART cancelled",
        )
        cancels = {
            r.cl_ord_id: r
            for r in trader.reports
            if isinstance(r, ExecReport)
            and r.exec_type is ExecType.CANCELED
            and r.cl_ord_id in ("PART", "DEEP")
        }
        assert cancels["DEEP"].cum_qty == 0
        assert (
            cancels["PART"].cum_qty
            == _audited_fills(ex.audit_path, part.venue_order_id)
            >= part.cum_qty
        )
        assert all(c.leaves_qty == 0 and "restarted" in c.text for c in cancels.values())
        health = await ex.health()
        assert health["restart"]["cancelled"] == 2
    finally:
        await trader.init.stop()
    assert await ex.stop() == 0
    records, _ = read_audit(ex.audit_path)
    audited = [
        r["cl_ord_id"]
        for r in records
        if r["kind"] == "exec_report" and r["exec_type"] == "4" and "restarted" in r["text"]
    ]
    assert sorted(audited) == ["DEEP", "PART"]

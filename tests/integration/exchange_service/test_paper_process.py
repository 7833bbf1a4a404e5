"""Paper mode as a real process: a recorded Binance capture as upstream, and one
rlexec exchange paper-trading off another's market-data feed. Orders fill against the
upstream book; nothing goes upstream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from core.clock import WallClock
from core.events import ExecReport
from core.instruments import Instrument
from core.requests import NewOrderRequest
from core.types import ExecType, OrdStatus, OrdType, Side, TimeInForce
from exchange.service.audit import read_audit
from gateways.fix import AppMessage, FixInitiator, FixMessages, InitiatorSettings, SessionSettings
from gateways.marketdata.client import MarketDataClient

REPO = Path(__file__).resolve().parents[3]
BTC = Instrument("BTCUSDT", Decimal("0.01"), qty_unit=Decimal("0.00000001"), max_qty=10**12)

PAPER_RECORDING = f"""
[logging]
format = "json"
[[instruments]]
symbol = "BTCUSDT"
tick_size = "0.01"
qty_unit = "0.00000001"
max_qty = 1000000000000
currency = "USDT"
[pacing]
mode = "asap"
[source]
kind = "paper"
[source.paper]
upstream = "recording"
market = "spot"
files = ["{REPO / "data" / "crypto" / "spot_btcusdt_20240808.gz"}"]
[marketdata]
port = 0
[fix]
port = 0
[[fix.sessions]]
sender_comp_id = "EXCHANGE"
target_comp_id = "RLEXEC"
[audit]
path = "{{AUDIT}}"
"""


async def _until(cond: Callable[[], bool], timeout: float = 15, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _trader(
    port: int, instruments: dict[str, Instrument]
) -> tuple[FixInitiator, FixMessages, list[ExecReport]]:
    fm = FixMessages("FIX.4.4", instruments)
    reports: list[ExecReport] = []

    def on_event(ev: object) -> None:
        if isinstance(ev, AppMessage):
            r = fm.decode_report(ev.message)
            if isinstance(r, ExecReport):
                reports.append(r)

    init = FixInitiator(
        InitiatorSettings(
            port=port, session=SessionSettings(sender_comp_id="RLEXEC", target_comp_id="EXCHANGE")
        ),
        on_event=on_event,
    )
    await init.start()
    await init.wait_logged_on(10)
    return init, fm, reports


async def test_paper_trading_against_a_recorded_binance_capture(start_exchange: Any) -> None:
    ex = await start_exchange(PAPER_RECORDING)
    client = MarketDataClient(
        ex.md_url, ["BTCUSDT"], clock=WallClock(), instruments={"BTCUSDT": BTC}
    )
    client.start()
    init = None
    try:
        health = await ex.wait_source("finished", timeout=60)
        assert health["halted"] == []  # the upstream book is known
        assert (health["status"], health["problems"]) == ("ok", [])
        await asyncio.wait_for(client.wait_synced(), 10)
        seq = health["marketdata"]["seq"]["BTCUSDT"]
        await _until(lambda: client.builders["BTCUSDT"].last_seq == seq, what="caught up")
        book = client.book("BTCUSDT")
        assert book is not None and book.level_count(Side.BUY) > 500
        ask, ask_size = book.best_ask, book.best_ask_size
        assert ask is not None

        init, fm, reports = await _trader(ex.fix_port, {"BTCUSDT": BTC})
        qty = min(ask_size, 100_000)  # 0.001 BTC or what the best ask shows
        init.send_app(
            *fm.new_order_single(
                NewOrderRequest(
                    "P1", "BTCUSDT", Side.BUY, qty, None, OrdType.MARKET, TimeInForce.IOC
                )
            )
        )
        await _until(lambda: any(r.exec_type is ExecType.TRADE for r in reports), what="fill")
        fill = next(r for r in reports if r.exec_type is ExecType.TRADE)
        assert (fill.last_px, fill.last_qty, fill.ord_status) == (ask, qty, OrdStatus.FILLED)
        assert fill.liquidity == "R"
        await _until(lambda: client.book("BTCUSDT").size_at(Side.SELL, ask) == ask_size - qty)  # type: ignore[union-attr]
    finally:
        if init is not None:
            await init.stop()
        await client.stop()
    assert await ex.stop() == 0
    records, _ = read_audit(ex.audit_path)
    assert [r["kind"] for r in records] == ["new_order", "exec_report", "exec_report"]


CHAIN_UPSTREAM = """
[pacing]
mode = "asap"
[[source.lobster]]
ticker = "AMZN"
levels = 5
start = "11:00:00"
end = "11:00:20"
[marketdata]
port = 0
[fix]
enabled = false
[audit]
path = "{AUDIT}"
"""

CHAIN_PAPER = """
[source]
kind = "paper"
[source.paper]
upstream = "rlexec"
url = "URL"
[marketdata]
port = 0
[fix]
port = 0
[[fix.sessions]]
sender_comp_id = "EXCHANGE"
target_comp_id = "RLEXEC"
[audit]
path = "{AUDIT}"
"""


async def test_an_exchange_paper_trades_off_another_exchanges_feed(start_exchange: Any) -> None:
    up = await start_exchange(CHAIN_UPSTREAM, name="upstream")
    assert up.ready["fix_port"] is None
    up_health = await up.wait_source("finished")
    paper = await start_exchange(CHAIN_PAPER.replace("URL", up.md_url), name="paper")
    amzn = Instrument("AMZN")
    a = MarketDataClient(up.md_url, ["AMZN"], clock=WallClock())
    b = MarketDataClient(paper.md_url, ["AMZN"], clock=WallClock())
    a.start()
    b.start()
    init = None
    try:
        await asyncio.wait_for(a.wait_synced(), 10)
        await asyncio.wait_for(b.wait_synced(), 10)
        await _until(lambda: b.book("AMZN") is not None and a.book("AMZN") is not None)
        await _until(
            lambda: b.book("AMZN").snapshot() == a.book("AMZN").snapshot(),  # type: ignore[union-attr]
            what="the paper book to mirror the upstream one",
        )
        bid = a.book("AMZN").best_bid  # type: ignore[union-attr]
        init, fm, reports = await _trader(paper.fix_port, {"AMZN": amzn})
        init.send_app(*fm.new_order_single(NewOrderRequest("Q1", "AMZN", Side.SELL, 5, bid)))
        await _until(lambda: any(r.exec_type is ExecType.TRADE for r in reports), what="fill")
        assert next(r for r in reports if r.exec_type is ExecType.TRADE).last_px == bid
        # Nothing went upstream: its book and its order entry are untouched.
        await asyncio.sleep(0.2)
        h = await up.health()
        assert h["marketdata"]["seq"] == up_health["marketdata"]["seq"]
        assert h["order_entry"]["requests"] == 0

        # The paper book shows the liquidity our sell took; the upstream book does not.
        def shows_fill() -> bool:
            pb, ub = b.book("AMZN"), a.book("AMZN")
            assert pb is not None and ub is not None and bid is not None
            return pb.size_at(Side.BUY, bid) == ub.size_at(Side.BUY, bid) - 5

        await _until(
            shows_fill,
            what="the paper book to show the fill",
        )
    finally:
        if init is not None:
            await init.stop()
        await a.stop()
        await b.stop()


async def test_a_symbol_whose_upstream_book_never_builds_is_unhealthy_and_logged_once(
    start_exchange: Any,
) -> None:
    """A tick size of 0.1 where Binance spot quotes in 0.01: no depth update is readable,
    the book never builds and the symbol stays halted for the whole recording."""
    ex = await start_exchange(PAPER_RECORDING.replace('tick_size = "0.01"', 'tick_size = "0.1"'))
    health = await ex.wait_source("finished", timeout=60)
    assert health["status"] == "degraded" and health["halted"] == ["BTCUSDT"]
    (problem,) = health["problems"]
    assert problem.startswith("BTCUSDT: halted since the start: the upstream book never built")
    assert "is not a multiple of 0.1" in problem
    sym = health["symbols"]["BTCUSDT"]
    assert sym["halted"] and sym["ever_traded"] is False and sym["bad_messages"] > 30_000
    async with aiohttp.ClientSession() as s:
        url = ex.ready["health_url"].replace("/healthz", "/metrics")
        async with s.get(url) as r:
            metrics = await r.text()
    assert 'rlexec_exchange_symbol_halted{symbol="BTCUSDT"} 1.0' in metrics
    assert 'rlexec_exchange_symbol_never_traded{symbol="BTCUSDT"} 1.0' in metrics
    assert (
        f'rlexec_exchange_upstream_bad_messages_total{{symbol="BTCUSDT"}} {sym["bad_messages"]}.0'
        in metrics
    )
    assert await ex.stop() == 0
    lines = [line for line in ex.stderr().splitlines() if "venue_bad_message" in line]
    # one line per kind of error (depth, bookTicker, trade, snapshot) and one count each
    assert 1 <= len(lines) <= 8, lines
    assert any('"count":' in line and "_repeated" in line for line in lines)

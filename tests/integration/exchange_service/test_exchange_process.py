"""The exchange as a real process: LOBSTER replay, market data over a websocket and
FIX order entry over TCP on 127.0.0.1, the audit log, and its bad-input answers."""

from __future__ import annotations

import asyncio
import gzip
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from core.clock import WallClock
from core.events import CancelReject, ExecReport, TradePrint
from core.instruments import Instrument
from core.requests import CancelRequest, MassStatusRequest, NewOrderRequest
from core.types import ExecType, OrdStatus, Side
from exchange.service.audit import read_audit
from gateways.fix import (
    AppMessage,
    BusinessReject,
    FixInitiator,
    FixMessages,
    InitiatorSettings,
    SessionSettings,
)
from gateways.marketdata.client import BookStatus, MarketDataClient
from tests.unit.marketdata.lobster_folders import renamed_day

REPO = Path(__file__).resolve().parents[3]
AMZN = Instrument("AMZN")

LOBSTER = """
[logging]
format = "json"
[pacing]
mode = "asap"
[source]
on_end = "stay"
impact = "transient"
[[source.lobster]]
ticker = "AMZN"
levels = 5
start = "10:00:00"
end = "10:00:30"
[marketdata]
port = 0
heartbeat_s = 0.5
[fix]
port = 0
[[fix.sessions]]
sender_comp_id = "EXCHANGE"
target_comp_id = "RLEXEC"
[audit]
path = "{AUDIT}"
"""


def _touch(client: MarketDataClient, side: Side) -> int:
    book = client.book("AMZN")
    if book is None:
        return -1
    best = book.best(side)
    return -1 if best is None else book.size_at(side, best)


async def _until(cond: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Trader:
    """The daemon's side of FIX, built from the FIX engine's initiator."""

    def __init__(self, port: int) -> None:
        # ZZZZ: so the test can read the reject for a symbol the exchange does not list
        self.fm = FixMessages("FIX.4.4", {"AMZN": AMZN, "ZZZZ": Instrument("ZZZZ")})
        self.reports: list[ExecReport | CancelReject | BusinessReject] = []
        self.session_rejects: list[str] = []
        self.init = FixInitiator(
            InitiatorSettings(
                port=port,
                session=SessionSettings(sender_comp_id="RLEXEC", target_comp_id="EXCHANGE"),
            ),
            on_event=self._on_event,
        )

    def _on_event(self, ev: object) -> None:
        if isinstance(ev, AppMessage):
            self.reports.append(self.fm.decode_report(ev.message))
        elif type(ev).__name__ == "RejectReceived":
            self.session_rejects.append(ev.text)  # type: ignore[attr-defined]

    async def start(self) -> None:
        await self.init.start()
        await self.init.wait_logged_on(10)

    def send(self, req: NewOrderRequest | CancelRequest) -> None:
        out = (
            self.fm.new_order_single(req)
            if isinstance(req, NewOrderRequest)
            else self.fm.order_cancel_request(req)
        )
        self.init.send_app(*out)

    def send_raw(self, msg_type: bytes, body: bytes) -> None:
        self.init.send_app(msg_type, body)

    def for_id(self, cl: str) -> list[ExecReport | CancelReject]:
        return [r for r in self.reports if not isinstance(r, BusinessReject) and r.cl_ord_id == cl]

    async def wait_for(self, cl: str, n: int = 1) -> list[ExecReport | CancelReject]:
        await _until(lambda: len(self.for_id(cl)) >= n, what=f"{n} reports for {cl}")
        return self.for_id(cl)


def _body(**tags: str) -> bytes:
    return b"".join(f"{t}={v}\x01".encode() for t, v in tags.items())


async def test_replay_md_and_fix_order_entry_with_audit(start_exchange: Any) -> None:
    ex = await start_exchange(LOBSTER)
    trades: list[TradePrint] = []
    client = MarketDataClient(
        ex.md_url, ["AMZN"], clock=WallClock(), instruments={"AMZN": AMZN}, on_trade=trades.append
    )
    client.start()
    trader = Trader(ex.fix_port)
    try:
        await asyncio.wait_for(client.wait_synced(), 10)
        health = await ex.wait_source("finished")
        assert health["order_entry"]["requests"] == 0
        final_seq = health["marketdata"]["seq"]["AMZN"]
        await _until(lambda: client.builders["AMZN"].last_seq == final_seq, what="caught up")
        book = client.book("AMZN")
        assert book is not None and book.is_two_sided
        ask, ask_size, bid = book.best_ask, book.best_ask_size, book.best_bid
        assert ask is not None and bid is not None
        updates_before = client.stats.updates

        await trader.start()
        # 1. a marketable buy fills against the replayed book at its best ask
        qty = min(50, ask_size)
        trader.send(NewOrderRequest("T1", "AMZN", Side.BUY, qty, ask))
        t1 = await trader.wait_for("T1", 2)
        assert [r.exec_type for r in t1] == [ExecType.NEW, ExecType.TRADE]  # type: ignore[union-attr]
        fill = t1[1]
        assert isinstance(fill, ExecReport)
        assert (fill.last_qty, fill.last_px, fill.ord_status) == (qty, ask, OrdStatus.FILLED)
        # ... and the market-data feed shows it: a trade print and the level shrinking
        await _until(lambda: any(t.qty == qty and t.price == ask for t in trades), what="print")
        await _until(lambda: client.stats.updates > updates_before, what="book update")
        # what the crowd had left at the touch, where the (transient) impact model moved it
        # after our buy: up a tick or more, or not at all; nothing left behind at the old price
        if ask_size > qty:
            await _until(
                lambda: _touch(client, Side.SELL) == ask_size - qty, what="the level shrunk"
            )
            assert client.book("AMZN").best_ask >= ask  # type: ignore[union-attr,operator]

        # 2. a passive order rests and is cancelled
        trader.send(NewOrderRequest("T2", "AMZN", Side.BUY, 10, bid - 50))
        await trader.wait_for("T2")
        trader.send(CancelRequest("T3", "T2", "AMZN", Side.BUY, 10))
        (cxl,) = await trader.wait_for("T3")
        assert isinstance(cxl, ExecReport) and cxl.exec_type is ExecType.CANCELED

        # 2b. recovery: an order mass status lists the session's live orders
        trader.send(NewOrderRequest("T5", "AMZN", Side.SELL, 7, ask + 300))
        await trader.wait_for("T5")
        trader.init.send_app(*trader.fm.order_mass_status_request(MassStatusRequest("M1")))
        (_, status) = await trader.wait_for("T5", 2)
        assert isinstance(status, ExecReport) and status.exec_type is ExecType.ORDER_STATUS
        assert (status.ord_status, status.leaves_qty) == (OrdStatus.NEW, 7)

        # 3. bad input: every malformed order gets an ExecutionReport reject with a reason
        common = {"21": "1", "38": "10", "40": "2", "54": "1", "59": "0", "60": "20240101-00:00:00"}
        trader.send_raw(b"D", _body(**{"11": "B1", "55": "ZZZZ", "44": "10.00", **common}))
        trader.send_raw(b"D", _body(**{"11": "B2", "55": "AMZN", "44": "10.001", **common}))
        trader.send_raw(b"D", _body(**{"11": "B3", "55": "AMZN", "44": "1.00", **common}))
        bad_cancel = _body(
            **{"11": "B4", "41": "NOPE", "55": "AMZN", "54": "1", "60": "20240101-00:00:00"}
        )
        trader.send_raw(b"F", bad_cancel)
        (b1,) = await trader.wait_for("B1")
        (b2,) = await trader.wait_for("B2")
        (b3,) = await trader.wait_for("B3")
        (b4,) = await trader.wait_for("B4")
        for r, words in ((b1, "unknown symbol"), (b2, "tick"), (b3, "band")):
            assert isinstance(r, ExecReport), r
            assert r.exec_type is ExecType.REJECTED and r.ord_status is OrdStatus.REJECTED
            assert words in r.text, r.text
        assert isinstance(b4, CancelReject) and "unknown order" in b4.reason
        assert trader.session_rejects == []  # all answered by the application

        # 4. a malformed market-data subscription gets an error frame; the socket stays usable
        async with aiohttp.ClientSession() as s, s.ws_connect(ex.md_url) as ws:
            await ws.send_str('{"op":"subscribe","symbols":"AMZN"}')
            await ws.send_str('{"op":"subscribe","symbols":["AMZN"]}')
            kinds = []
            while "snapshot" not in kinds:
                data = orjson.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                for m in data if isinstance(data, list) else [data]:
                    kinds.append(m["type"])
                    if m["type"] == "error":
                        assert m["code"] == "bad_request" and "'symbols'" in m["message"]
            assert kinds.index("error") < kinds.index("snapshot")
    finally:
        await trader.init.stop()
        await client.stop()
    assert await ex.stop() == 0
    assert "exchange_stopped" in ex.stderr()

    # 5. reconciliation: the drop copy has every report the trader received, and the orders
    records, notes = read_audit(ex.audit_path)
    assert notes == []
    audited = {r["exec_id"]: r for r in records if r["kind"] == "exec_report"}
    received = [
        r
        for r in trader.reports
        if isinstance(r, ExecReport) and r.exec_type is not ExecType.ORDER_STATUS
    ]
    assert len(received) == 8  # T1 new+fill, T2 new, T3 cancel, T5 new, B1-B3 rejects
    for r in received:
        a = audited[r.exec_id]
        assert (a["cl_ord_id"], a["exec_type"], a["cum_qty"]) == (
            r.cl_ord_id,
            r.exec_type.value,
            r.cum_qty,
        )
        assert a["session"] == "FIX.4.4:EXCHANGE->RLEXEC"
    assert [r["cl_ord_id"] for r in records if r["kind"] == "new_order"] == ["T1", "T2", "T5", "B3"]
    assert [r["cl_ord_id"] for r in records if r["kind"] == "cancel_request"] == ["T3", "B4"]
    bad = [r for r in records if r["kind"] == "bad_message"]
    assert [b["fields"]["cl_ord_id"] for b in bad] == ["B1", "B2"]
    assert any(r["kind"] == "cancel_reject" and r["cl_ord_id"] == "B4" for r in records)


async def test_client_sees_a_disconnect_when_the_exchange_stops(start_exchange: Any) -> None:
    ex = await start_exchange(LOBSTER)
    statuses: list[BookStatus] = []
    client = MarketDataClient(
        ex.md_url,
        ["AMZN"],
        clock=WallClock(),
        on_status=lambda s, st, why: statuses.append(st),
        backoff_initial_s=5,
        backoff_max_s=5,
    )
    client.start()
    try:
        await asyncio.wait_for(client.wait_synced(), 10)
        assert await ex.stop() == 0
        await _until(lambda: client.status["AMZN"] is BookStatus.DISCONNECTED, what="disconnect")
        assert client.book("AMZN") is None
    finally:
        await client.stop()


async def test_corrupt_lobster_file_stops_with_file_and_line(
    start_exchange: Any, tmp_path: Path
) -> None:
    src = REPO / "data" / "lobster" / "AMZN_2012-06-21_1"
    day = tmp_path / "AMZN_2012-06-21_1"
    day.mkdir()
    for f in src.iterdir():
        shutil.copy(f, day / f.name)
    msg = next(day.glob("*_message_1.csv.gz"))
    lines = gzip.decompress(msg.read_bytes()).split(b"\n")
    lines[99] = b"34200.5,1,abc,100,2230000,1"
    msg.write_bytes(gzip.compress(b"\n".join(lines)))
    config = LOBSTER.replace("levels = 5", f'levels = 1\nmessage_file = "{msg}"')
    cfg = tmp_path / "bad.toml"
    cfg.write_text(config.replace("{AUDIT}", str(tmp_path / "a.jsonl")))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange.main", "--config", str(cfg),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert out == b""  # never announced itself ready
    text = err.decode()
    assert str(msg) in text and "line 100" in text


async def test_bad_config_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[pacing]\nmode = "warp"\n[marketdata]\nport = 70000\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exchange.main", "--config", str(cfg),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert b"pacing.mode" in err and b"marketdata.port" in err


SYNTHETIC = """
[pacing]
mode = "accelerated"
speed = 30
[source]
kind = "synthetic"
[[source.synthetic]]
symbol = "AMZN"
regime = "volatile"
seed = 5
start = "09:30:00"
end = "10:30:00"
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


async def test_synthetic_market_paced_with_order_entry(start_exchange: Any) -> None:
    ex = await start_exchange(SYNTHETIC)
    trades: list[TradePrint] = []
    client = MarketDataClient(ex.md_url, ["AMZN"], clock=WallClock(), on_trade=trades.append)
    client.start()
    trader = Trader(ex.fix_port)
    try:
        await asyncio.wait_for(client.wait_synced(), 10)
        await _until(lambda: client.stats.updates > 50 and len(trades) > 3, what="a moving market")
        t0 = (await ex.health())["venue_time_ns"]
        await asyncio.sleep(0.5)
        t1 = (await ex.health())["venue_time_ns"]
        assert 10e9 <= t1 - t0 <= 25e9  # about 30x real time
        await trader.start()
        book = client.book("AMZN")
        assert book is not None and book.best_bid is not None
        trader.send(NewOrderRequest("S1", "AMZN", Side.SELL, 1, book.best_bid - 200))
        reports = await trader.wait_for("S1", 2)
        assert reports[0].exec_type is ExecType.NEW  # type: ignore[union-attr]
        assert any(isinstance(r, ExecReport) and r.exec_type is ExecType.TRADE for r in reports)
    finally:
        await trader.init.stop()
        await client.stop()


async def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = tmp_path / "taken.toml"
        cfg.write_text(
            LOBSTER.replace("{AUDIT}", str(tmp_path / "a.jsonl")).replace(
                "[fix]\nport = 0", f"[fix]\nport = {port}"
            )
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "exchange.main", "--config", str(cfg),
            cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and out == b""
    assert f"FIX cannot listen on 127.0.0.1:{port}".encode() in err


# The replay above, of a LOBSTER folder for a ticker nothing ships (or defaults to).
ANY_TICKER = LOBSTER.replace('ticker = "AMZN"\nlevels = 5', 'folder = "{FOLDER}"')


async def test_any_lobster_folder_is_served_under_its_own_ticker(
    start_exchange: Any, tmp_path: Path
) -> None:
    folder = renamed_day(tmp_path / "data", "MSFT")
    ex = await start_exchange(ANY_TICKER.replace("{FOLDER}", str(folder)))
    client = MarketDataClient(ex.md_url, ["MSFT", "AMZN"], clock=WallClock())
    client.start()
    try:
        health = await ex.wait_source("finished")
        assert list(health["marketdata"]["seq"]) == ["MSFT"] and health["status"] == "ok"
        await asyncio.wait_for(client.wait_synced(["MSFT"]), 10)
        book = client.book("MSFT")
        assert book is not None and book.best_bid is not None and book.best_ask is not None
        await _until(lambda: client.status["AMZN"] is BookStatus.UNAVAILABLE, what="AMZN")
    finally:
        await client.stop()

"""Interop with QuickFIX, an engine no one here wrote, over TCP on 127.0.0.1, for every
FIX version (FIX.4.0-4.4, FIXT.1.1 with FIX.5.0/SP1/SP2) and both directions.

QuickFIX runs in its own process (quickfix_peer.py) with its own data dictionary
validation on, so a field it does not like comes back as a Reject we would see.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from fix_versions import ALL, Ver

from core.events import ExecReport
from core.instruments import Instrument
from core.requests import NewOrderRequest
from core.types import ExecType, OrdStatus, Side
from daemon.stack import free_port
from gateways.fix import (
    AcceptorSettings,
    AppMessage,
    FixAcceptor,
    FixInitiator,
    FixMessages,
    InitiatorSettings,
    SessionEvent,
    parse,
)

if os.environ.get("CI"):
    import quickfix  # noqa: F401  (in CI a missing QuickFIX is a failure, never a skip)
else:
    pytest.importorskip("quickfix", reason="QuickFIX binding not installed (see docs/fix.md)")

PEER = Path(__file__).with_name("quickfix_peer.py")
INSTRUMENTS = {"AMZN": Instrument("AMZN", tick_size=Decimal("0.01"))}


class QuickFix:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @classmethod
    async def start(
        cls, role: str, begin: str, port: int, sender: str, target: str, work: Path
    ) -> QuickFix:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PEER),
            role,
            begin,
            str(port),
            sender,
            target,
            str(work),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        qf = cls(proc)
        await qf.expect("READY")
        return qf

    async def expect(self, prefix: str, timeout: float = 20.0) -> str:
        assert self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not raw:
                raise AssertionError(f"QuickFIX exited waiting for {prefix!r}: {self.lines}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    async def expect_containing(self, text: str, timeout: float = 20.0) -> str:
        for line in self.lines:
            if text in line:
                return line
        while True:
            line = await self.expect("", timeout)
            if text in line:
                return line

    async def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()

    def rejects(self) -> list[str]:
        return [ln for ln in self.lines if "|35=3|" in ln or "|35=j|" in ln]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.send("QUIT")
                await asyncio.wait_for(self.proc.wait(), 10)
            except (TimeoutError, ConnectionError, BrokenPipeError):
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def cleanup() -> AsyncIterator[list[QuickFix]]:
    procs: list[QuickFix] = []
    yield procs
    for p in procs:
        await p.stop()


def initiator(port: int, ver: Ver, store: Path, events: list[SessionEvent]) -> FixInitiator:
    return FixInitiator(
        InitiatorSettings(
            port=port,
            reconnect_min_s=0.2,
            session=ver.settings(
                sender_comp_id="CLIENT", target_comp_id="EXCH", store_dir=store, log_dir=store
            ),
        ),
        on_event=events.append,
    )


def mapping(ver: Ver) -> FixMessages:
    return FixMessages(ver.begin, INSTRUMENTS, dictionary=ver.settings().dictionary())


async def wait_for(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("ver", ALL, ids=lambda v: v.id)
async def test_our_initiator_trades_with_a_quickfix_acceptor(
    tmp_path: Path, cleanup: list[QuickFix], ver: Ver
) -> None:
    port = free_port()
    qf = await QuickFix.start("acceptor", ver.id, port, "EXCH", "CLIENT", tmp_path / "qf")
    cleanup.append(qf)
    events: list[SessionEvent] = []
    ini = initiator(port, ver, tmp_path / "ours", events)
    fm = mapping(ver)
    await ini.start()
    await ini.wait_logged_on(20)
    await qf.expect("LOGON")
    for i in range(3):
        ini.send_app(*fm.new_order_single(NewOrderRequest(f"C{i}", "AMZN", Side.BUY, 100, 18725)))
    await wait_for(lambda: sum(isinstance(e, AppMessage) for e in events) == 6)
    reports = [fm.decode_report(e.message) for e in events if isinstance(e, AppMessage)]
    assert all(isinstance(r, ExecReport) for r in reports)
    news = [r for r in reports if isinstance(r, ExecReport) and r.exec_type is ExecType.NEW]
    fills = [r for r in reports if isinstance(r, ExecReport) and r.exec_type is ExecType.TRADE]
    assert [r.cl_ord_id for r in news] == ["C0", "C1", "C2"]
    for f in fills:
        assert (f.ord_status, f.last_qty, f.last_px, f.cum_qty, f.leaves_qty) == (
            OrdStatus.PARTIALLY_FILLED,
            50,
            18725,
            50,
            50,
        )
        assert f.avg_px == 18725.0 and f.price == 18725 and f.venue_order_id.startswith("QFO-")
    assert qf.rejects() == [], qf.rejects()
    assert ini.stats.rejects_sent == 0 and ini.stats.business_rejects_sent == 0
    await ini.stop("done")
    await qf.expect("LOGOUT")


def venue_app(acceptor_ref: list[FixAcceptor], fm: FixMessages):  # type: ignore[no-untyped-def]
    counter = [0]

    def on_event(ev: SessionEvent) -> None:
        if not isinstance(ev, AppMessage):
            return
        req = fm.decode_new_order_single(ev.message)
        counter[0] += 1
        new = ExecReport(
            req.cl_ord_id,
            f"{counter[0]}0",  # numeric: FIX.4.0 ExecID is an int
            ExecType.NEW,
            OrdStatus.NEW,
            req.symbol,
            req.side,
            req.qty,
            0,
            req.qty,
            0,
            price=req.price,
            venue_order_id=f"V{counter[0]}",
        )
        acceptor_ref[0].send_app(ev.session_id, *fm.execution_report(new))
        fill = ExecReport(
            req.cl_ord_id,
            f"{counter[0]}1",
            ExecType.TRADE,
            OrdStatus.FILLED,
            req.symbol,
            req.side,
            req.qty,
            req.qty,
            0,
            0,
            price=req.price,
            last_qty=req.qty,
            last_px=req.price or 0,
            avg_px=float(req.price or 0),
            venue_order_id=f"V{counter[0]}",
            liquidity="R",
        )
        acceptor_ref[0].send_app(ev.session_id, *fm.execution_report(fill))

    return on_event


@pytest.mark.parametrize("ver", ALL, ids=lambda v: v.id)
async def test_a_quickfix_initiator_trades_with_our_acceptor(
    tmp_path: Path, cleanup: list[QuickFix], ver: Ver
) -> None:
    fm = mapping(ver)
    ref: list[FixAcceptor] = []
    begin = ver.begin
    acc = FixAcceptor(
        AcceptorSettings(
            port=0,
            sessions=(ver.settings(store_dir=tmp_path / "ours", log_dir=tmp_path / "ours"),),
        ),
        on_event=venue_app(ref, fm),
    )
    ref.append(acc)
    await acc.start()
    try:
        qf = await QuickFix.start("initiator", ver.id, acc.port, "CLIENT", "EXCH", tmp_path / "qf")
        cleanup.append(qf)
        await qf.expect("LOGON")
        await qf.send("SEND 3")
        reports = [
            parse((await qf.expect("APP ")).removeprefix("APP ").replace("|", "\x01").encode())
            for _ in range(6)
        ]
        assert [r.get(11) for r in reports] == [b"QF0", b"QF0", b"QF1", b"QF1", b"QF2", b"QF2"]
        fills = [fm.decode_execution_report(r) for r in reports[1::2]]
        for f in fills:
            assert (f.exec_type, f.ord_status, f.last_qty, f.last_px, f.cum_qty) == (
                ExecType.TRADE,
                OrdStatus.FILLED,
                200,
                18725,
                200,
            )
        assert qf.rejects() == [], qf.rejects()
        session = next(iter(acc.sessions.values()))
        assert session.stats.rejects_sent == 0 and session.stats.business_rejects_sent == 0
        await qf.send("LOGOUT")
        await qf.expect("LOGOUT")
    finally:
        await acc.stop()
    log = (tmp_path / "ours" / f"{begin}-EXCH-CLIENT.messages.log").read_text().splitlines()
    assert sum("|35=D|" in ln for ln in log) == 3 and sum("|35=8|" in ln for ln in log) == 6
    assert all(ln.startswith(f"8={begin}|") and ln.endswith("|") for ln in log)


async def test_sequence_gap_is_healed_by_resend_after_reconnect(
    tmp_path: Path, cleanup: list[QuickFix]
) -> None:
    port = free_port()
    qf = await QuickFix.start("acceptor", "FIX.4.4", port, "EXCH", "CLIENT", tmp_path / "qf")
    cleanup.append(qf)
    events: list[SessionEvent] = []
    ini = initiator(port, Ver("FIX.4.4"), tmp_path / "ours", events)
    await ini.start()
    await ini.wait_logged_on(20)
    await qf.expect("LOGON")
    await ini.stop("back soon")
    await qf.expect("LOGOUT")
    # While we are away QuickFIX "sends" two reports: they get sequence numbers, not wires.
    await qf.send("UNSOLICITED 2")
    await qf.expect("STORED")

    events2: list[SessionEvent] = []
    ini2 = initiator(port, Ver("FIX.4.4"), tmp_path / "ours", events2)
    await ini2.start()
    await ini2.wait_logged_on(20)
    await wait_for(lambda: sum(isinstance(e, AppMessage) for e in events2) == 2)
    apps = [e for e in events2 if isinstance(e, AppMessage)]
    assert [a.message.get(11) for a in apps] == [b"UNS0", b"UNS1"]
    assert all(a.poss_dup for a in apps)
    assert ini2.stats.resend_requests_sent == 1
    rr = await qf.expect_containing("|35=2|")  # QuickFIX saw our ResendRequest
    assert "|7=3|16=0|" in rr  # QuickFIX sent Logon 1 and Logout 2 before the gap
    assert not ini2.session.awaiting_resend
    fm = FixMessages("FIX.4.4", INSTRUMENTS)
    rep = fm.decode_execution_report(apps[0].message)
    assert rep.poss_dup and rep.exec_type is ExecType.NEW
    await ini2.stop()

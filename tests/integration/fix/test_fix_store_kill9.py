"""A process killed with SIGKILL resumes with the right sequence numbers and can still
resend what it sent before it died: the store writes before the socket does."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from fix_peer import RawPeer, tag

from core.clock import WallClock

CHILD = Path(__file__).with_name("fix_store_child.py")


async def spawn(port: int, store: Path, count: int, fsync: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(port),
        str(store),
        str(count),
        fsync,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    return line.decode().strip()


@pytest.mark.parametrize("fsync", ["always", "batched"])
async def test_killed_initiator_resumes_sequence_and_answers_resend(
    tmp_path: Path, fsync: str
) -> None:
    conns: asyncio.Queue[RawPeer] = asyncio.Queue()
    clock = WallClock()

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await conns.put(RawPeer(reader, writer, clock, sender="EXCH", target="CLIENT"))  # type: ignore[arg-type]

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # ---- first life: log on, send five orders, die without a word
        proc = await spawn(port, tmp_path, 5, fsync)
        peer = await asyncio.wait_for(conns.get(), 20)
        logon = await peer.expect("A", timeout=20)
        assert tag(logon, 34) == "1"
        await peer.send("A", [(98, 0), (108, 30)])
        assert (await read_line(proc)).startswith("LOGGED_ON next_out=2")
        sent = [await read_line(proc) for _ in range(5)]
        assert sent[-1] == "SENT 6 ORD4"
        for i in range(5):
            assert tag(await peer.expect("D"), 11) == f"ORD{i}"
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        await peer.expect_disconnect()

        # ---- second life: continues at 7 and resends 2..6 from the store
        proc = await spawn(port, tmp_path, 0, fsync)
        peer2 = await asyncio.wait_for(conns.get(), 20)
        logon = await peer2.expect("A", timeout=20)
        assert tag(logon, 34) == "7", "sequence number lost in the crash"
        peer2.seq = 2
        await peer2.send("A", [(98, 0), (108, 30)])
        assert await read_line(proc) == "LOGGED_ON next_out=8 next_in=3"
        await peer2.send("2", [(7, 2), (16, 0)])
        for i in range(5):
            again = await peer2.expect("D")
            assert (tag(again, 34), tag(again, 43), tag(again, 11)) == (str(i + 2), "Y", f"ORD{i}")
            assert tag(again, 122) is not None
        gap = await peer2.expect("4")  # the second Logon (7) is admin: gap filled
        assert (tag(gap, 34), tag(gap, 36), tag(gap, 123)) == ("7", "8", "Y")
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    finally:
        server.close()

    log = (tmp_path / "FIX.4.4-CLIENT-EXCH.messages.log").read_text()
    lines = log.splitlines()
    assert all(line.startswith("8=FIX.4.4|9=") and line.endswith("|") for line in lines)
    assert sum("|35=D|" in line and "|43=Y|" not in line for line in lines) == 5
    assert sum("|35=D|" in line and "|43=Y|" in line for line in lines) == 5

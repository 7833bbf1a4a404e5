"""A TCP relay between the daemon and the venue that can lose a FIX message in transit.

The honest way to make a FIX venue ask for a resend: the bytes of one message never
arrive, the venue sees the next message's MsgSeqNum too high and sends a ResendRequest,
exactly as after a network fault. Nothing inside either session is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

# A FIX message ends with its CheckSum field: SOH 10=nnn SOH.
_END = re.compile(rb"\x0110=\d{3}\x01")


class LossyLink:
    def __init__(self, venue_port: int) -> None:
        self.venue_port = venue_port
        self.port = 0
        self.lose_next: bytes | None = None  # the next daemon->venue message holding this
        self.lost: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.venue_port)
        for t in (
            asyncio.create_task(self._pump(reader, up_writer, lossy=True)),
            asyncio.create_task(self._pump(up_reader, writer, lossy=False)),
        ):
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, lossy: bool
    ) -> None:
        buf = b""
        try:
            while data := await src.read(65536):
                if not lossy:
                    dst.write(data)
                    continue
                buf += data
                while m := _END.search(buf):
                    msg, buf = buf[: m.end()], buf[m.end() :]
                    if self.lose_next is not None and self.lose_next in msg:
                        self.lose_next = None
                        self.lost.append(msg)
                        continue
                    dst.write(msg)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            dst.close()

"""Child process for the kill -9 test: an initiator with a file store that logs on,
sends ``count`` NewOrderSingles, reports each on stdout, then idles until killed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gateways.fix import FixInitiator, InitiatorSettings, SessionSettings


async def main(port: int, store_dir: str, count: int, fsync: str) -> None:
    settings = InitiatorSettings(
        port=port,
        reconnect_min_s=0.05,
        session=SessionSettings(
            sender_comp_id="CLIENT",
            target_comp_id="EXCH",
            store_dir=Path(store_dir),
            log_dir=Path(store_dir),
            fsync=fsync,
        ),
    )
    ini = FixInitiator(settings)
    await ini.start()
    await ini.wait_logged_on(10)
    print(f"LOGGED_ON next_out={ini.next_sender_seq} next_in={ini.next_target_seq}", flush=True)
    for i in range(count):
        body = (
            b"11=ORD%d\x0121=1\x0138=100\x0140=1\x0154=1\x0155=AMZN\x0160=20260105-14:30:00\x01" % i
        )
        seq = ini.send_app(b"D", body)
        print(f"SENT {seq} ORD{i}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]))

"""`rlexec run`: the daemon process — start the node, serve until SIGTERM/SIGINT, stop cleanly.

Exit codes: 0 after a clean shutdown; 2 when the configuration or the start-up state
is unusable (bad config, corrupt policy or journal) — systemd and compose are set not
to restart on 2, because restarting would only fail the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from core import log as logs
from core.config import ConfigError, load
from daemon.config import DaemonConfig
from daemon.node import Node, NodeStartError

EXIT_OK = 0
EXIT_CONFIG = 2


def _use_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


async def serve(cfg: DaemonConfig, *, ready_line: bool = True) -> int:
    log = logs.get_logger("rlexec.main")
    try:
        node = Node(cfg)
    except NodeStartError as exc:
        log.critical("node_cannot_start", error=str(exc))
        print(f"rlexec run: cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
    except NodeStartError as exc:  # the journal database itself cannot be read
        log.critical("node_cannot_start", error=str(exc))
        print(f"rlexec run: cannot start: {exc}", file=sys.stderr)
        node.journal.close()
        return EXIT_CONFIG
    if ready_line:
        # one machine-readable line for whoever started us (the demo, tests)
        print(f'{{"event": "daemon_started", "http_port": {node.http_port}}}', flush=True)
    await stop.wait()
    log.info("signal_received", detail="stopping")
    await node.stop()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="rlexec run", description="run the execution daemon")
    parser.add_argument("--config", metavar="FILE", default=None, help="omit for embedded defaults")
    args = parser.parse_args(argv)
    try:
        cfg = load(DaemonConfig, args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    logs.configure(cfg.logging.format, cfg.logging.level)
    _use_uvloop()
    return asyncio.run(serve(cfg))


if __name__ == "__main__":
    sys.exit(main())

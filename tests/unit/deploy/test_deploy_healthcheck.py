"""rlexec-healthcheck against real servers on 127.0.0.1, including the real exchange.

The exchange is started from deploy/examples/exchange.toml (ports 0, state in a scratch
directory), so the example config is also proven to start a working venue whose
/healthz the container HEALTHCHECK can see.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from deploy_tree import REPO

SCRIPT = REPO / "deploy/bin/healthcheck.py"


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RLEXEC_HEALTHCHECK_URL"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {
            "/healthz": (200, b'{"status":"alive"}'),
            "/sick": (503, b"no"),
            "/moved": (302, b""),
        }
        if self.path == "/hang":
            threading.Event().wait(5)
            return
        code, body = routes.get(self.path, (404, b"not found"))
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "/healthz")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthy_endpoint(http_server: str) -> None:
    res = probe(f"{http_server}/healthz")
    assert res.returncode == 0
    assert res.stdout.startswith("healthy:")


@pytest.mark.parametrize(
    ("path", "why"), [("/sick", "HTTP 503"), ("/moved", "HTTP 302"), ("/missing", "HTTP 404")]
)
def test_unhealthy_answers(http_server: str, path: str, why: str) -> None:
    res = probe(f"{http_server}{path}")
    assert res.returncode == 1
    assert why in res.stdout


def test_a_server_that_never_answers_times_out(http_server: str) -> None:
    res = probe(f"{http_server}/hang", "--timeout", "0.5")
    assert res.returncode == 1
    assert "timed out" in res.stdout


def test_nothing_listening() -> None:
    port = _closed_port()
    for url in (f"http://127.0.0.1:{port}/healthz", f"tcp://127.0.0.1:{port}"):
        res = probe(url)
        assert res.returncode == 1, url
        assert "unhealthy" in res.stdout


def test_tcp_probe_accepting() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        res = probe(f"tcp://127.0.0.1:{s.getsockname()[1]}")
    assert res.returncode == 0
    assert "accepting" in res.stdout


@pytest.mark.parametrize(
    "bad", ["ftp://x/y", "tcp://127.0.0.1", "tcp://127.0.0.1:notaport", "healthz"]
)
def test_bad_usage(bad: str) -> None:
    res = probe(bad)
    assert res.returncode == 2
    assert "rlexec-healthcheck:" in res.stderr


def test_url_from_the_environment(http_server: str) -> None:
    env = {**os.environ, "RLEXEC_HEALTHCHECK_URL": f"{http_server}/sick"}
    res = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert res.returncode == 1


@contextlib.contextmanager
def _exchange(tmp: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, object]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RLEXEC")}
    env.update(
        {
            "RLEXEC__MARKETDATA__PORT": "0",
            "RLEXEC__FIX__PORT": "0",
            "RLEXEC__AUDIT__PATH": str(tmp / "audit.jsonl"),
            "RLEXEC__FIX__SESSIONS": f"[{{sender_comp_id='EXCHANGE', target_comp_id='RLEXEC', store_dir='{tmp / 'fix'}'}}]",
            "RLEXEC__LOGGING__LEVEL": "WARNING",
        }
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange.main",
            "--config",
            str(REPO / "deploy/examples/exchange.toml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp,
    )
    try:
        assert proc.stdout is not None
        ready: dict[str, object] = {}
        for line in proc.stdout:
            with contextlib.suppress(json.JSONDecodeError):
                msg = json.loads(line)
                if msg.get("event") == "exchange_ready" and "health_url" in msg:
                    ready = msg
                    break
        assert ready, f"exchange exited ({proc.poll()}) without announcing readiness"
        yield proc, ready
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_the_example_exchange_is_healthy_then_not_after_stopping(tmp_path: Path) -> None:
    with _exchange(tmp_path) as (proc, ready):
        res = probe(str(ready["health_url"]))
        assert res.returncode == 0, res.stdout
        fix = probe(f"tcp://127.0.0.1:{ready['fix_port']}")
        assert fix.returncode == 0, fix.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    res = probe(str(ready["health_url"]))
    assert res.returncode == 1

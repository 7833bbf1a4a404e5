"""No secret in any log line, file or metric: the whole deployment (redis-server, the
exchange, the daemon: real processes over loopback) run with known secrets, driven
through logon, signed and refused commands, a wrong FIX password and orders, then
every byte it wrote and every page it served is searched for them (docs/security.md)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from daemon.stack import Stack, StackSettings
from gateways.fix.codec import HeaderEncoder
from gateways.fix.timefmt import format_utc

pytestmark = pytest.mark.e2e

SECRETS = {
    "fix_password": "Fix-Pw-ab12cd34ef",
    "fix_wrong_password": "Fix-Guess-77aa88bb",
    "redis_password": "Redis-Pw-5e6f7a8b9c",
    "hmac_key": "Hmac-Key-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}


class SecretStack(Stack):
    """daemon/stack.py's deployment with a Redis password, FIX credentials, a command key."""

    def exchange_toml(self) -> str:
        return (
            super()
            .exchange_toml()
            .replace(
                'target_comp_id = "RLEXEC"\n',
                f'target_comp_id = "RLEXEC"\nusername = "rlexec"\npassword = "{SECRETS["fix_password"]}"\n',
                1,
            )
        )

    def daemon_toml(self) -> str:
        text = (
            super()
            .daemon_toml()
            .replace(
                f'url = "{self.redis_url}"\n',
                f'url = "{self.redis_url}"\nusername = "default"\npassword = "{SECRETS["redis_password"]}"\n',
                1,
            )
        )
        key_file = self.dir / "command-hmac-key"
        key_file.write_text(SECRETS["hmac_key"])
        key_file.chmod(0o600)
        return text + (
            f'\n[control]\nhmac_key_file = "{key_file}"\n'
            '[fix.session]\nsender_comp_id = "RLEXEC"\ntarget_comp_id = "EXCHANGE"\n'
            f'username = "rlexec"\npassword = "{SECRETS["fix_password"]}"\n'
        )


def _requirepass(stack: Stack) -> None:
    r = redis.Redis(port=stack.redis_port)
    r.config_set("requirepass", SECRETS["redis_password"])
    r.close()


def _wrong_fix_logon(port: int) -> None:
    """A Logon with the wrong password, as an attacker on the network would send it."""
    import socket

    body = (
        b"98=0\x01108=30\x01553=rlexec\x01554=" + SECRETS["fix_wrong_password"].encode() + b"\x01"
    )
    frame = HeaderEncoder("FIX.4.4", "RLEXEC", "EXCHANGE").encode(
        b"A", 1, format_utc(time.time_ns()), body
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(frame)
        s.settimeout(5)
        while s.recv(4096):
            pass


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return str(r.read().decode())
    except urllib.error.HTTPError as exc:  # /readyz answers 503 while halted
        return str(exc.read().decode())


async def test_no_secret_reaches_a_log_line_a_file_or_a_metric(tmp_path: Path) -> None:
    stack = SecretStack(StackSettings(tmp_path, speed=20.0, decide_on="book"))
    pages: list[str] = []
    try:
        stack.start_redis()
        _requirepass(stack)
        stack.start_exchange()
        stack.start_daemon()
        pw = {"username": "default", "password": SECRETS["redis_password"]}
        reply = await stack.ctl(
            "submit_parent",
            {"symbol": "AMZN", "side": "buy", "qty": 500, "duration_s": 600},
            **pw,
        )
        assert reply["ok"], reply
        assert (await stack.ctl("kill", {"reason": "drill"}, **pw))["ok"]
        refused = await stack.ctl("reset_kill", {"reason": "unsigned"}, key=b"k" * 40, **pw)
        assert not refused["ok"]
        signed = await stack.ctl(
            "reset_kill", {"reason": "signed"}, key=SECRETS["hmac_key"].encode(), **pw
        )
        assert signed["ok"], signed
        await asyncio.to_thread(_wrong_fix_logon, stack.fix_port)
        await asyncio.sleep(3)  # orders, fills, the refusal: all logged by now
        for page in ("metrics", "readyz", "healthz"):
            pages.append(_get(f"http://127.0.0.1:{stack.http_port}/{page}"))
        assert "rlexec_orders_sent_total" in pages[0]
    finally:
        stack.close()
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert any("exchange-fix" in str(p) for p in written)  # the venue's FIX logs are searched
    logs = b"".join(written.values())
    assert b"bad username or password" in logs or b"fix_connection_refused" in logs
    leaks = [
        f"{name} in {where}"
        for name, secret in SECRETS.items()
        for where, data in [
            *((str(p), d) for p, d in written.items()),
            *((f"page {i}", s.encode()) for i, s in enumerate(pages)),
        ]
        if secret.encode() in data
        and not where.endswith("command-hmac-key")
        and not where.endswith(("daemon.toml", "exchange.toml"))
    ]
    assert not leaks, leaks

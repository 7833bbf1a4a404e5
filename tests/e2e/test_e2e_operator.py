"""End to end, as an operator on a replaying venue: the kill switch engaged and reset with
a signed command over Redis while the market clock reads 2012 and runs at 30x, and
/readyz saying why the node may not trade meanwhile (issue 13 items 7 and 8)."""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from daemon.stack import Stack, StackSettings

pytestmark = pytest.mark.e2e


def _readyz(stack: Stack) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{stack.http_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


async def test_a_signed_reset_is_accepted_under_a_30x_replay_and_readyz_follows_the_kill_switch(
    tmp_path: Path,
) -> None:
    key = secrets.token_hex(32).encode()
    key_file = tmp_path / "command-hmac-key"
    key_file.write_bytes(key + b"\n")
    stack = Stack(
        StackSettings(
            tmp_path / "stack",
            speed=30,
            extra_daemon_toml=f'[control]\nhmac_key_file = "{key_file}"\n',
        )
    )
    stack.start()
    try:
        status = await stack.ctl("status")
        assert status["result"]["market_time_ns"] < time.time_ns() - 365 * 86_400 * 10**9
        assert _readyz(stack)[0] == 200
        killed = await stack.ctl("kill", {"reason": "drill"})
        assert killed["ok"] and killed["result"]["engaged"], killed
        code, body = _readyz(stack)
        assert code == 503 and "drill" in body["halts"]["kill_switch"], body
        reset = await stack.ctl("reset_kill", {"reason": "drill over"}, key=key)
        assert reset["ok"], reset  # signed with the wall clock, checked against it
        for _ in range(50):
            if _readyz(stack)[0] == 200:
                break
            await asyncio.sleep(0.1)
        code, body = _readyz(stack)
        assert code == 200 and body["halts"] == {}, body
    finally:
        stack.close()

"""Signed commands across a key rollover: both keys valid while the old one is being
retired, only the new one after (docs/security.md)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load
from daemon.config import DaemonConfig
from daemon.control.commands import envelope, parse
from daemon.node import Node, NodeStartError
from risk.command_auth import AuthFailure, CommandRefused, CommandVerifier, signed

NEW = b"new-key-0123456789abcdef0123456789abcdef"
OLD = b"old-key-0123456789abcdef0123456789abcdef"


def test_the_verifier_accepts_either_key_during_a_rollover() -> None:
    v = CommandVerifier((NEW, OLD), max_age_ns=60_000_000_000)
    now = time.time_ns()
    for i, key in enumerate((NEW, OLD)):
        v.verify(signed(key, "reset_kill", now, f"nonce-rollover-{i:04d}"), "reset_kill", now)
    with pytest.raises(CommandRefused) as err:
        v.check(signed(b"x" * 32, "reset_kill", now, "nonce-rollover-9999"), "reset_kill", now)
    assert err.value.failure is AuthFailure.BAD_SIGNATURE


def test_after_the_rollover_the_old_key_is_refused() -> None:
    v = CommandVerifier(NEW, max_age_ns=60_000_000_000)
    now = time.time_ns()
    with pytest.raises(CommandRefused) as err:
        v.check(signed(OLD, "reset_kill", now, "nonce-after-0001"), "reset_kill", now)
    assert err.value.failure is AuthFailure.BAD_SIGNATURE
    assert "key" not in repr(v).replace("keys=", "")  # the key never shows


@contextlib.contextmanager
def _node(tmp: Path, env: dict[str, str]) -> Iterator[Node]:
    cfg = load(
        DaemonConfig,
        None,
        env={"RLEXEC__NODE__DATA_DIR": str(tmp), "RLEXEC__REDIS__ENABLED": "false", **env},
    )
    node = Node(cfg)
    try:
        yield node
    finally:
        node.journal.close()


async def _reset(node: Node, key: bytes) -> dict[str, object]:
    await node.handler.handle(parse(envelope(uuid.uuid4().hex, "kill", {"reason": "drill"})))
    body = envelope(
        uuid.uuid4().hex,
        "reset_kill",
        {"reason": "drill over"},
        key=key,
        ts_ns=time.time_ns(),
        nonce=uuid.uuid4().hex,
    )
    return await node.handler.handle(parse(body))


BOTH = {
    "RLEXEC__CONTROL__HMAC_KEY": NEW.decode(),
    "RLEXEC__CONTROL__PREVIOUS_HMAC_KEY": OLD.decode(),
}


async def test_a_node_given_both_keys_accepts_commands_signed_with_either(tmp_path: Path) -> None:
    with _node(tmp_path, BOTH) as node:
        for key in (OLD, NEW):
            reply = await _reset(node, key)
            assert reply["ok"], reply
            assert not node.risk.kill_switch.engaged


async def test_a_node_given_the_new_key_alone_refuses_the_old(tmp_path: Path) -> None:
    with _node(tmp_path, {"RLEXEC__CONTROL__HMAC_KEY": NEW.decode()}) as node:
        reply = await _reset(node, OLD)
        assert not reply["ok"] and reply["error"]["code"] == "unauthorized", reply
        assert node.risk.kill_switch.engaged
        assert (await _reset(node, NEW))["ok"]


async def test_the_old_key_alone_authorises_nothing(tmp_path: Path) -> None:
    with _node(tmp_path, {"RLEXEC__CONTROL__PREVIOUS_HMAC_KEY": OLD.decode()}) as node:
        reply = await _reset(node, OLD)
        assert not reply["ok"] and node.risk.kill_switch.engaged


def test_a_short_previous_key_stops_the_start(tmp_path: Path) -> None:
    with (
        pytest.raises(NodeStartError, match="previous_hmac_key"),
        _node(tmp_path, {**BOTH, "RLEXEC__CONTROL__PREVIOUS_HMAC_KEY": "short"}),
    ):
        pass

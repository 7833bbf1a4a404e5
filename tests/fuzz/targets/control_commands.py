"""Redis command payloads (the stream entry's ``body``) into the control plane: the
daemon's own parser and command handler, on a real Node (journal, risk overlay,
committed policy; no venue, no Redis: nothing here needs them).

Each input is a payload as raw bytes or an envelope built from the input (every
command, arguments of any type, signed or not). A payload that does not parse is a
:class:`CommandError` with a code and a message, and leaves the journal and the
parents untouched; one that parses gets a reply (ok, or an error code from
:class:`ErrorCode` with a message), is journalled once (the same command again gets
the stored reply, marked duplicate), every record it wrote reads back, a refused
command creates no parent, and a signed command succeeds only with a valid signature.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson

from core.config import load
from daemon.config import DaemonConfig
from daemon.control.commands import CommandError, ErrorCode, envelope, parse, signed_action
from daemon.node import Node
from risk.command_auth import sign
from tests.fuzz.harness import Choices, assert_clear_error
from tests.fuzz.targets._files import scratch_dir

KEY = b"fuzz-control-key-0123456789abcdef0123456789"
COMMANDS = (
    "submit_parent",
    "cancel_parent",
    "pause",
    "resume",
    "kill",
    "reset_kill",
    "load_policy",
    "status",
    "nope",
)
KEYS = ("symbol", "side", "qty", "duration_s", "algo", "parent_id", "reason", "path", "sha256")
VALUES: tuple[Any, ...] = (
    "AMZN",
    "AAPL",
    "buy",
    "sell",
    "twap",
    "policy",
    "P-1",
    1,
    100,
    -5,
    0,
    1.5,
    1e308,
    True,
    None,
    "",
    [],
    {},
    "x" * 300,
    "/etc/passwd",
    2**63,
)
ERROR_CODES = {str(e) for e in ErrorCode}
MAX_PARENTS = 300


class ControlCommandsTarget:
    name = "control_commands"
    surface = "Redis stream payload -> control.commands.parse -> CommandHandler on a Node"

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.node: Node | None = None
        self.n = 0
        self._fresh()

    def close(self) -> None:
        """Stop the parents' tasks and close the journal (and the loop, with ``final``)."""
        self._stop_node()
        self.loop.close()

    def _stop_node(self) -> None:
        node = getattr(self, "node", None)
        if node is None:
            return
        tasks = asyncio.all_tasks(self.loop)
        for t in tasks:
            t.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        node.journal.close()
        self.node = None

    def _fresh(self) -> None:
        self._stop_node()
        d = scratch_dir(self.name)
        cfg = load(
            DaemonConfig,
            None,
            env={
                "RLEXEC__NODE__DATA_DIR": str(d),
                "RLEXEC__REDIS__ENABLED": "false",
                "RLEXEC__CONTROL__HMAC_KEY": KEY.decode(),
                "RLEXEC__LOGGING__LEVEL": "ERROR",
            },
        )
        self.node = node = Node(cfg)
        self.last_seq = max((r.seq for r in node.journal.records()), default=0)

    def seeds(self) -> Iterable[bytes]:
        for i in range(len(COMMANDS)):
            yield bytes([1, i, 2, 0, 0, 2, 7, 1, 8, 0])
        yield bytes([0]) + envelope(
            "c1", "submit_parent", {"symbol": "AMZN", "side": "buy", "qty": 100, "duration_s": 60}
        )
        yield bytes([0]) + envelope(
            "c2", "reset_kill", {"reason": "r"}, key=KEY, ts_ns=time.time_ns(), nonce="n1"
        )
        yield bytes([0]) + b'{"id":"c3","cmd":"kill","args":{"reason":"x"},"auth":{}}'

    def _payload(self, c: Choices) -> bytes:
        if c.int(0, 1) == 0:
            return c.rest()
        self.n += 1
        cmd = COMMANDS[c.int(0, len(COMMANDS) - 1)]
        args = {
            KEYS[c.int(0, len(KEYS) - 1)]: VALUES[c.int(0, len(VALUES) - 1)]
            for _ in range(c.int(0, 5))
        }
        cid = f"f{self.n}" if c.int(0, 7) else str(c.pick(("", "f1", "x" * 200)))
        signed = c.int(0, 3)
        body = envelope(
            cid,
            cmd,
            args,
            key=KEY if signed == 1 else None,
            ts_ns=time.time_ns(),
            nonce=f"n{self.n}",
        )
        if signed == 2:  # signed with the wrong key
            body = envelope(cid, cmd, args, key=b"k" * 32, ts_ns=time.time_ns(), nonce="n")
        return body + c.bytes(c.int(0, 2))

    def _new_records(self) -> list[Any]:
        assert self.node is not None
        new = list(self.node.journal.records(self.last_seq))  # raises if one does not decode
        if new:
            self.last_seq = new[-1].seq
        return new

    def one_input(self, data: bytes) -> None:
        node = self.node
        assert node is not None
        raw = self._payload(Choices(data))
        parents = dict(node.engine.parents)
        try:
            cmd = parse(raw)
        except CommandError as exc:
            assert_clear_error(exc, secrets=[KEY.decode()])
            assert str(exc.code) in ERROR_CODES, exc.code
            assert not self._new_records(), "a payload that did not parse was journalled"
            assert node.engine.parents == parents
            return
        reply = self.loop.run_until_complete(node.handler.handle(cmd))
        assert reply["id"] == cmd.id and isinstance(reply["ok"], bool), reply
        if not reply["ok"]:
            err = reply["error"]
            assert err["code"] in ERROR_CODES and err["message"].strip(), reply
            assert KEY.decode() not in err["message"]
            assert set(node.engine.parents) == set(parents), "a refused command made a parent"
        elif cmd.cmd in ("reset_kill", "load_policy") and not reply.get("duplicate"):
            auth = cmd.auth
            assert auth is not None
            assert sign(KEY, signed_action(cmd.cmd, cmd.raw_args), auth.ts_ns, auth.nonce) == (
                auth.signature
            ), "a signed command succeeded without a valid signature"
        added = set(node.engine.parents) - set(parents)
        assert len(added) <= (1 if cmd.cmd == "submit_parent" else 0), added
        self._new_records()
        again = self.loop.run_until_complete(node.handler.handle(cmd))
        assert again.get("duplicate") and again["ok"] == reply["ok"], (reply, again)
        assert (
            orjson.dumps(again.get("result")) == orjson.dumps(reply.get("result"))
            or not reply["ok"]
        )
        assert not [r for r in self._new_records() if r.kind == "command"], "journalled twice"
        if len(node.engine.parents) > MAX_PARENTS:
            self._fresh()


def make() -> ControlCommandsTarget:
    return ControlCommandsTarget()

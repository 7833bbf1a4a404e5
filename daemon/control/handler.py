"""Command logic, once, whatever the transport (Redis stream, tests, a future HTTP API).

Delivery is at-least-once, application exactly-once: a command is journalled under its
id before anything happens, its reply is stored with it, and a redelivered command
(after a crash or a Redis reconnect) gets the stored reply without being applied again.
Every effect is also idempotent by construction (parent ids derive from command ids),
so a crash between applying and storing the reply cannot double an order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from core.clock import Clock
from core.log import get_logger
from daemon.control.commands import (
    Command,
    CommandError,
    ErrorCode,
    Kill,
    LoadPolicy,
    OptionalParentRef,
    ParentRef,
    ResetKill,
    SubmitParent,
)
from daemon.journal import Journal
from risk.command_auth import CommandRefused, CommandVerifier, SignedCommand

log = get_logger("rlexec.control")


class ControlTarget(Protocol):
    """What the node offers the control plane; each method raises ``ValueError`` to refuse."""

    async def submit_parent(self, parent_id: str, args: SubmitParent) -> dict[str, Any]: ...
    async def cancel_parent(self, parent_id: str) -> dict[str, Any]: ...
    async def pause(self, parent_id: str | None) -> dict[str, Any]: ...
    async def resume(self, parent_id: str | None) -> dict[str, Any]: ...
    async def kill(self, reason: str) -> dict[str, Any]: ...
    async def reset_kill(self, reason: str, auth: SignedCommand | None) -> dict[str, Any]:
        """Verifies ``auth`` itself (the kill switch keeps its own nonce memory)."""
        ...

    async def load_policy(self, args: LoadPolicy) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...


def ok(command_id: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": command_id, "ok": True, "result": result}


def error(command_id: str, code: ErrorCode | str, message: str) -> dict[str, Any]:
    return {"id": command_id, "ok": False, "error": {"code": str(code), "message": message}}


class CommandHandler:
    def __init__(
        self,
        target: ControlTarget,
        journal: Journal,
        clock: Clock,
        verifier: CommandVerifier | None,
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        self.target = target
        self.journal = journal
        self.clock = clock
        self.verifier = verifier
        self._on_result = on_result

    async def handle(self, cmd: Command) -> dict[str, Any]:
        seen, stored = self.journal.command_result(cmd.id)
        if seen and stored is not None:
            reply = dict(stored)
            reply["duplicate"] = True
            self._count(cmd.cmd, "duplicate")
            return reply
        if not seen:
            self.journal.record_command(cmd.id, cmd.to_json())
        try:
            reply = ok(cmd.id, await self._apply(cmd))
            self._count(cmd.cmd, "ok")
        except CommandError as exc:
            reply = error(cmd.id, exc.code, exc.message)
            self._count(cmd.cmd, str(exc.code))
        except CommandRefused as exc:
            reply = error(cmd.id, ErrorCode.UNAUTHORIZED, str(exc))
            self._count(cmd.cmd, str(ErrorCode.UNAUTHORIZED))
        except ValueError as exc:
            reply = error(cmd.id, ErrorCode.REJECTED, str(exc))
            self._count(cmd.cmd, str(ErrorCode.REJECTED))
        except Exception as exc:  # a fault of ours: the operator still gets an answer, and
            # the control plane goes on (it escaped the Redis loop and ended the plane)
            log.error("command_failed", command_id=cmd.id, cmd=cmd.cmd, error=repr(exc))
            reply = error(cmd.id, ErrorCode.INTERNAL, f"{cmd.cmd} failed in the node: {exc!r}")
            self._count(cmd.cmd, str(ErrorCode.INTERNAL))
        self.journal.store_command_result(cmd.id, reply)
        log.info(
            "command", command_id=cmd.id, cmd=cmd.cmd, ok=reply["ok"], error=reply.get("error")
        )
        return reply

    def _count(self, cmd: str, result: str) -> None:
        if self._on_result is not None:
            self._on_result(cmd, result)

    def _authorise(self, cmd: Command) -> Callable[[], None]:
        """Verify a signed command; returns the call that burns its nonce after success."""
        if self.verifier is None:
            raise CommandError(
                ErrorCode.UNAUTHORIZED,
                f"{cmd.cmd} needs a command key configured on the node ([control] hmac_key_file)",
            )
        auth = cmd.auth
        if auth is None:
            raise CommandError(ErrorCode.UNAUTHORIZED, f"{cmd.cmd} must be signed")
        self.verifier.check(auth, auth.action, self.clock.now_ns())
        verifier = self.verifier
        return lambda: verifier.consume(auth)

    async def _apply(self, cmd: Command) -> dict[str, Any]:
        a = cmd.args
        t = self.target
        action: Awaitable[dict[str, Any]]
        if isinstance(a, SubmitParent):
            action = t.submit_parent(a.parent_id or f"P-{cmd.id}", a)
        elif cmd.cmd == "cancel_parent" and isinstance(a, ParentRef):
            action = t.cancel_parent(a.parent_id)
        elif cmd.cmd == "pause" and isinstance(a, OptionalParentRef):
            action = t.pause(a.parent_id)
        elif cmd.cmd == "resume" and isinstance(a, OptionalParentRef):
            action = t.resume(a.parent_id)
        elif isinstance(a, Kill):
            action = t.kill(a.reason)
        elif isinstance(a, ResetKill):
            action = t.reset_kill(a.reason, cmd.auth)
        elif isinstance(a, LoadPolicy):
            burn = self._authorise(cmd)
            result = await t.load_policy(a)
            burn()
            return result
        elif cmd.cmd == "status":
            return t.status()
        else:  # pragma: no cover - parse() only yields the commands above
            raise CommandError(ErrorCode.UNKNOWN_COMMAND, f"no handler for {cmd.cmd}")
        return await action

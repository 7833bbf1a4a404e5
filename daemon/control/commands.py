"""Control commands: their schema, parsing and signing.

A command arrives as one JSON envelope ``{"id", "cmd", "args", "auth"?}``. Parsing
either yields a typed command or a :class:`CommandError` whose message names the
field and the problem; nothing is applied from a command that does not parse. Values
are taken as the JSON types they are: a boolean is never a number (``"qty": true`` is
not 1) and a string never a number.

Commands that loosen safety (``reset_kill``, ``load_policy``) must carry an HMAC
signature (:mod:`risk.command_auth`). The signed action binds the command name *and*
a digest of its arguments, so a captured signature cannot be reused with other
arguments (another policy file, say).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from risk.command_auth import SignedCommand, sign

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
SIGNED_COMMANDS = frozenset({"reset_kill", "load_policy"})

# What a parent can run: the loaded learned policy, a schedule tactic (TWAP, VWAP, POV,
# Almgren-Chriss) or passive at the touch with catch-up crossing (daemon/algos.py).
Algo = Literal["policy", "twap", "vwap", "pov", "ac", "catchup"]
ALGOS: tuple[str, ...] = get_args(Algo)


class ErrorCode(StrEnum):
    MALFORMED = "malformed"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGS = "invalid_args"
    UNAUTHORIZED = "unauthorized"
    REJECTED = "rejected"  # well-formed but refused by the node (unknown parent, ...)
    INTERNAL = "internal"


class CommandError(Exception):
    def __init__(self, code: ErrorCode, message: str, command_id: str = "") -> None:
        self.code = code
        self.message = message
        self.command_id = command_id
        super().__init__(f"{code}: {message}")


class _Args(BaseModel):
    # strict: JSON types as they are; true is not 1 and "5" is not 5, anywhere
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SubmitParent(_Args):
    symbol: str = Field(min_length=1, max_length=32)
    side: Literal["buy", "sell"]
    qty: int = Field(gt=0, le=100_000_000)
    duration_s: float = Field(gt=0, le=8 * 3600)
    parent_id: str = Field(default="", pattern=r"^([A-Za-z0-9_.:-]{1,48})?$")
    algo: Algo = "policy"


class ParentRef(_Args):
    parent_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,48}$")


class OptionalParentRef(_Args):
    parent_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,48}$")


class Kill(_Args):
    reason: str = Field(default="operator", min_length=1, max_length=200)


class ResetKill(_Args):
    reason: str = Field(default="operator reset", min_length=1, max_length=200)


class LoadPolicy(_Args):
    path: Path = Field(strict=False)  # a JSON string, read as a path
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class NoArgs(_Args):
    pass


ARGS: dict[str, type[_Args]] = {
    "submit_parent": SubmitParent,
    "cancel_parent": ParentRef,
    "pause": OptionalParentRef,
    "resume": OptionalParentRef,
    "kill": Kill,
    "reset_kill": ResetKill,
    "load_policy": LoadPolicy,
    "status": NoArgs,
}


class _Auth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    ts_ns: int
    nonce: str
    signature: str


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=ID_PATTERN)
    cmd: str = Field(min_length=1, max_length=32)
    args: dict[str, Any] = Field(default_factory=dict)
    auth: _Auth | None = None


class Command(BaseModel):
    """A parsed, schema-valid command (authorisation is checked by the handler)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    id: str
    cmd: str
    args: _Args
    raw_args: dict[str, Any]
    auth: SignedCommand | None = None

    def to_json(self) -> dict[str, Any]:
        """The journalled form; keeps the auth (an HMAC, not a secret) for nonce recovery."""
        body: dict[str, Any] = {"id": self.id, "cmd": self.cmd, "args": self.raw_args}
        if self.auth is not None:
            body["auth"] = {"ts_ns": self.auth.ts_ns, "nonce": self.auth.nonce}
        return body


def args_digest(args: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(args, option=orjson.OPT_SORT_KEYS)).hexdigest()[:40]


def signed_action(cmd: str, args: dict[str, Any]) -> str:
    return f"{cmd}:{args_digest(args)}"


def _describe(exc: ValidationError, prefix: str) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        key = f"{prefix}.{loc}" if loc else prefix
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{key}: {msg}")
    return "; ".join(parts)


def parse(raw: bytes | str) -> Command:
    """Envelope bytes -> :class:`Command`, or :class:`CommandError` naming the problem."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandError(ErrorCode.MALFORMED, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(ErrorCode.MALFORMED, "a command must be a JSON object")
    raw_id = data.get("id")
    cid = raw_id if isinstance(raw_id, str) else ""
    try:
        env = _Envelope.model_validate(data)
    except ValidationError as exc:
        raise CommandError(ErrorCode.MALFORMED, _describe(exc, "command"), cid) from None
    model = ARGS.get(env.cmd)
    if model is None:
        known = ", ".join(sorted(ARGS))
        raise CommandError(
            ErrorCode.UNKNOWN_COMMAND, f"unknown command {env.cmd!r}; known: {known}", env.id
        )
    try:
        args = model.model_validate(env.args)
    except ValidationError as exc:
        raise CommandError(ErrorCode.INVALID_ARGS, _describe(exc, "args"), env.id) from None
    auth = None
    if env.auth is not None:
        auth = SignedCommand(
            signed_action(env.cmd, env.args), env.auth.ts_ns, env.auth.nonce, env.auth.signature
        )
    if env.cmd in SIGNED_COMMANDS and auth is None:
        raise CommandError(
            ErrorCode.UNAUTHORIZED,
            f"{env.cmd} loosens safety and must be signed (auth missing)",
            env.id,
        )
    return Command(id=env.id, cmd=env.cmd, args=args, raw_args=env.args, auth=auth)


def envelope(
    command_id: str,
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    key: bytes | None = None,
    ts_ns: int = 0,
    nonce: str = "",
) -> bytes:
    """Build (and when ``key`` is given, sign) a command envelope: for clients and tests."""
    args = args or {}
    body: dict[str, Any] = {"id": command_id, "cmd": cmd, "args": args}
    if key is not None:
        action = signed_action(cmd, args)
        body["auth"] = {
            "ts_ns": ts_ns,
            "nonce": nonce,
            "signature": sign(key, action, ts_ns, nonce),
        }
    return orjson.dumps(body)

"""The kill switch: once engaged, no new order leaves the node until an authenticated reset.

Its state lives in a small JSON file replaced atomically (write a temp file, fsync it,
rename it over the old one, fsync the directory), so a crash at any instant leaves
either the old state or the new one, never half of each. The file carries a sha256 of
its own body; a file that is missing its checksum, fails it, or cannot be read at all
starts the node *engaged*: safety over availability. A file that does not exist (first
start) starts disengaged and is created at once; if it cannot be created the switch
engages too, because an engagement that could not be persisted would not survive a
restart.

Reset needs a signed command (:mod:`risk.command_auth`) whose nonce is persisted with
the new state, so a captured reset cannot be replayed even across a restart.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from core.log import get_logger
from risk.command_auth import CommandRefused, CommandVerifier, SignedCommand
from risk.events import KillCause

RESET_ACTION = "kill_switch.reset"
_VERSION = 1
log = get_logger("risk.kill_switch")


@dataclass(frozen=True, slots=True)
class KillSwitchStatus:
    engaged: bool
    cause: KillCause | None
    detail: str
    since_ns: int


class KillSwitch:
    """Engaged/disengaged, persisted; read ``engaged`` (a plain attribute, for speed)."""

    __slots__ = ("_status", "_verifier", "engaged", "path")

    def __init__(
        self, path: str | os.PathLike[str], verifier: CommandVerifier, now_ns: int
    ) -> None:
        self.path = Path(path)
        self._verifier = verifier
        self._status = KillSwitchStatus(False, None, "", 0)
        self.engaged = False
        self._load(now_ns)

    @property
    def status(self) -> KillSwitchStatus:
        return self._status

    # ------------------------------------------------------------- start-up
    def _load(self, now_ns: int) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            log.info("kill_switch_state_created", path=str(self.path), engaged=False)
            if not self._persist(self._status, now_ns):
                self._set(
                    KillSwitchStatus(
                        True, KillCause.STATE_FILE, "state file could not be created", now_ns
                    )
                )
            return
        except OSError as exc:
            self._start_engaged(f"state file unreadable: {exc.strerror or exc}", now_ns)
            return
        try:
            status, nonces = _decode(raw)
        except ValueError as exc:
            self._quarantine(now_ns)
            self._start_engaged(f"state file corrupt: {exc}", now_ns)
            return
        for nonce, ts in nonces.items():
            self._verifier.remember(nonce, ts)
        self._set(status)
        if status.engaged:
            log.critical(
                "kill_switch_engaged_at_start",
                cause=str(status.cause),
                detail=status.detail,
                since_ns=status.since_ns,
                path=str(self.path),
                action="no new orders until an authenticated reset",
            )

    def _start_engaged(self, why: str, now_ns: int) -> None:
        log.critical(
            "kill_switch_engaged_at_start",
            cause=KillCause.STATE_FILE.value,
            detail=why,
            path=str(self.path),
            action="safety over availability: engaged until an authenticated reset",
        )
        status = KillSwitchStatus(True, KillCause.STATE_FILE, why, now_ns)
        self._set(status)
        self._persist(status, now_ns)

    def _quarantine(self, now_ns: int) -> None:
        """Keep the corrupt file for the post-mortem instead of overwriting it."""
        target = self.path.with_name(f"{self.path.name}.corrupt-{now_ns}")
        try:
            os.replace(self.path, target)
            log.error("kill_switch_state_quarantined", path=str(target))
        except OSError as exc:
            log.error("kill_switch_state_quarantine_failed", path=str(self.path), error=str(exc))

    def _set(self, status: KillSwitchStatus) -> None:
        self._status = status
        self.engaged = status.engaged

    # ------------------------------------------------------------ life cycle
    def engage(self, cause: KillCause, detail: str, now_ns: int) -> bool:
        """Engage (idempotent: the first cause is kept); True if it was not engaged."""
        if self.engaged:
            return False
        status = KillSwitchStatus(True, cause, detail, now_ns)
        self._set(status)  # in memory first: nothing may go out while we write the file
        if not self._persist(status, now_ns):
            log.critical(
                "kill_switch_not_persisted",
                path=str(self.path),
                detail="engaged in memory only; a restart would not remember it",
            )
        return True

    def reset(self, cmd: object, now_ns: int, *, action: str = RESET_ACTION) -> bool:
        """Disengage on a valid signed reset; True if it was engaged.

        ``action`` is what the command must have been signed for: :data:`RESET_ACTION`
        unless the control plane binds its own command name (and arguments) into the
        signed action, in which case it passes that.

        Raises :class:`CommandRefused` for a bad command, and also when the new state
        cannot be persisted (the switch then stays engaged: memory and file agree).
        """
        self._verifier.check(cmd, action, now_ns)
        assert isinstance(cmd, SignedCommand)
        was = self.engaged
        new = KillSwitchStatus(False, None, f"reset by signed command {cmd.nonce}", now_ns)
        self._verifier.consume(cmd)
        if not self._persist(new, now_ns):
            raise CommandRefused("state_file", f"could not persist the reset to {self.path}")
        self._set(new)
        return was

    # ------------------------------------------------------------- the file
    def _persist(self, status: KillSwitchStatus, now_ns: int) -> bool:
        body: dict[str, Any] = {
            "version": _VERSION,
            "engaged": status.engaged,
            "cause": status.cause.value if status.cause else None,
            "detail": status.detail,
            "since_ns": status.since_ns,
            "written_ns": now_ns,
            "reset_nonces": self._verifier.remembered(now_ns),
        }
        try:
            _atomic_write(self.path, _encode(body))
        except OSError as exc:
            log.error("kill_switch_state_write_failed", path=str(self.path), error=str(exc))
            return False
        return True


def _checksum(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _encode(body: dict[str, Any]) -> bytes:
    return orjson.dumps({**body, "sha256": _checksum(body)}, option=orjson.OPT_SORT_KEYS)


def _decode(raw: bytes) -> tuple[KillSwitchStatus, dict[str, int]]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    digest = data.pop("sha256", None)
    if digest != _checksum(data):
        raise ValueError("checksum missing or wrong")
    if data.get("version") != _VERSION:
        raise ValueError(f"unknown version {data.get('version')!r}")
    engaged = data.get("engaged")
    cause = data.get("cause")
    detail = data.get("detail")
    since = data.get("since_ns")
    nonces = data.get("reset_nonces")
    if type(engaged) is not bool or type(since) is not int or not isinstance(detail, str):
        raise ValueError("engaged/since_ns/detail missing or of the wrong type")
    if not isinstance(nonces, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in nonces.items()
    ):
        raise ValueError("reset_nonces malformed")
    try:
        kill_cause = KillCause(cause) if cause is not None else None
    except ValueError:
        raise ValueError(f"unknown cause {cause!r}") from None
    return KillSwitchStatus(engaged, kill_cause, detail, since), nonces


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

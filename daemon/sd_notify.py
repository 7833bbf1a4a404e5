"""The sd_notify protocol, spoken directly: tell systemd we are ready, alive, stopping.

Why here and not a library: the protocol is one datagram of ``KEY=VALUE`` lines sent to
the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (see sd_notify(3)); a dependency for that
is more risk than code. Why it matters: the unit runs ``Type=notify`` with
``WatchdogSec=``, so systemd only counts the daemon as started once it says ``READY=1``
(after FIX logon and journal recovery, not merely after the process exists), and kills
and restarts it when ``WATCHDOG=1`` stops arriving, which catches a wedged event loop
that a crash-only supervisor would never notice.

Outside systemd (tests, Docker, a terminal) ``NOTIFY_SOCKET`` is unset and every call is
a no-op that returns False, so the daemon calls it unconditionally.

Sends are non-blocking: the daemon calls these from its event loop, which must never
wait on systemd. A send that cannot go out at once raises :class:`SdNotifyError`; the
caller logs it and carries on (a missed watchdog ping is exactly what the next ping,
due in half the timeout, is for; a missed ``READY=1`` is worth retrying).
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"

# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL of a path.
_SUN_PATH_MAX = 108
_KEY_RE = re.compile(r"^[A-Z0-9_]+$")
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]+")


class SdNotifyError(Exception):
    """The notify socket or watchdog settings are unusable, or a message did not go out."""


def socket_address(value: str) -> str | bytes:
    """The address to send to, from ``$NOTIFY_SOCKET``.

    ``/path`` is a filesystem socket; ``@name`` is a Linux abstract-namespace socket,
    whose address starts with a NUL byte instead of the ``@``. Anything else is refused,
    as systemd's own client refuses it, rather than silently never notifying.
    """
    if len(value) < 2 or value[0] not in "/@":
        raise SdNotifyError(
            f"{NOTIFY_SOCKET}={value!r}: expected an absolute path or @abstract-name"
        )
    raw = value.encode()
    if len(raw) >= _SUN_PATH_MAX:
        raise SdNotifyError(
            f"{NOTIFY_SOCKET}: address is {len(raw)} bytes, longer than a unix socket allows"
        )
    if value[0] == "@":
        return b"\0" + raw[1:]
    return value


def watchdog_timeout_s(env: Mapping[str, str], pid: int) -> float | None:
    """The watchdog timeout systemd expects us to beat, or None when there is none.

    Mirrors sd_watchdog_enabled(3): ``WATCHDOG_PID``, when set, names the process the
    watchdog is meant for; in any other process (a child that inherited the
    environment) the watchdog is not ours to pet.
    """
    usec_text = env.get(WATCHDOG_USEC)
    if usec_text is None:
        return None
    pid_text = env.get(WATCHDOG_PID)
    if pid_text is not None:
        if not pid_text.isdecimal():
            raise SdNotifyError(f"{WATCHDOG_PID}={pid_text!r}: not a process id")
        if int(pid_text) != pid:
            return None
    if not usec_text.isdecimal() or int(usec_text) == 0:
        raise SdNotifyError(f"{WATCHDOG_USEC}={usec_text!r}: expected a positive integer")
    return int(usec_text) / 1_000_000


def one_line(text: str) -> str:
    """Free text (a STATUS) made safe for one ``KEY=VALUE`` line: no control characters."""
    return _CONTROL_CHARS_RE.sub(" ", text).strip()


def encode(fields: Mapping[str, str]) -> bytes:
    """One notification datagram: newline-separated ``KEY=VALUE`` assignments."""
    if not fields:
        raise ValueError("a notification needs at least one field")
    lines = []
    for key, value in fields.items():
        if not _KEY_RE.match(key):
            raise ValueError(f"notify key {key!r}: expected upper-case letters, digits, _")
        if "\n" in value or "\0" in value:
            raise ValueError(f"notify value for {key}: must not contain newline or NUL")
        lines.append(f"{key}={value}")
    return "\n".join(lines).encode()


class Notifier:
    """Sends notifications to one systemd notify socket; inert when there is none."""

    __slots__ = ("_address", "_sock", "watchdog_timeout_s")

    def __init__(self, address: str | bytes | None, watchdog_timeout_s: float | None) -> None:
        self._address = address
        self._sock: socket.socket | None = None
        # Without a socket there is nobody to pet the watchdog for.
        self.watchdog_timeout_s = watchdog_timeout_s if address is not None else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, pid: int | None = None) -> Notifier:
        """The notifier systemd set up for this process (an inert one outside systemd)."""
        environ = os.environ if env is None else env
        text = environ.get(NOTIFY_SOCKET)
        address = socket_address(text) if text is not None else None
        watchdog = watchdog_timeout_s(environ, os.getpid() if pid is None else pid)
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_ping_interval_s(self) -> float | None:
        """How often to send ``WATCHDOG=1``: half the timeout, as sd_watchdog_enabled(3) advises."""
        if self.watchdog_timeout_s is None:
            return None
        return self.watchdog_timeout_s / 2

    def notify(self, fields: Mapping[str, str]) -> bool:
        """Send one notification; False when not running under a notify socket."""
        payload = encode(fields)
        if self._address is None:
            return False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)
        try:
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            where = self._address if isinstance(self._address, str) else "@abstract socket"
            raise SdNotifyError(f"notify to {where} failed: {exc.strerror or exc}") from exc
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup is complete: FIX logged on, journal recovered, safe to take work."""
        fields = {"READY": "1"}
        if status is not None:
            fields["STATUS"] = one_line(status)
        return self.notify(fields)

    def status(self, text: str) -> bool:
        """A one-line state shown by ``systemctl status``."""
        return self.notify({"STATUS": one_line(text)})

    def watchdog(self) -> bool:
        """The loop is healthy; send only from code that proves it (see module doc)."""
        return self.notify({"WATCHDOG": "1"})

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun (cancelling resting orders may take a while)."""
        fields = {"STOPPING": "1"}
        if status is not None:
            fields["STATUS"] = one_line(status)
        return self.notify(fields)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time before the start/stop timeout fires (long journal recovery)."""
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"extend_timeout: expected a positive duration, got {seconds!r}")
        return self.notify({"EXTEND_TIMEOUT_USEC": str(round(seconds * 1_000_000))})

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

"""The audit trail: every FIX message in and out, one ``8=FIX...|10=nnn|`` line each.

One file of messages per session (SOH shown as ``|`` so any FIX log viewer reads it;
direction and time are in the message's own CompIDs and SendingTime) and one file
of events (logons, rejects, dropped input and why). Each line is one unbuffered
``write``: a process killed with -9 loses no line it already acted on.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Protocol

# Password(554) and NewPassword(925): the only secrets FIX carries; never on disk.
_SECRET_FIELD = re.compile(rb"(?:(?<=\x01)|^)(554|925)=[^\x01]*")


def redact(raw: bytes) -> bytes:
    """``raw`` with every Password(554) and NewPassword(925) value replaced by ``***``.

    Why: the audit trail and the event log are read by people and shipped to log
    stores; a Logon's password must not travel with them. Cheap when there is none.
    """
    if b"554=" not in raw and b"925=" not in raw:
        return raw
    return _SECRET_FIELD.sub(rb"\1=***", raw)


class MessageLog(Protocol):
    def incoming(self, raw: bytes) -> None: ...

    def outgoing(self, raw: bytes) -> None: ...

    def event(self, text: str) -> None: ...

    def close(self) -> None: ...


class NullLog:
    """For simulations and benchmarks of the engine itself."""

    def incoming(self, raw: bytes) -> None:
        pass

    def outgoing(self, raw: bytes) -> None:
        pass

    def event(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class MemoryLog:
    """Keeps lines in lists; unit tests read what the session logged."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.events: list[str] = []

    def incoming(self, raw: bytes) -> None:
        self.messages.append(raw)

    def outgoing(self, raw: bytes) -> None:
        self.messages.append(raw)

    def event(self, text: str) -> None:
        self.events.append(text)

    def close(self) -> None:
        pass


class FileMessageLog:
    def __init__(self, directory: str | os.PathLike[str], stem: str) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.messages_path = d / f"{stem}.messages.log"
        self.events_path = d / f"{stem}.event.log"
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self._msg_fd = os.open(self.messages_path, flags, 0o640)
        self._evt_fd = os.open(self.events_path, flags, 0o640)

    def incoming(self, raw: bytes) -> None:
        os.write(self._msg_fd, redact(raw).replace(b"\x01", b"|") + b"\n")

    outgoing = incoming

    def event(self, text: str) -> None:
        stamp = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())
        line = f"{stamp} {text}".replace("\n", " ") + "\n"
        os.write(self._evt_fd, line.encode("utf-8", "replace"))

    def close(self) -> None:
        for fd in (self._msg_fd, self._evt_fd):
            if fd >= 0:
                os.close(fd)
        self._msg_fd = self._evt_fd = -1

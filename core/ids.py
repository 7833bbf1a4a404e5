"""ClOrdID generation that stays unique across restarts.

A venue rejects (or worse, silently confuses) a reused ClOrdID, and a restarted
process has forgotten what it issued. So ids come from a sequence whose high-water
mark is made durable *before* any id of a block is handed out: after a crash the
next process starts past the whole block, wasting at most one block of numbers and
never reusing one. The daemon's journal is one such store; :class:`FileSequenceStore`
is the stand-alone one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def base36(n: int) -> str:
    if n < 0:
        raise ValueError(f"base36 of a negative number {n}")
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


class SequenceStore(Protocol):
    def reserve(self, n: int) -> int:
        """Durably reserve ``n`` numbers and return the first; never returns one twice."""
        ...


class MemorySequenceStore:
    """For simulations and tests, where nothing outlives the process."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def reserve(self, n: int) -> int:
        first = self._next
        self._next += n
        return first


class FileSequenceStore:
    """High-water mark in a small file, replaced atomically and fsync'd."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 1
        try:
            value = int(text)
        except ValueError as exc:
            raise ValueError(
                f"ClOrdID sequence file {self.path} is corrupt ({text[:40]!r}); refusing to guess "
                "a starting point that could reuse ids"
            ) from exc
        if value < 1:
            raise ValueError(f"ClOrdID sequence file {self.path} holds {value}, expected >= 1")
        return value

    def reserve(self, n: int) -> int:
        if n <= 0:
            raise ValueError(f"reserve needs n > 0, got {n}")
        first = self._read()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(str(first + n))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return first


class ClOrdIdGenerator:
    """``prefix`` + base-36 sequence, e.g. ``RLX-1A2B``; short enough for any venue."""

    def __init__(self, prefix: str, store: SequenceStore, block: int = 1024) -> None:
        if block <= 0:
            raise ValueError(f"block must be > 0, got {block}")
        if not prefix.isascii() or any(c in prefix for c in "\x01|= "):
            raise ValueError(f"ClOrdID prefix {prefix!r} must be printable ASCII without SOH, |, =")
        self.prefix = prefix
        self._store = store
        self._block = block
        self._next = 0
        self._end = 0

    def next_id(self) -> str:
        if self._next >= self._end:
            self._next = self._store.reserve(self._block)
            self._end = self._next + self._block
        n = self._next
        self._next += 1
        return f"{self.prefix}{base36(n)}"

    __call__ = next_id

"""Sequence numbers and sent messages, on disk, per session.

A FIX session outlives the process: after a restart (or a ``kill -9``) the peer
expects our next MsgSeqNum to follow the last one it saw, and may ask us to resend
any application message we sent. So before a message goes to the socket, its
sequence number (and, for application messages, its bytes) is written here.

Format: one append-only journal per session, one record per event::

    S<seq> <len>\\n<raw message>\\n    an application message we sent (resendable)
    A<seq>\\n                         an admin message we sent (gap-filled on resend)
    T<seq>\\n                         the next MsgSeqNum we expect from the peer

A record is one ``write`` to an ``O_APPEND`` file, so it is in the kernel's page
cache (and survives the process being killed) before the bytes reach the socket.
``fsync`` then decides what survives the *machine* failing:

* ``always``  - a sent message is fsynced before it goes to the socket, and the
  inbound sequence number before the session reads more input (``flush``): one
  fsync per batch of input and per message out (safe; ~0.2 ms each here);
* ``batched`` - a background thread fsyncs every ``fsync_interval_ms`` while dirty;
* ``never``   - the OS writes back when it likes.

A torn last record (power cut mid-write) is cut off on open; corruption anywhere
else is refused, because guessing a sequence number risks reusing one.
"""

from __future__ import annotations

import os
import re
import threading
from array import array
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Protocol

_MAGIC = b"FIXSTORE1\n"
_RECORD = re.compile(rb"([SAT])(\d+)(?: (\d+))?\n")


class FsyncPolicy(StrEnum):
    ALWAYS = "always"
    BATCHED = "batched"
    NEVER = "never"


class StoreCorrupt(Exception):
    """The journal cannot be read back; the session must not guess its sequence numbers."""


# Our own MsgSeqNums go up by one; a stored one this far past the last is corruption.
_MAX_SEQ_JUMP = 1 << 20


class _SentIndex:
    """Where each stored application message sits in the file, by MsgSeqNum.

    Why not a dict of (offset, length): the index grows with every message of the
    session's day, and a dict entry of boxed ints and a tuple costs ~170 bytes a
    message (measured); the one-hour soak saw the daemon's memory climb with it. Our
    sequence numbers are dense, so two flat int64 arrays from the first stored number
    cost 16 bytes a message, and a resend range is a slice, not a sort of every key.
    """

    __slots__ = ("_base", "_lengths", "_offsets")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._base = 1
        self._offsets = array("q")  # -1: no stored body (an admin message, or a gap)
        self._lengths = array("q")

    def put(self, seq: int, offset: int, length: int) -> None:
        if not self._offsets:
            self._base = seq
        if seq < self._base:
            pad = self._base - seq
            self._offsets[0:0] = array("q", [-1]) * pad
            self._lengths[0:0] = array("q", [0]) * pad
            self._base = seq
        i = seq - self._base
        missing = i - len(self._offsets) + 1
        if missing > _MAX_SEQ_JUMP:
            raise StoreCorrupt(
                f"MsgSeqNum {seq} is {missing} past the last stored one ({self._base + len(self._offsets) - 1})"
            )
        if missing > 0:
            self._offsets.extend(array("q", [-1]) * missing)
            self._lengths.extend(array("q", [0]) * missing)
        self._offsets[i] = offset
        self._lengths[i] = length

    def between(self, begin: int, end: int) -> Iterator[tuple[int, int, int]]:
        """(seq, offset, length) of every stored message with begin <= seq <= end."""
        base = self._base
        for i in range(max(begin - base, 0), min(end - base + 1, len(self._offsets))):
            offset = self._offsets[i]
            if offset >= 0:
                yield base + i, offset, self._lengths[i]


class MessageStore(Protocol):
    @property
    def next_sender_seq(self) -> int: ...

    @property
    def next_target_seq(self) -> int: ...

    def record_sent(self, seq: int, raw: bytes | None) -> None:
        """``raw`` for application messages (resendable), None for admin messages."""
        ...

    def set_next_target(self, seq: int) -> None: ...

    def flush(self) -> None:
        """Make everything recorded so far durable, as the fsync policy promises."""
        ...

    def sent_messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Stored application messages with ``begin <= seq <= end``, in order."""
        ...

    def reset(self) -> None:
        """Both sequence numbers back to 1 and no stored messages (ResetSeqNumFlag)."""
        ...

    def refresh(self) -> None:
        """Re-read the sequence numbers and messages from where they are kept
        (RefreshOnLogon: another process may have written them)."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """For simulations and unit tests, where nothing outlives the process."""

    def __init__(self) -> None:
        self._sent: dict[int, bytes] = {}
        self._next_sender = 1
        self._next_target = 1

    @property
    def next_sender_seq(self) -> int:
        return self._next_sender

    @property
    def next_target_seq(self) -> int:
        return self._next_target

    def record_sent(self, seq: int, raw: bytes | None) -> None:
        if raw is not None:
            self._sent[seq] = raw
        self._next_sender = seq + 1

    def set_next_target(self, seq: int) -> None:
        self._next_target = seq

    def flush(self) -> None:
        pass

    def sent_messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        return [(s, self._sent[s]) for s in sorted(self._sent) if begin <= s <= end]

    def reset(self) -> None:
        self._sent.clear()
        self._next_sender = 1
        self._next_target = 1

    def refresh(self) -> None:
        pass  # nothing outside this process can have written it

    def close(self) -> None:
        pass


class FileStore:
    """The durable store; see the module docstring for the format and fsync policies."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
        fsync_interval_ms: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.policy = FsyncPolicy(fsync)
        self._interval_s = fsync_interval_ms / 1000.0
        self._index = _SentIndex()
        self._next_sender = 1
        self._next_target = 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self._dirty = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._syncer: threading.Thread | None = None
        if self.policy is FsyncPolicy.BATCHED:
            self._syncer = threading.Thread(
                target=self._sync_loop, name=f"fixstore-sync-{self.path.name}", daemon=True
            )
            self._syncer.start()

    # ----------------------------------------------------------------- recovery
    def _open(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        data = b""
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
        if not data:
            os.write(fd, _MAGIC)
            self._fsync_file_and_dir(fd)
            return fd
        if not data.startswith(_MAGIC):
            os.close(fd)
            raise StoreCorrupt(f"{self.path}: not a FIX store journal (bad magic)")
        good = self._replay(data)
        if good < len(data):
            # A torn last record: the write never completed, so nothing after it was sent.
            os.truncate(self.path, good)
            os.fsync(fd)
        return fd

    def _replay(self, data: bytes) -> int:
        pos = len(_MAGIC)
        n = len(data)
        while pos < n:
            m = _RECORD.match(data, pos)
            if m is None:
                if _could_be_torn(data, pos):
                    return pos
                raise StoreCorrupt(f"{self.path}: unreadable record at byte {pos}")
            kind, seq = m.group(1), int(m.group(2))
            end = m.end()
            if kind == b"S":
                if m.group(3) is None:
                    raise StoreCorrupt(f"{self.path}: message record without length at {pos}")
                length = int(m.group(3))
                if end + length + 1 > n:
                    return pos  # torn message body
                if data[end + length : end + length + 1] != b"\n":
                    raise StoreCorrupt(f"{self.path}: message record at {pos} has a bad length")
                try:
                    self._index.put(seq, end, length)
                except StoreCorrupt as exc:
                    raise StoreCorrupt(f"{self.path}: record at byte {pos}: {exc}") from None
                self._next_sender = max(self._next_sender, seq + 1)
                end += length + 1
            elif kind == b"A":
                self._next_sender = max(self._next_sender, seq + 1)
            else:
                self._next_target = seq
            pos = end
        return pos

    # ------------------------------------------------------------------ writes
    @property
    def next_sender_seq(self) -> int:
        return self._next_sender

    @property
    def next_target_seq(self) -> int:
        return self._next_target

    def _append(self, record: bytes, durable: bool) -> None:
        os.write(self._fd, record)
        self._size += len(record)
        if durable and self.policy is FsyncPolicy.ALWAYS:
            os.fdatasync(self._fd)  # also covers the records written before it
            self._dirty = False
        elif self.policy is FsyncPolicy.BATCHED:
            if not self._dirty:
                self._dirty = True
                self._wake.set()  # the syncer sleeps until there is something to sync
        elif self.policy is FsyncPolicy.ALWAYS:
            self._dirty = True

    def record_sent(self, seq: int, raw: bytes | None) -> None:
        if raw is None:
            self._append(b"A%d\n" % seq, durable=True)
        else:
            head = b"S%d %d\n" % (seq, len(raw))
            self._index.put(seq, self._size + len(head), len(raw))
            self._append(b"%b%b\n" % (head, raw), durable=True)
        self._next_sender = seq + 1

    def set_next_target(self, seq: int) -> None:
        self._append(b"T%d\n" % seq, durable=False)
        self._next_target = seq

    def flush(self) -> None:
        if self.policy is FsyncPolicy.ALWAYS:
            self.sync()

    def sent_messages(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        return [
            (seq, os.pread(self._fd, length, offset))
            for seq, offset, length in self._index.between(begin, end)
        ]

    def reset(self) -> None:
        """Start a new journal atomically: the old one stays until the new one is durable."""
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o640)
        os.write(fd, _MAGIC)
        os.fsync(fd)
        os.replace(tmp, self.path)
        with self._lock:
            old, self._fd = self._fd, fd
            os.close(old)
        self._fsync_dir()
        self._index.clear()
        self._size = len(_MAGIC)
        self._next_sender = 1
        self._next_target = 1

    def refresh(self) -> None:
        with self._lock:
            old = self._fd
            self._index.clear()
            self._next_sender = 1
            self._next_target = 1
            self._fd = self._open()
            self._size = os.fstat(self._fd).st_size
            self._dirty = False
            os.close(old)

    def sync(self) -> None:
        with self._lock:
            if self._dirty:
                self._dirty = False
                os.fdatasync(self._fd)

    def _sync_loop(self) -> None:
        # Idle sessions cost no wake-ups (and no GIL hand-offs with the event loop).
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop.wait(self._interval_s):
                return
            try:
                self.sync()
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._syncer is not None:
            self._syncer.join(timeout=1.0)
        with self._lock:
            if self._fd >= 0:
                if self.policy is not FsyncPolicy.NEVER:
                    os.fdatasync(self._fd)
                os.close(self._fd)
                self._fd = -1

    def _fsync_file_and_dir(self, fd: int) -> None:
        os.fsync(fd)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _could_be_torn(data: bytes, pos: int) -> bool:
    """Whether the unreadable bytes at ``pos`` are the last record (a torn write)."""
    nl = data.find(b"\n", pos)
    return nl < 0 or nl == len(data) - 1

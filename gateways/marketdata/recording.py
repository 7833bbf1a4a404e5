"""Recorded venue feeds: ``<receive time ns> <raw message>`` per line, gzip or plain.

This is the format of the Binance/Hyperliquid captures in data/crypto (see SOURCES.md
there) and what a recorder writes, so a paper session can run on yesterday's market
as well as today's. Several files of one capture are read as one stream (the
``*_20240809`` files continue the ``*_20240808`` ones).

A line that is not ``<integer> <message>``, or a receive time that goes backwards,
stops the read with the file and line named: pacing and sequencing both depend on
the order of the lines, so a damaged file cannot be half-trusted.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class RecordingFormatError(ValueError):
    def __init__(self, path: str | Path, line: int, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}, line {line}: {problem}")


@dataclass(frozen=True, slots=True)
class RecordedLine:
    path: str
    line: int  # 1-based
    recv_ns: int
    raw: bytes


def _open(path: Path) -> IO[bytes] | gzip.GzipFile:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def read_recording(paths: Iterable[str | os.PathLike[str]]) -> Iterator[RecordedLine]:
    """Every line of ``paths`` in order, checked (see module doc)."""
    last_ns = 0
    last_where = ""
    for p in paths:
        path = Path(p)
        try:
            f = _open(path)
        except FileNotFoundError:
            raise RecordingFormatError(path, 0, "file not found") from None
        with f:
            n = 0
            try:
                for n, line in enumerate(f, 1):
                    body = line.rstrip(b"\r\n")
                    if not body:
                        continue
                    head, sep, raw = body.partition(b" ")
                    if not sep or not head.isdigit() or not raw:
                        raise RecordingFormatError(
                            path, n, f"expected '<receive ns> <message>', got {body[:60]!r}"
                        )
                    recv_ns = int(head)
                    if recv_ns < last_ns:
                        raise RecordingFormatError(
                            path,
                            n,
                            f"receive time {recv_ns} is before the previous line's {last_ns} "
                            f"({last_where})",
                        )
                    last_ns = recv_ns
                    last_where = f"{path.name}:{n}"
                    yield RecordedLine(str(path), n, recv_ns, raw)
            except (OSError, EOFError) as exc:  # gzip: truncated or corrupt stream
                raise RecordingFormatError(path, n + 1, f"cannot read: {exc}") from None

"""Repeated feed errors: the first of each kind logged, the rest counted.

A feed that cannot be read usually fails the same way on every message: an instrument
whose tick size does not match the venue's prices makes every depth update unreadable,
tens of thousands of identical error lines that bury everything else in the log. So
the first error of each *kind* (its message with the numbers taken out) is logged in
full, later ones only counted, and the count is logged again as a reminder at most
every ``remind_every_s`` of feed time and once more by :meth:`ErrorTally.summarise`
(when the feed ends or stops). The counts themselves are in the tally for health
endpoints and metrics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NS_PER_S = 1_000_000_000
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(slots=True)
class ErrorKind:
    example: str  # the first message of this kind, in full
    count: int = 0
    logged_count: int = 0  # count at the last log line
    logged_ns: int = 0  # feed time of the last log line


class ErrorTally:
    """Counts errors by kind and logs each kind once, then as a periodic count."""

    def __init__(self, logger: Any, event: str, *, remind_every_s: float = 3600.0) -> None:
        self.log = logger
        self.event = event
        self.remind_ns = round(remind_every_s * NS_PER_S)
        self.kinds: dict[str, ErrorKind] = {}
        self.total = 0

    @staticmethod
    def kind_of(error: str) -> str:
        return _NUMBER.sub("#", error)

    def record(self, error: str, now_ns: int, **fields: Any) -> ErrorKind:
        """Count one error; log it if it is the first of its kind or a reminder is due."""
        self.total += 1
        key = self.kind_of(error)
        kind = self.kinds.get(key)
        if kind is None:
            kind = self.kinds[key] = ErrorKind(error, 1, 1, now_ns)
            self.log.error(
                self.event,
                error=error,
                count=1,
                note="repeats of this error are counted, not logged one by one",
                **fields,
            )
            return kind
        kind.count += 1
        if now_ns - kind.logged_ns >= self.remind_ns:
            self._log_count(kind, now_ns, **fields)
        return kind

    def summarise(self, **fields: Any) -> None:
        """Log the count of every kind that repeated since it was last logged."""
        for kind in self.kinds.values():
            if kind.count > kind.logged_count:
                self._log_count(kind, kind.logged_ns, **fields)

    def _log_count(self, kind: ErrorKind, now_ns: int, **fields: Any) -> None:
        self.log.error(
            f"{self.event}_repeated",
            error=kind.example,
            count=kind.count,
            since_last_log=kind.count - kind.logged_count,
            **fields,
        )
        kind.logged_count = kind.count
        kind.logged_ns = now_ns

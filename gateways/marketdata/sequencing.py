"""Sequencing rules: may this delta follow the book's last applied update?

Every L2 diff feed numbers its updates so a receiver can tell a missed message from a
late one, but venues number differently. A rule answers one question for one delta,
given the last update id the book reflects: apply it, drop it as already reflected
(stale), or declare a gap (the book can no longer be trusted and must be rebuilt from a
fresh snapshot).

Two rules cover the feeds we read:

- :class:`RangeRule`: each delta covers the update ids ``first..last``; it may be
  applied when it starts at or before the next id and ends after the last applied
  one. rlexec's own feed and LOBSTER replay (``first == last == seq``, contiguous)
  and Binance spot diff depth (``U``/``u``) follow it.
- :class:`PrevIdRule`: each delta names the final id of the delta before it (Binance
  futures ``pu``); after a snapshot the first delta must straddle the snapshot's id.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol


class Verdict(Enum):
    APPLY = "apply"
    STALE = "stale"
    GAP = "gap"


class SequenceRule(Protocol):
    name: str

    def check(self, last_seq: int, fresh: bool, first: int, last: int, prev: int | None) -> Verdict:
        """``fresh``: nothing applied since the snapshot whose id is ``last_seq``."""
        ...


class RangeRule:
    """Deltas cover ``first..last``; the next one must start at or before ``last_seq + 1``."""

    name = "range"

    def check(self, last_seq: int, fresh: bool, first: int, last: int, prev: int | None) -> Verdict:
        if last <= last_seq:
            return Verdict.STALE
        if first <= last_seq + 1:
            return Verdict.APPLY
        return Verdict.GAP


class PrevIdRule:
    """Deltas name their predecessor's final id (``prev``); Binance USD-M / COIN-M futures.

    After a snapshot with id ``L`` the first delta must reach past ``L`` and start no
    later than ``L + 1`` (Binance documents ``first <= L <= last``; a delta starting
    exactly at ``L + 1`` is contiguous too); from then on ``prev`` must equal the last
    applied id.
    A delta without ``prev`` cannot be placed and counts as a gap.
    """

    name = "prev-id"

    def check(self, last_seq: int, fresh: bool, first: int, last: int, prev: int | None) -> Verdict:
        if last <= last_seq:
            return Verdict.STALE
        if fresh:
            return Verdict.APPLY if first <= last_seq + 1 else Verdict.GAP
        return Verdict.APPLY if prev == last_seq else Verdict.GAP


RANGE = RangeRule()
PREV_ID = PrevIdRule()

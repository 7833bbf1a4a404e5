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
  futures ``pu``); after a snapshot the first delta must reach the snapshot's id
  (``U <= L <= u``, ``u == L`` included) or chain onto it.
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

    Binance's procedure for futures, after a snapshot with ``lastUpdateId`` ``L``: drop
    a diff only when ``u < L``; the first diff applied has ``U <= L <= u``; from then
    on each diff's ``pu`` equals the previous diff's ``u``. Futures update ids skip
    (consecutive diffs are linked by ``pu``, not by ``u + 1``), so unlike spot there
    is no ``L + 1`` to look for, and a diff *ending* exactly at ``L`` is the first one to apply: dropping it
    would make the next one (``pu == L``) look like a gap, and the book would never
    build. Two more placements are contiguous and accepted: a first diff whose ``pu``
    is ``L`` (it chains straight onto the snapshot), and one with ``pu < L < U`` (no
    update of this symbol lies between ``pu`` and ``U``, so the book at ``L`` is the
    book at ``pu``). A delta without ``prev`` cannot be chained and, once the book
    has moved past its snapshot, counts as a gap.
    """

    name = "prev-id"

    def check(self, last_seq: int, fresh: bool, first: int, last: int, prev: int | None) -> Verdict:
        if fresh:
            if last < last_seq:
                return Verdict.STALE
            if first <= last_seq:
                return Verdict.APPLY
            if prev is None:
                return Verdict.APPLY if first == last_seq + 1 else Verdict.GAP
            # pu == L chains onto the snapshot; pu < L < U: L sits in a hole of this
            # symbol's ids; pu > L: a diff after the snapshot was missed.
            return Verdict.APPLY if prev <= last_seq else Verdict.GAP
        if last <= last_seq:
            return Verdict.STALE
        return Verdict.APPLY if prev == last_seq else Verdict.GAP


RANGE = RangeRule()
PREV_ID = PrevIdRule()

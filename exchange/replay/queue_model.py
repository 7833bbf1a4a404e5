"""Where unseen size changes fall relative to the agent's resting order.

With LOBSTER's order ids the agent's queue position is exact for everything the
message file shows: an order added before the agent's is ahead of it, a cancel or an
execution of that order moves the agent up, anything added later queues behind. What
the file does *not* show is what happens at a level while it sits beyond the file's
``L``-level window; when such a level comes back into view its size is read from the
orderbook file and the difference has to be placed somewhere:

- a **decrease** (cancels we never saw) is split between the size ahead of and behind
  the agent with the probabilistic queue function of hftbacktest's ``ProbQueueModel``
  (after Rigtorp's estimator): the share taken from ahead is
  ``f(ahead) / (f(ahead) + f(behind))``, with ``f(x) = x**n`` (``PowerQueueModel``) or
  ``f(x) = log(1 + x)`` (``LogQueueModel``);
- an **increase** (orders we never saw arrive) is placed ahead of the agent in the
  proportion ``unseen_ahead`` (default 1: all of it, the pessimistic choice, because
  the unseen orders may well predate the agent's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


class QueueModel(Protocol):
    @property
    def unseen_ahead(self) -> float:
        """Share of an unseen increase placed ahead of the agent."""
        ...

    def ahead_share(self, ahead: int, behind: int) -> float:
        """Share of an unseen decrease that came from the size ahead of the agent."""
        ...


def split_decrease(model: QueueModel, ahead: int, behind: int, decrease: int) -> tuple[int, int]:
    """(from ahead, from behind) for an unseen decrease, in whole units, never taking
    more from one part than it holds."""
    decrease = min(decrease, ahead + behind)
    front = round(decrease * model.ahead_share(ahead, behind))
    front = min(max(front, decrease - behind), ahead)
    return front, decrease - front


def split_increase(model: QueueModel, increase: int) -> tuple[int, int]:
    front = round(increase * model.unseen_ahead)
    return front, increase - front


@dataclass(frozen=True, slots=True)
class PowerQueueModel:
    n: float = 3.0
    unseen_ahead: float = 1.0

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError(f"power queue model needs n > 0, got {self.n}")
        if not 0.0 <= self.unseen_ahead <= 1.0:
            raise ValueError(f"unseen_ahead must be in [0, 1], got {self.unseen_ahead}")

    def ahead_share(self, ahead: int, behind: int) -> float:
        fa, fb = float(ahead) ** self.n, float(behind) ** self.n
        return fa / (fa + fb) if fa + fb > 0 else 1.0


@dataclass(frozen=True, slots=True)
class LogQueueModel:
    unseen_ahead: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.unseen_ahead <= 1.0:
            raise ValueError(f"unseen_ahead must be in [0, 1], got {self.unseen_ahead}")

    def ahead_share(self, ahead: int, behind: int) -> float:
        fa, fb = math.log1p(ahead), math.log1p(behind)
        return fa / (fa + fb) if fa + fb > 0 else 1.0

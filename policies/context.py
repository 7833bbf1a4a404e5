"""What a policy sees at a decision: the normalised feature vector plus the raw context.

Learned policies read only :attr:`Observation.features`; schedule baselines (TWAP,
VWAP, POV, Almgren-Chriss) need exact shares and times, so they read
:attr:`Observation.ctx`. Both come from the same builder call in the environment, the
backtest and the daemon, which is what keeps training and serving identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from core.types import Side

NS_PER_S = 1_000_000_000

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """The parent order's state and the clock at one decision, in exact units."""

    now_ns: int
    start_ns: int
    end_ns: int
    side: Side
    qty: int  # parent quantity, units
    filled: int  # units filled so far
    decision_interval_ns: int
    market_volume: int  # units traded by the whole market since the parent started
    time_of_day_s: float  # seconds after the exchange's midnight (VWAP profile lookup)
    market_rate: float = 0.0  # units per second the market traded over the recent lookback
    lot_size: int = 1

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    @property
    def time_left_ns(self) -> int:
        return max(0, self.end_ns - self.now_ns)

    @property
    def steps_left(self) -> int:
        """Decisions left including this one (at least 1 while time remains)."""
        iv = self.decision_interval_ns
        return max(1, -(-self.time_left_ns // iv))

    @property
    def elapsed_fraction(self) -> float:
        span = self.end_ns - self.start_ns
        return min(1.0, max(0.0, (self.now_ns - self.start_ns) / span))


@dataclass(frozen=True, slots=True)
class Observation:
    features: F32  # shape (n_features,), normalised with the artifact's statistics
    ctx: DecisionContext

"""Trading states, per node and per symbol: how much a node may still do.

Ordered from loosest to tightest so "tightening" is a comparison: moving to a higher
state is always allowed; moving to a lower one (loosening) is refused while the kill
switch is engaged, because that needs the authenticated reset first.
"""

from __future__ import annotations

from enum import IntEnum


class TradingState(IntEnum):
    ACTIVE = 0  # every check applies, nothing else is blocked
    REDUCING = 1  # only orders that cannot grow the exposure pass
    HALTED = 2  # only cancels pass

    @property
    def label(self) -> str:
        """Lowercase name, for log lines, metric labels and replies."""
        return self.name.lower()

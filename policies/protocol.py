"""The Policy protocol: what the environment, the backtest and the daemon call.

``reset`` once when a parent order starts, then ``act`` once per decision. A policy
returns an :class:`~policies.actions.Action`; it never builds orders itself, so the
mapping to child orders, the risk checks and the order router are shared by every
policy, learned or not.
"""

from __future__ import annotations

from typing import Protocol

from policies.actions import Action
from policies.context import DecisionContext, Observation


class Policy(Protocol):
    name: str

    def reset(self, ctx: DecisionContext, seed: int | None = None) -> None:
        """A new parent order starts (``ctx`` is its first decision's context)."""
        ...

    def act(self, obs: Observation) -> Action: ...

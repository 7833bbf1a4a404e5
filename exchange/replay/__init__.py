"""LOBSTER replay with agent orders: queue position, latency and market impact.

Public API: :class:`ReplaySimulator` (what the environment and the exchange drive),
:func:`load_day`, the latency models, the queue models, the impact models and
:func:`default_impact`. See docs/simulation.md.
"""

from exchange.replay.impact import (
    ImpactModel,
    LinearPermanentImpact,
    NoImpact,
    TransientPropagatorImpact,
    default_impact,
)
from exchange.replay.impact_driver import ImpactDriver
from exchange.replay.latency import ConstantLatency, JitteredLatency, LatencyModel
from exchange.replay.link import AgentLink, AgentRequest, Delivery
from exchange.replay.prepared import PreparedDay, load_day
from exchange.replay.queue_model import LogQueueModel, PowerQueueModel, QueueModel
from exchange.replay.replayer import LobsterReplayer, ReplayStats
from exchange.replay.simulator import AGENT, ReplaySimulator

__all__ = [
    "AGENT",
    "AgentLink",
    "AgentRequest",
    "ConstantLatency",
    "Delivery",
    "ImpactDriver",
    "ImpactModel",
    "JitteredLatency",
    "LatencyModel",
    "LinearPermanentImpact",
    "LobsterReplayer",
    "LogQueueModel",
    "NoImpact",
    "PowerQueueModel",
    "PreparedDay",
    "QueueModel",
    "ReplaySimulator",
    "ReplayStats",
    "TransientPropagatorImpact",
    "default_impact",
    "load_day",
]

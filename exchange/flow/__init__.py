"""Synthetic order flow for training and stress.

A zero-intelligence model in the style of Cont, Stoikov & Talreja (2010), calibrated
from LOBSTER (:mod:`.calibration`), with regimes (calm, volatile, trending, thin) and
seeds, driving the same matching engine as the replay. :class:`SyntheticSimulator`
offers the replay simulator's API. See docs/simulation.md.
"""

from exchange.flow.generator import FlowStats, ZeroIntelligenceFlow
from exchange.flow.model import REGIMES, FlowParams, Regime, load_params, regime
from exchange.flow.simulator import SyntheticSimulator

__all__ = [
    "REGIMES",
    "FlowParams",
    "FlowStats",
    "Regime",
    "SyntheticSimulator",
    "ZeroIntelligenceFlow",
    "load_params",
    "regime",
]

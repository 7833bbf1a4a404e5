"""The pre-trade risk overlay: hard-coded limits between any policy and the market.

Imports :mod:`core` only and contains nothing learned. Importing the package imports
:mod:`risk.overlay` first, so the overlay claims the approval capability before any
other code could ask for it.
"""

from risk.overlay import RiskOverlay  # noqa: I001  (must come first: claims the capability)
from risk.approval import Approved, ForgedApproval, UnapprovedOrder, require_approved
from risk.command_auth import AuthFailure, CommandRefused, CommandVerifier, SignedCommand
from risk.events import (
    HaltCleared,
    HaltRaised,
    KillCause,
    KillSwitchEngaged,
    KillSwitchReset,
    OpenOrder,
    RiskEvent,
    TradingStateChanged,
)
from risk.halts import Halt, HaltKind, HaltLift
from risk.kill_switch import RESET_ACTION, KillSwitch
from risk.limits import LimitsError, RiskLimits, RiskLimitsConfig, SymbolRiskOverride, build_limits
from risk.reasons import Denied, DenyReason, OrderKind
from risk.router import OrderRouter
from risk.trading_state import TradingState

__all__ = [
    "RESET_ACTION",
    "Approved",
    "AuthFailure",
    "CommandRefused",
    "CommandVerifier",
    "Denied",
    "DenyReason",
    "ForgedApproval",
    "Halt",
    "HaltCleared",
    "HaltKind",
    "HaltLift",
    "HaltRaised",
    "KillCause",
    "KillSwitch",
    "KillSwitchEngaged",
    "KillSwitchReset",
    "LimitsError",
    "OpenOrder",
    "OrderKind",
    "OrderRouter",
    "RiskEvent",
    "RiskLimits",
    "RiskLimitsConfig",
    "RiskOverlay",
    "SignedCommand",
    "SymbolRiskOverride",
    "TradingState",
    "TradingStateChanged",
    "UnapprovedOrder",
    "build_limits",
    "require_approved",
]

"""One parent order's decision loop: features -> policy -> action mapper -> execution engine.

This is the code the environment, the backtest and the daemon all run per decision,
so none of them can drift from the others. The caller owns time and data: it feeds
every public trade to :meth:`on_trade`, calls :meth:`decide` once per decision
interval with the current book, and at the end time calls :meth:`sweep` to send what
is left through the book as a market order.

What decides is reached through the Protocols below (``policies`` provides the
feature builder, the policies and the action mapper), so the order path never imports
learning code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from core.book import L2Book
from core.orders import ChildOrder
from core.parent import ParentOrder
from core.reconciler import DesiredOrder
from core.types import OrdType, Side, TimeInForce
from execution.executor import Decision, ExecutionEngine

ObsT = TypeVar("ObsT", bound="Observed")
ActT = TypeVar("ActT")
ObsT_contra = TypeVar("ObsT_contra", contravariant=True)
ActT_co = TypeVar("ActT_co", covariant=True)
ActT_contra = TypeVar("ActT_contra", contravariant=True)
ObsT_co = TypeVar("ObsT_co", covariant=True)


class Observed(Protocol):
    """An observation: the context a policy is reset with comes with it."""

    @property
    def ctx(self) -> Any: ...


class TradeTape(Protocol):
    """The market's prints as the feature builder keeps them."""

    @property
    def cum_volume(self) -> int: ...

    def on_trade(self, price: int, qty: int, aggressor: Side) -> None: ...


class MarketSignal(Protocol):
    """A model's read of one symbol's market, offered to the policy as a feature
    (``signals.provider.SignalFeed``: the short-horizon signal over a MarketTracker).

    Whoever owns the symbol's feed (the daemon's market-data client; the environment's
    simulated venue, through the same book frames and prints its exchange publishes)
    calls ``on_book`` after every frame and ``on_trade`` for every print; the feature
    builder reads ``value`` at each decision. ``digest`` names the model's artifact, so
    a policy is only ever fed the signal it was trained with."""

    @property
    def digest(self) -> str: ...

    def on_book(self, book: L2Book, ts_ns: int) -> None: ...

    def on_trade(self, ts_ns: int, price: int, qty: int, aggressor: Side) -> None: ...

    def value(self, now_ns: int) -> float:
        """The expected mid move over the model's horizon, in mean spreads (+ = up)."""
        ...


class Observer(Protocol[ObsT_co]):
    """Builds each decision's observation (``policies.features.FeatureBuilder``)."""

    @property
    def market(self) -> TradeTape: ...

    def observe(
        self,
        book: L2Book,
        parent: ParentOrder,
        live: Sequence[ChildOrder],
        now_ns: int,
        *,
        market_volume: int,
        time_of_day_s: float,
        lot_size: int = 1,
    ) -> ObsT_co: ...


class Decider(Protocol[ObsT_contra, ActT_co]):
    """What decides (``policies.protocol.Policy``): reset once per parent, then act."""

    def reset(self, ctx: Any, seed: int | None = None) -> None: ...

    def act(self, obs: ObsT_contra) -> ActT_co: ...


class Mapper(Protocol[ActT_contra]):
    """An action -> the child orders wanted now (``policies.actions.ActionMapper``)."""

    def desired(
        self, action: ActT_contra, book: L2Book, live: Iterable[ChildOrder]
    ) -> list[DesiredOrder]: ...


@dataclass(frozen=True, slots=True)
class Step(Generic[ObsT, ActT]):
    obs: ObsT
    action: ActT
    decision: Decision


class ParentDriver(Generic[ObsT, ActT]):
    def __init__(
        self,
        engine: ExecutionEngine,
        parent_id: str,
        policy: Decider[ObsT, ActT],
        builder: Observer[ObsT],
        *,
        mapper: Mapper[ActT],
        time_of_day: Callable[[int], float],
    ) -> None:
        self.engine = engine
        self.parent = engine.parents[parent_id]
        self.parent_id = parent_id
        self.policy = policy
        self.builder = builder
        self.mapper = mapper
        self.symbol = self.parent.symbol
        self.lot = engine.instruments[self.symbol].lot_size
        self._tod = time_of_day
        self._started = False

    def on_trade(self, price: int, qty: int, aggressor: Side, ts_ns: int) -> None:
        """Every public trade print (ours included, as on a venue's feed), to the features
        and to risk's participation window: for one parent per symbol (the environment)."""
        self.observe_trade(price, qty, aggressor)
        self.engine.on_market_trade(self.symbol, qty, ts_ns)

    def observe_trade(self, price: int, qty: int, aggressor: Side) -> None:
        """A trade print to this parent's features only: where several parents share a
        symbol (the daemon), risk hears each print once from the feed instead."""
        self.builder.market.on_trade(price, qty, aggressor)

    def observe(self, book: L2Book, now_ns: int, *, risk_has_book: bool = False) -> ObsT:
        """Feed the book to risk and build this decision's observation.

        ``risk_has_book``: the caller handed risk this very book just now (the daemon's
        feed does once per frame), so a decision on the frame does not hand it again.
        """
        if not risk_has_book:
            self.engine.on_book(self.symbol, book)
        return self.builder.observe(
            book,
            self.parent,
            self.engine.live_children(self.parent_id),
            now_ns,
            market_volume=self.builder.market.cum_volume,
            time_of_day_s=self._tod(now_ns),
            lot_size=self.lot,
        )

    def act(self, book: L2Book, obs: ObsT, action: ActT) -> Decision:
        """Map ``action`` to desired child orders and hand them to the execution engine."""
        live = self.engine.live_children(self.parent_id)
        desired = self.mapper.desired(action, book, live)
        return self.engine.apply(self.parent_id, desired)

    def decide(self, book: L2Book, now_ns: int, *, risk_has_book: bool = False) -> Step[ObsT, ActT]:
        """Observe, ask the policy, act: one decision (``risk_has_book``: see observe)."""
        obs = self.observe(book, now_ns, risk_has_book=risk_has_book)
        if not self._started:
            self.policy.reset(obs.ctx)
            self._started = True
        action = self.policy.act(obs)
        return Step(obs, action, self.act(book, obs, action))

    def cancel_resting(self) -> Decision:
        """Cancel this parent's resting children (nothing desired): the one way a parent's
        own run takes its orders off the book, in simulation and live alike."""
        return self.engine.apply(self.parent_id, ())

    def live_children(self) -> list[ChildOrder]:
        return self.engine.live_children(self.parent_id)

    def sweep(self, book: L2Book, levels: int = 10) -> Decision:
        """Send the remainder as a market order, no larger than the displayed opposite depth
        (the risk overlay refuses a market order the book cannot absorb; the caller
        repeats while the book refills). Resting children must be cancelled first; the
        execution engine caps the order so in-flight quantity is never doubled."""
        self.engine.on_book(self.symbol, book)  # the overlay prices the market order off it
        remaining = min(self.parent.remaining_qty, book.volume(self.parent.side.opposite, levels))
        remaining -= remaining % self.lot
        if remaining <= 0:
            return Decision()
        return self.engine.send_immediate(
            self.parent_id,
            DesiredOrder(self.parent.side, None, remaining, OrdType.MARKET, TimeInForce.IOC),
        )

"""The short-horizon signal as a policy feature: one symbol's tracker and model behind
``execution.driver.MarketSignal``.

The feature builder (``policies.features``) reads :meth:`SignalFeed.value` at each
decision; whoever owns the symbol's market data feeds :meth:`on_book` and
:meth:`on_trade`: the daemon from its market-data client, the training environment from
its simulated venue's published frames (the same frames the exchange process sends the
daemon). Training and serving therefore compute the signal with the same tracker, the
same model and the same kind of input.
"""

from __future__ import annotations

from pathlib import Path

from core import pinned_dir
from core.book import L2Book
from core.types import Side
from signals.dataset import TouchTape
from signals.market import MarketTracker
from signals.short_horizon import SignalModel, SignalServer

COMMITTED_SIGNAL = Path(__file__).resolve().parent / "artifacts" / "short_horizon"


class SignalFeed:
    """A :class:`MarketTracker` and a :class:`SignalServer` over it (MarketSignal)."""

    __slots__ = ("_digest", "server", "tracker")

    def __init__(self, server: SignalServer, digest: str, tracker: MarketTracker | None = None):
        self.server = server
        self._digest = digest
        self.tracker = tracker or MarketTracker()

    @classmethod
    def load(cls, path: str | Path = COMMITTED_SIGNAL, digest: str | None = None) -> SignalFeed:
        """The model at ``path``, verified (against ``digest`` when given), on a new tracker.

        Raises ``signals.artifact.ArtifactRefused`` naming what is wrong."""
        model = SignalModel.load(path, expected_sha256=digest)
        return cls(SignalServer(model), digest or pinned_dir.digest(path))

    @property
    def digest(self) -> str:
        """The signal artifact's digest: what a policy's feature spec pins."""
        return self._digest

    def reset(self) -> None:
        """A fresh tracker (a new simulated episode; the daemon keeps its own all day)."""
        self.tracker = MarketTracker()

    def warm_from(self, tape: TouchTape, from_ns: int, to_ns: int) -> None:
        """A fresh tracker fed a recorded day's prints and touch from ``from_ns`` to just
        before ``to_ns``, as the signal's training pipeline fed it (signals.dataset)."""
        self.reset()
        tape.feed(self.tracker, tape.index_at(from_ns), to_ns)

    def on_book(self, book: L2Book, ts_ns: int) -> None:
        self.tracker.on_book(book, ts_ns)

    def on_trade(self, ts_ns: int, price: int, qty: int, aggressor: Side) -> None:
        self.tracker.on_trade(ts_ns, price, qty, aggressor is Side.BUY)

    def value(self, now_ns: int) -> float:
        return self.server.predict(self.tracker, now_ns)


def committed_signal_digest() -> str:
    """The digest of the shipped short-horizon artifact (what ``rlexec train --signal``
    pins in the policy's feature spec)."""
    return pinned_dir.digest(COMMITTED_SIGNAL)

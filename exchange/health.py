"""The exchange's own health: the status of ``/healthz`` and the ``/metrics`` it exports.

A venue that is up but cannot trade a symbol is not "ok". A paper symbol whose
upstream book never builds (a tick size that does not match the venue's prices makes
every depth update unreadable) stays halted for the whole run: every order for it is
rejected "trading halted", and nothing else would say why. So ``/healthz`` reports
``"status": "degraded"`` while any symbol is halted, with one line per halted symbol
naming how long, why, and the unreadable messages that named it; ``/metrics`` exports
the same per symbol for alerting.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateways.marketdata.venue_books import SymbolFeed

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class SymbolHealth:
    symbol: str
    halted: bool
    reason: str  # why it is halted ("" while it trades)
    halted_s: float | None  # for how long (feed time); None when the source cannot say
    ever_traded: bool | None  # paper: had an upstream book at some point; None: not paper
    bad_messages: int  # upstream messages naming this symbol that could not be read
    last_error: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def problem(self) -> str:
        """One line for ``/healthz``: what is wrong with this symbol, and why."""
        if self.ever_traded is False:
            what = "halted since the start: the upstream book never built"
        elif self.halted_s is not None:
            what = f"halted for {self.halted_s:.0f} s"
        else:
            what = "halted"
        parts = [f"{self.symbol}: {what}"]
        if self.reason:
            parts.append(self.reason)
        if self.bad_messages:
            parts.append(
                f"{self.bad_messages} unreadable upstream messages, last: {self.last_error}"
            )
        return "; ".join(parts)


def symbol_health(
    symbols: Iterable[str],
    halted: Collection[str],
    feeds: Mapping[str, SymbolFeed] | None = None,
    feed_now_ns: int = 0,
) -> list[SymbolHealth]:
    """Per symbol: halted by the engine, and (paper mode) what the upstream feed says."""
    out = []
    for symbol in symbols:
        feed = feeds.get(symbol) if feeds is not None else None
        is_halted = symbol in halted
        if feed is None:
            reason = "trading halt in the replayed data" if is_halted else ""
            out.append(SymbolHealth(symbol, is_halted, reason, None, None, 0, ""))
            continue
        halted_s = None
        if is_halted and feed.since_ns and feed_now_ns >= feed.since_ns:
            halted_s = (feed_now_ns - feed.since_ns) / NS_PER_S
        out.append(
            SymbolHealth(
                symbol,
                is_halted,
                feed.reason if is_halted else "",
                halted_s,
                feed.ever_synced,
                feed.bad_messages,
                feed.last_error,
            )
        )
    return out


def status(symbols: Iterable[SymbolHealth]) -> tuple[str, list[str]]:
    """``("ok", [])``, or ``("degraded", one line per halted symbol)``."""
    problems = [s.problem() for s in symbols if s.halted]
    return ("degraded" if problems else "ok"), problems


class ExchangeCollector(Collector):
    """Reads the symbols' health at scrape time (no state of its own to drift)."""

    def __init__(self, read: Callable[[], list[SymbolHealth]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        symbols = self.read()
        halted = GaugeMetricFamily(
            "rlexec_exchange_symbol_halted",
            "1 while the venue refuses new orders for the symbol (no upstream book, or a "
            "trading halt in the replayed data)",
            labels=["symbol"],
        )
        never = GaugeMetricFamily(
            "rlexec_exchange_symbol_never_traded",
            "1 for a paper symbol whose upstream book has not built once since the start",
            labels=["symbol"],
        )
        bad = CounterMetricFamily(
            "rlexec_exchange_upstream_bad_messages",
            "upstream messages naming the symbol that could not be read (off the tick grid, "
            "malformed)",
            labels=["symbol"],
        )
        for s in symbols:
            halted.add_metric([s.symbol], 1.0 if s.halted else 0.0)
            if s.ever_traded is not None:
                never.add_metric([s.symbol], 0.0 if s.ever_traded else 1.0)
                bad.add_metric([s.symbol], float(s.bad_messages))
        yield halted
        yield never
        yield bad


def metrics_registry(read: Callable[[], list[SymbolHealth]]) -> CollectorRegistry:
    """A registry of its own (never the process-wide default: tests run several
    exchanges in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExchangeCollector(read))
    return registry

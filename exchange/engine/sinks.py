"""Ready-made sinks for engine output: lists, for tests and in-process simulators."""

from __future__ import annotations

from core.events import BookDelta, CancelReject, ExecReport, TradePrint


class CollectingReports:
    """Keeps every ``(session, report)`` in arrival order."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[tuple[str, ExecReport | CancelReject]] = []

    def __call__(self, session: str, report: ExecReport | CancelReject) -> None:
        self.items.append((session, report))

    def drain(self) -> list[tuple[str, ExecReport | CancelReject]]:
        out, self.items = self.items, []
        return out

    def reports(self, session: str | None = None) -> list[ExecReport | CancelReject]:
        return [r for s, r in self.items if session is None or s == session]

    def exec_reports(self, session: str | None = None) -> list[ExecReport]:
        return [r for r in self.reports(session) if isinstance(r, ExecReport)]


class CollectingMarketData:
    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[BookDelta | TradePrint] = []

    def __call__(self, event: BookDelta | TradePrint) -> None:
        self.events.append(event)

    def drain(self) -> list[BookDelta | TradePrint]:
        out, self.events = self.events, []
        return out

"""Replay a LOBSTER day and compare our book with the orderbook file after every message.

The replay's correctness claim is "after message ``i`` the top ``L`` levels of our book
equal row ``i`` of the orderbook file", for every row. This module records our top
levels while replaying message by message through the same fast loop the simulator
uses, then compares whole arrays at once.

Run ``python -m exchange.replay.check [PATH ...]`` to check files or LOBSTER folders
by hand (all shipped days by default).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.helptext import DefaultsHelpFormatter
from core.instruments import Instrument
from exchange.engine.depth import EngineL2Book
from exchange.engine.matching import MatchingEngine
from exchange.engine.sinks import CollectingMarketData, CollectingReports
from exchange.replay.prepared import PreparedDay, load_day
from exchange.replay.replayer import LobsterReplayer
from gateways.marketdata.lobster import LobsterFormatError, find_message_files, message_file_in


@dataclass(frozen=True, slots=True)
class TopLevels:
    """Our book's top ``L`` levels after each replayed message (price 0 = empty)."""

    bid_px: npt.NDArray[np.int64]
    bid_sz: npt.NDArray[np.int64]
    ask_px: npt.NDArray[np.int64]
    ask_sz: npt.NDArray[np.int64]


def record_top_levels(
    day: PreparedDay, start: int = 0, end: int | None = None, *, publish: bool = False
) -> TopLevels:
    """Seed at ``start`` and replay to ``end``, recording rows ``start .. end - 1``
    (row ``start`` is the seed itself when ``start`` is 0)."""
    n = len(day) if end is None else end
    levels = day.levels
    engine = MatchingEngine(
        [Instrument(day.symbol, tick_size=day.day.tick_size)],
        CollectingReports(),
        CollectingMarketData() if publish else None,
    )
    replayer = LobsterReplayer(day, engine)
    replayer.seed(start)
    l2 = replayer.book.l2
    rows = n - start
    out = np.zeros((4, rows, levels), dtype=np.int64)
    first = 0
    if start == 0:
        first = 1
        _write(out, 0, l2, levels)
    for r in range(first, rows):
        replayer.run_to(start + r + 1)
        _write(out, r, l2, levels)
    return TopLevels(out[0], out[1], out[2], out[3])


def _write(out: npt.NDArray[np.int64], r: int, l2: EngineL2Book, levels: int) -> None:
    top_b = l2.bid_prices[-levels:][::-1]
    top_a = l2.ask_prices[:levels]
    if top_b:
        out[0, r, : len(top_b)] = top_b
        out[1, r, : len(top_b)] = [l2.bid_sizes[p] for p in top_b]
    if top_a:
        out[2, r, : len(top_a)] = top_a
        out[3, r, : len(top_a)] = [l2.ask_sizes[p] for p in top_a]


def mismatched_rows(day: PreparedDay, top: TopLevels, start: int = 0) -> npt.NDArray[np.intp]:
    """Indices (into the day) of rows where our top levels differ from the file."""
    b = day.day.book
    n = top.bid_px.shape[0]
    sl = slice(start, start + n)
    bad = (
        (top.bid_px != b.bid_px[sl]).any(axis=1)
        | (top.bid_sz != b.bid_sz[sl]).any(axis=1)
        | (top.ask_px != b.ask_px[sl]).any(axis=1)
        | (top.ask_sz != b.ask_sz[sl]).any(axis=1)
    )
    return np.flatnonzero(bad) + start


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exchange.replay.check",
        description="Replay LOBSTER days and compare the book with the orderbook file after "
        "every message. Exit status: 0 every row matches, 1 some rows differ, 2 a file "
        "could not be read.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="LOBSTER message files, or folders (every day in or below each) "
        "(default: every shipped day)",
    )
    return parser


def _message_files(path: Path) -> list[Path]:
    """A message file as given; a folder: every LOBSTER day in or below it."""
    if path.is_dir():
        found = find_message_files(path)
        if found:
            return found
    return [message_file_in(path)]


def main(argv: list[str] | None = None) -> int:
    from exchange.data import lobster_message_files

    args = build_parser().parse_args(argv)
    paths = args.paths or [str(p) for p in lobster_message_files()]
    failed = unreadable = 0
    for path in paths:
        try:
            files = _message_files(Path(path))
        except LobsterFormatError as exc:
            print(exc, file=sys.stderr)
            unreadable += 1
            continue
        for file in files:
            try:
                day = load_day(file)
            except LobsterFormatError as exc:
                print(exc, file=sys.stderr)
                unreadable += 1
                continue
            bad = mismatched_rows(day, record_top_levels(day))
            status = "ok" if bad.size == 0 else f"{bad.size} rows differ, first at row {bad[0]}"
            print(f"{day.day.name}: {len(day)} rows, {status}")
            failed += int(bad.size > 0)
    return 2 if unreadable else 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

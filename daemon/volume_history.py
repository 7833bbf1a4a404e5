"""The participation window across a restart.

The participation cap compares what we trade with what the market traded over a
rolling window (``risk.participation_window_s``). That window lives in memory; after a
restart it would start empty, and an empty window means no trading at all: nothing
shows we are not the market. A parent whose end time fell soon after a restart then
expired under-filled, its completion sweep denied (issue 13 item 6).

So the node keeps the market's side of the window in the journal database (a snapshot
rewritten about once a second, summed into 1/120ths of the window so it stays small),
and on start hands it back to risk together with our own fills, which the journal
holds exactly. Summed prints carry the start of their interval, so they age out no
later than the prints would have: a restored window never claims more market volume
than there was. What was traded while the node was down is unknown and not invented,
with one exception: our own fills. A fill the venue made while the node was down (or
after the last snapshot) reaches the journal through the FIX resend, but its print on
the tape was never seen; counting it as ours and not as the market's made us look like
more than the whole market after a restart, and the cap denied. So each of our fills
later than the last print the snapshot saw is added to the market's side as well: it
was on the tape, and nothing more is claimed. If the node was down longer than the
window, the window starts with our fills only, and the cap denies until the market has
printed enough again (with no volume at all it denies everything: nothing shows we are
not the market; docs/risk.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.log import get_logger
from daemon.journal import Journal, JournalError
from risk.overlay import RiskOverlay

log = get_logger("rlexec.volume_history")

KEY = "participation_window"
BUCKETS = 120  # the market's prints are summed into this many intervals per window


def keep(journal: Journal, risk: RiskOverlay, symbols: Iterable[str]) -> None:
    """Save the market's prints in each symbol's window, and the time of the last print
    seen in each (raises JournalError)."""
    resolution = max(1, risk.limits.participation_window_ns // BUCKETS)
    market: dict[str, list[tuple[int, int]]] = {}
    seen: dict[str, int] = {}
    for s in symbols:
        market[s] = risk.market_prints(s, resolution)
        last = risk.market_prints(s)[-1:]  # exact, not summed: an interval starts earlier
        seen[s] = last[0][0] if last else 0
    journal.save_snapshot(KEY, {"market": market, "seen_until": seen})


def restore(
    journal: Journal, risk: RiskOverlay, our_fills: Mapping[str, list[tuple[int, int]]]
) -> dict[str, int]:
    """Give risk the window as it stood before the restart; returns the market volume
    restored per symbol. A missing or unreadable snapshot restores our fills only."""
    try:
        saved = journal.snapshot(KEY)
    except JournalError as exc:
        log.error("volume_history_unreadable", error=str(exc), detail="market window starts empty")
        saved = None
    saved = saved if isinstance(saved, dict) else {}
    if isinstance(saved.get("market"), dict):
        market, seen = saved["market"], saved.get("seen_until")
    else:  # the first format: the market's prints alone, nothing known of what was seen
        market, seen = saved, None
    seen = seen if isinstance(seen, dict) else {}
    restored: dict[str, int] = {}
    for symbol in sorted(set(market) | set(our_fills)):
        prints = _prints(market.get(symbol))
        until = seen.get(symbol)
        if type(until) is int:
            # our fills the tape showed after the last print seen: never counted as the
            # market's, though they were on the tape
            prints += [(ts, q) for ts, q in our_fills.get(symbol, ()) if ts > until]
        try:
            risk.adopt_volume(symbol, prints, list(our_fills.get(symbol, ())))
        except ValueError as exc:  # a symbol no longer configured
            log.warning("volume_history_skipped", symbol=symbol, error=str(exc))
            continue
        restored[symbol] = sum(q for _, q in prints)
    return restored


def _prints(raw: object) -> list[tuple[int, int]]:
    if not isinstance(raw, list):
        return []
    return [
        (p[0], p[1])
        for p in raw
        if isinstance(p, list) and len(p) == 2 and type(p[0]) is int and type(p[1]) is int
    ]

"""Write small, self-consistent LOBSTER files for tests (imported by basename).

Events run on a full-depth reference book; like LOBSTER, the message file keeps only
the events inside the top ``levels`` levels and the orderbook file shows those levels
after each kept event. So a level-1 file made here has exactly the blind spots of a
real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATE = "2012-06-21"
DAY_START_NS = 1_340_236_800_000_000_000  # 2012-06-21 00:00 read as UTC
T0 = 34_200.0


@dataclass
class Ev:
    t: float  # seconds after midnight
    typ: int
    oid: int
    size: int
    price: int  # ticks
    side: int  # +1 buy, -1 sell (the resting order's side)


@dataclass
class RefBook:
    bids: dict[int, dict[int, int]] = field(default_factory=dict)
    asks: dict[int, dict[int, int]] = field(default_factory=dict)

    def side(self, s: int) -> dict[int, dict[int, int]]:
        return self.bids if s > 0 else self.asks

    def top(self, s: int, levels: int) -> list[tuple[int, int]]:
        px = sorted(self.side(s), reverse=s > 0)[:levels]
        return [(p, sum(self.side(s)[p].values())) for p in px]

    def rank(self, s: int, price: int) -> int:
        """1-based rank of ``price`` among the side's levels (as if present)."""
        px = set(self.side(s)) | {price}
        return sorted(px, reverse=s > 0).index(price) + 1


def write_day(
    folder: Path,
    events: list[Ev],
    initial: dict[str, list[tuple[int, int, int]]],
    levels: int,
    ticker: str = "TEST",
) -> Path:
    """Write the pair; ``initial`` has ``bids``/``asks`` as (price, oid, size) orders that
    exist before the first event. Returns the message file path."""
    ref = RefBook()
    for s, key in ((1, "bids"), (-1, "asks")):
        for price, oid, size in initial[key]:
            ref.side(s).setdefault(price, {})[oid] = size
    msg_lines: list[str] = []
    ob_lines: list[str] = []
    for ev in events:
        side = ref.side(ev.side)
        visible = ref.rank(ev.side, ev.price) <= levels
        if ev.typ == 1:
            side.setdefault(ev.price, {})[ev.oid] = ev.size
        elif ev.typ in (2, 3, 4):
            lvl = side[ev.price]
            left = lvl[ev.oid] - ev.size
            if left:
                lvl[ev.oid] = left
            else:
                del lvl[ev.oid]
            if not lvl:
                del side[ev.price]
        if ev.typ in (5, 7):
            visible = True
        if not visible:
            continue
        msg_lines.append(
            f"{ev.t:.9f},{ev.typ},{ev.oid},{ev.size},"
            f"{ev.price * 100 if ev.typ != 7 else ev.price},{ev.side}"
        )
        row: list[str] = []
        asks, bids = ref.top(-1, levels), ref.top(1, levels)
        for i in range(levels):
            ap, az = asks[i] if i < len(asks) else (9_999_999_999 // 100, 0)
            bp, bz = bids[i] if i < len(bids) else (-9_999_999_999 // 100, 0)
            a_raw = ap * 100 if az else 9_999_999_999
            b_raw = bp * 100 if bz else -9_999_999_999
            row += [str(a_raw), str(az), str(b_raw), str(bz)]
        ob_lines.append(",".join(row))
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{ticker}_{DATE}_34200000_57600000"
    msg = folder / f"{stem}_message_{levels}.csv"
    msg.write_text("\n".join(msg_lines) + "\n")
    (folder / f"{stem}_orderbook_{levels}.csv").write_text("\n".join(ob_lines) + "\n")
    return msg


def ns(t: float) -> int:
    return DAY_START_NS + round(t * 1_000_000_000)

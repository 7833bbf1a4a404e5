"""The parent orders of a backtest: data groups, and the same seeded orders for every policy.

A *group* is one ticker-day folder at one book depth over one time window: the key is
(ticker, day, levels, window), so two windows of one folder stay two groups and their
figures are never pooled. Any LOBSTER ``<TICKER>_<DATE>_<LEVELS>`` folder is data; on
the command line a folder takes its windows after an ``@``::

    data/lobster/AMZN_2012-06-21_5@13:00-14:15,14:15-16:00   (two groups)
    data/lobster/AAPL_2012-06-21_1                           (the whole session)

Orders are drawn exactly as the environment draws training episodes
(:meth:`~policies.env.ExecutionEnv.sample_episode`: a start anywhere in the window, a
3-15 minute horizon, either side, a size from 2 % to 20 % of the volume the window's
average rate would trade over the horizon, log-uniform), each from its own seed, which
depends only on the base seed, the group and the order's number. So adding a group or
more orders never changes the orders already drawn, and every policy meets the same
orders (the comparison is paired).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from policies.backtest.market_path import FileMidPath
from policies.data import CLOSE_S, OPEN_S, Source, parse_windows, repo_data
from policies.env import EpisodeSpec, ExecutionEnv

NS_PER_S = 1_000_000_000
# Time-of-day buckets of an order's start: the first and the last trading hour, and
# the hours between.
TOD_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("open", 0, OPEN_S + 3600),
    ("midday", OPEN_S + 3600, CLOSE_S - 3600),
    ("close", CLOSE_S - 3600, 86_400),
)


def tod_bucket(seconds_of_day: float) -> str:
    for name, lo, hi in TOD_BUCKETS:
        if lo <= seconds_of_day < hi:
            return name
    raise ValueError(f"time of day {seconds_of_day} s is outside the day")


def hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """Where a group's data is: a folder and one window (seconds after midnight)."""

    folder: str
    window: tuple[int, int]

    @property
    def window_text(self) -> str:
        return f"{hhmm(self.window[0])}-{hhmm(self.window[1])}"


def resolve_folder(text: str) -> Path:
    """A folder path, or the name of a shipped LOBSTER folder (``AMZN_2012-06-21_5``)."""
    p = Path(text).expanduser()
    if p.exists():
        return p.resolve()
    shipped = repo_data() / text
    if shipped.exists():
        return shipped.resolve()
    raise FileNotFoundError(f"no data folder {text!r} (neither a path nor under {repo_data()})")


def parse_data(items: list[str], default_windows: str = "09:30-16:00") -> list[GroupSpec]:
    """``FOLDER[@HH:MM-HH:MM[,...]]`` items -> one group per folder and window."""
    out: list[GroupSpec] = []
    for item in items:
        folder, _, windows = item.partition("@")
        path = resolve_folder(folder)
        for lo, hi in parse_windows(windows or default_windows):
            spec = GroupSpec(str(path), (lo, hi))
            if spec in out:
                raise ValueError(f"group {folder}@{spec.window_text} is given twice")
            out.append(spec)
    if not out:
        raise ValueError("no data given")
    return out


@dataclass(frozen=True, slots=True)
class DataGroup:
    spec: GroupSpec
    ticker: str
    day: str
    levels: int
    sha256: str  # of the message file

    @classmethod
    def of(cls, spec: GroupSpec, source: Source) -> DataGroup:
        d = source.day.day
        return cls(spec, d.ticker, d.date.isoformat(), d.levels, source.sha256)

    @property
    def key(self) -> str:
        """(ticker, day, levels, window), as the report prints it."""
        return f"{self.ticker} {self.day} L{self.levels} {self.spec.window_text}"

    def fingerprint(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class ParentSpec:
    """One parent order of the backtest and the market it arrived into."""

    group: str
    index: int
    seed: int
    start_ns: int
    horizon_ns: int
    side: int  # +1 buy, -1 sell
    qty: int
    size_frac: float  # of the volume the window's average rate trades over the horizon
    tod_s: float  # start, seconds after midnight
    spread_ticks: float
    volatility_bps: float
    depth: float

    @property
    def tod(self) -> str:
        return tod_bucket(self.tod_s)

    def episode(self) -> EpisodeSpec:
        from core.types import Side

        return EpisodeSpec(0, self.start_ns, self.horizon_ns, Side(self.side), self.qty)

    def fingerprint(self) -> dict[str, Any]:
        """What decides an order's outcome: when, how long, which side, how much, its seed."""
        return {
            "seed": self.seed,
            "start_ns": self.start_ns,
            "horizon_ns": self.horizon_ns,
            "side": self.side,
            "qty": self.qty,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def order_seed(base_seed: int, group_key: str, index: int) -> int:
    h = int.from_bytes(hashlib.sha256(group_key.encode()).digest()[:8], "big")
    state = np.random.SeedSequence([base_seed, h, index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def draw_orders(
    group: DataGroup, source: Source, env: ExecutionEnv, n: int, base_seed: int
) -> list[ParentSpec]:
    """``n`` orders of one group; ``env`` holds only ``source`` (its sampling rules)."""
    path = FileMidPath(source.day)
    day_open = source.day_start_ns + OPEN_S * NS_PER_S
    out = []
    for i in range(n):
        seed = order_seed(base_seed, group.key, i)
        ep = env.sample_episode(np.random.default_rng(seed))
        cond = path.conditions(ep.start_ns, day_open)
        horizon_s = ep.horizon_ns / NS_PER_S
        out.append(
            ParentSpec(
                group=group.key,
                index=i,
                seed=seed,
                start_ns=ep.start_ns,
                horizon_ns=ep.horizon_ns,
                side=int(ep.side),
                qty=ep.qty,
                size_frac=ep.qty / (source.volume_rate * horizon_s),
                tod_s=(ep.start_ns - source.day_start_ns) / NS_PER_S,
                spread_ticks=cond.spread_ticks,
                volatility_bps=cond.volatility_bps,
                depth=cond.depth,
            )
        )
    return out

"""Market data for training and evaluation: LOBSTER folders and their time splits.

Any LOBSTER ticker/day folder works (``<TICKER>_<DATE>_<LEVELS>/`` holding the
message and orderbook files). A *split* is a list of time-of-day windows per folder:
the shipped data has one day per ticker, so the default split is by hours within the
day and across tickers (see docs/policies.md):

* AMZN (level 5): train 09:30-13:00, validation 13:00-14:15, test 14:15-16:00;
* AAPL (level 1): test only, the whole day (a ticker the policy never saw).

Everything estimated for features or baselines (normalisation, volume profile,
Almgren-Chriss parameters) reads the training windows only.

The default folders are the repository's shipped ones (what the committed policy was
trained and tested on), never moved by ``RLEXEC_DATA_DIR``: other data is named
explicitly. A folder or window that cannot be used raises :class:`DataError` naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from core.instruments import Instrument
from exchange.data import SHIPPED_DATA, LobsterFormatError, message_file_in
from exchange.flow.model import FlowParams
from exchange.replay.prepared import PreparedDay, load_day
from policies.estimation import NS_PER_S, MarketArrays

OPEN_S = 34_200  # 09:30
CLOSE_S = 57_600  # 16:00


class DataError(ValueError):
    """Market data a split cannot use (missing or unreadable folder, a bad window, no
    trades inside the windows); the message names the folder or window."""


def hhmm(text: str) -> int:
    """'13:00' or '13' or '13.5' -> seconds after midnight."""
    t = text.strip()
    try:
        if ":" in t:
            h, m = t.split(":", 1)
            return int(h) * 3600 + int(m) * 60
        return round(float(t) * 3600)
    except ValueError as exc:
        raise DataError(f"bad time of day {text!r}; use HH:MM") from exc


def parse_windows(text: str) -> list[tuple[int, int]]:
    """'09:30-13:00,14:00-15:00' -> [(34200, 46800), (50400, 54000)]."""
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            a, b = part.split("-")
        except ValueError as exc:
            raise DataError(f"bad window {part!r}; use HH:MM-HH:MM") from exc
        lo, hi = hhmm(a), hhmm(b)
        if not OPEN_S - 3600 <= lo < hi <= CLOSE_S + 3600:
            raise DataError(f"window {part!r} is empty or outside the trading day")
        out.append((lo, hi))
    if not out:
        raise DataError(f"no windows in {text!r}")
    return out


def message_file(folder: str | Path) -> Path:
    """The message file of a ticker/day folder (or the file itself)."""
    try:
        return message_file_in(folder)
    except LobsterFormatError as exc:
        raise DataError(str(exc)) from None


@dataclass(frozen=True, slots=True, eq=False)
class Source:
    """One ticker-day and the windows of it that a split may use."""

    day: PreparedDay
    windows: tuple[tuple[int, int], ...]  # time of day, seconds
    instrument: Instrument
    volume_rate: float  # shares per second over the windows (for sizing parent orders)
    sha256: str

    @property
    def name(self) -> str:
        return self.day.day.name

    @property
    def day_start_ns(self) -> int:
        return self.day.day.day_start_ns

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": Path(self.day.day.message_path).name,
            "sha256": self.sha256,
            "orderbook_file": Path(self.day.day.orderbook_path).name,
            "orderbook_sha256": _sha256(self.day.day.orderbook_path),
            "windows": [f"{_fmt(a)}-{_fmt(b)}" for a, b in self.windows],
        }


def _fmt(s: int) -> str:
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticSource:
    """Episodes on the synthetic order-flow model (``exchange.flow``) in one regime."""

    params: FlowParams
    regime_name: str
    instrument: Instrument
    windows: tuple[tuple[int, int], ...]
    volume_rate: float
    sha256: str
    day_start_ns: int
    calibrated_on: str = ""  # the recorded source (folder and windows) the flow was fitted to

    @property
    def name(self) -> str:
        return f"synthetic_{self.instrument.symbol}_{self.regime_name}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params.source,
            "calibrated_on": self.calibrated_on,
            "sha256": self.sha256,
            "windows": [f"{_fmt(a)}-{_fmt(b)}" for a, b in self.windows],
        }


def synthetic_source(
    symbol: str, regime_name: str, params: FlowParams | None = None, calibrated_on: str = ""
) -> SyntheticSource:
    """A synthetic regime of ``symbol``'s order flow: ``params`` fitted to a training
    split (:func:`calibrated_synthetic`), or the shipped whole-day calibration (which
    has seen every hour of the shipped day, so training with it leaks test hours)."""
    from exchange.flow.model import PARAMS_FILE, calibrated_regime, load_params
    from exchange.flow.simulator import DEFAULT_START_NS

    if params is None:
        params = load_params(symbol)
        digest = hashlib.sha256(Path(PARAMS_FILE).read_bytes()).hexdigest()
    else:
        text = json.dumps(params.to_json(), sort_keys=True).encode()
        digest = hashlib.sha256(text).hexdigest()
    reg = calibrated_regime(regime_name, params)
    mean_size = sum(params.market_sizes) / len(params.market_sizes)
    rate = 2 * params.market_rate * reg.market * mean_size
    day_start = DEFAULT_START_NS - OPEN_S * NS_PER_S
    return SyntheticSource(
        params,
        regime_name,
        Instrument(params.symbol),
        ((OPEN_S, CLOSE_S),),
        rate,
        digest,
        day_start,
        calibrated_on,
    )


_FLOW_CACHE: dict[tuple[str, tuple[tuple[int, int], ...]], FlowParams] = {}


def calibrated_synthetic(source: Source, regime_name: str) -> SyntheticSource:
    """A synthetic regime whose flow is calibrated on ``source``'s own windows only."""
    from exchange.flow.calibration import calibrate

    key = (source.sha256, source.windows)
    params = _FLOW_CACHE.get(key)
    if params is None:
        params = _FLOW_CACHE[key] = calibrate(source.day, windows=source.windows)
    where = f"{source.name}@{','.join(f'{_fmt(a)}-{_fmt(b)}' for a, b in source.windows)}"
    return synthetic_source(source.instrument.symbol, regime_name, params, where)


AnySource = Source | SyntheticSource


def load_source(folder: str | Path, windows: list[tuple[int, int]], tick: str = "0.01") -> Source:
    path = message_file(folder)
    try:
        day = load_day(path, Decimal(tick))
    except LobsterFormatError as exc:
        raise DataError(str(exc)) from None
    inst = Instrument(day.symbol, tick_size=Decimal(tick))
    arrays = [market_arrays(day, lo, hi) for lo, hi in windows]
    secs = sum(a.seconds for a in arrays if a is not None)
    vol = sum(int(a.trade_qty.sum()) for a in arrays if a is not None)
    rate = vol / secs if secs > 0 else 0.0
    if rate <= 0:
        shown = ",".join(f"{_fmt(a)}-{_fmt(b)}" for a, b in windows)
        raise DataError(f"{path}: no trades inside the window(s) {shown}")
    return Source(day, tuple(windows), inst, rate, _sha256(day.day.message_path))


def market_arrays(day: PreparedDay, lo_s: int, hi_s: int) -> MarketArrays | None:
    """The estimation columns of one time-of-day window (None when it holds no data)."""
    d = day.day
    m, b = d.messages, d.book
    t0 = d.day_start_ns + lo_s * NS_PER_S
    t1 = d.day_start_ns + hi_s * NS_PER_S
    i0 = int(np.searchsorted(m.ts_ns, t0, side="left"))
    i1 = int(np.searchsorted(m.ts_ns, t1, side="left"))
    if i1 - i0 < 10:
        return None
    sl = slice(i0, i1)
    ask, bid = b.ask_px[sl], b.bid_px[sl]
    ok = (ask[:, 0] > 0) & (bid[:, 0] > 0)
    ex = (m.event[sl] == 4) | (m.event[sl] == 5)
    return MarketArrays(
        ts_ns=m.ts_ns[sl][ok],
        mid=((ask[:, 0] + bid[:, 0]) / 2.0)[ok],
        spread=(ask[:, 0] - bid[:, 0])[ok],
        bid_px=bid[ok],
        bid_sz=b.bid_sz[sl][ok],
        ask_px=ask[ok],
        ask_sz=b.ask_sz[sl][ok],
        trade_ts_ns=m.ts_ns[sl][ex],
        trade_qty=m.size[sl][ex],
        trade_sign=-m.direction[sl][ex].astype(np.int64),
        day_start_ns=d.day_start_ns,
    )


def training_arrays(sources: Sequence[AnySource]) -> list[MarketArrays]:
    """Estimation columns of the recorded training windows (synthetic sources add none)."""
    out = []
    for s in sources:
        if not isinstance(s, Source):
            continue
        for lo, hi in s.windows:
            a = market_arrays(s.day, lo, hi)
            if a is not None:
                out.append(a)
    return out


@dataclass(frozen=True, slots=True)
class DataSplit:
    train: Sequence[AnySource]
    val: Sequence[AnySource]
    test: Sequence[AnySource]

    def describe(self) -> dict[str, Any]:
        return {k: [s.describe() for s in getattr(self, k)] for k in ("train", "val", "test")}


def synthetic_for(recorded: Sequence[Source], regimes: Sequence[str]) -> list[SyntheticSource]:
    """Each regime for each ticker, calibrated on that ticker's deepest recorded source's
    windows (a level-5 file shows the depth profile a level-1 file cannot)."""
    deepest: dict[str, Source] = {}
    for src in recorded:
        sym = src.instrument.symbol
        if sym not in deepest or src.day.levels > deepest[sym].day.levels:
            deepest[sym] = src
    return [calibrated_synthetic(src, r) for src in deepest.values() for r in regimes]


DEFAULT_TRAIN = "09:30-13:00"
DEFAULT_VAL = "13:00-14:15"
DEFAULT_TEST = "14:15-16:00"


DEFAULT_TRAIN_FOLDER = "AMZN_2012-06-21_5"
DEFAULT_UNSEEN_FOLDER = "AAPL_2012-06-21_1"


def repo_data() -> Path:
    """The shipped LOBSTER folders (RLEXEC_DATA_DIR does not move the defaults)."""
    return SHIPPED_DATA / "lobster"


def default_split(
    train_folders: list[str] | None = None,
    unseen_folders: list[str] | None = None,
    *,
    train: str = DEFAULT_TRAIN,
    val: str = DEFAULT_VAL,
    test: str = DEFAULT_TEST,
    unseen: str | None = None,
    synthetic: list[str] | None = None,
) -> DataSplit:
    """Hours of the training tickers for train/val/test; unseen tickers for test, over
    the ``unseen`` windows (None: the whole day); ``synthetic`` regimes (e.g. ["calm",
    "volatile"]) of each training ticker, calibrated on its training windows only,
    join the training set."""
    root = repo_data()
    tf = train_folders or [str(root / DEFAULT_TRAIN_FOLDER)]
    uf = unseen_folders if unseen_folders is not None else [str(root / DEFAULT_UNSEEN_FOLDER)]
    tr, va, te = parse_windows(train), parse_windows(val), parse_windows(test)
    unseen_windows = parse_windows(unseen) if unseen is not None else [(OPEN_S, CLOSE_S)]
    recorded = [load_source(f, tr) for f in tf]
    train_sources: list[AnySource] = [*recorded, *synthetic_for(recorded, synthetic or [])]
    return DataSplit(
        train=train_sources,
        val=[load_source(f, va) for f in tf],
        test=[load_source(f, te) for f in tf] + [load_source(f, unseen_windows) for f in uf],
    )


# --------------------------------------------------------------------------- folds
# Issue 15's validation protocol on the shipped day (one day per ticker). Every fold
# names its training, validation and test data up front; normalisation, baseline
# parameters, the synthetic regimes' flow and the passive tactic's tuning read the
# training part only, checkpoints and the risk aversion are chosen on the validation
# part, and the test part is only ever evaluated (by ``rlexec gate``).
MORNING = "09:30-12:00"
MIDDAY = "12:00-13:30"
CLOSE = "13:30-16:00"
WHOLE_DAY = "09:30-16:00"
AMZN5, AMZN1, AAPL1 = "AMZN_2012-06-21_5", "AMZN_2012-06-21_1", "AAPL_2012-06-21_1"
TRAINING_REGIMES = ("volatile", "trending", "thin", "wide")


@dataclass(frozen=True, slots=True)
class Fold:
    """One split of the protocol: ``FOLDER@HH:MM-HH:MM[,...]`` items per part."""

    name: str
    purpose: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    synthetic: tuple[str, ...] = TRAINING_REGIMES

    def split(self) -> DataSplit:
        recorded = _sources(self.train)
        return DataSplit(
            train=[*recorded, *synthetic_for(recorded, self.synthetic)],
            val=_sources(self.val),
            test=_sources(self.test),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "train": list(self.train),
            "val": list(self.val),
            "test": list(self.test),
            "synthetic": list(self.synthetic),
        }


def _sources(items: Sequence[str]) -> list[Source]:
    """One source per item; the level-1 AMZN file is the level-5 day seen one level deep,
    so a fold never trains on one and tests on the other over the same hours."""
    out = []
    for item in items:
        folder, _, windows = item.partition("@")
        path = Path(folder) if Path(folder).exists() else repo_data() / folder
        out.append(load_source(path, parse_windows(windows or WHOLE_DAY)))
    return out


FOLDS: dict[str, Fold] = {
    f.name: f
    for f in (
        Fold(
            "time-forward",
            "both tickers: train the morning, validate midday, test the close",
            train=(f"{AMZN5}@{MORNING}", f"{AAPL1}@{MORNING}"),
            val=(f"{AMZN5}@{MIDDAY}", f"{AAPL1}@{MIDDAY}"),
            test=(f"{AMZN5}@{CLOSE}", f"{AMZN1}@{CLOSE}", f"{AAPL1}@{CLOSE}"),
        ),
        Fold(
            "time-reverse",
            "both tickers: train the close, validate midday, test the morning",
            train=(f"{AMZN5}@{CLOSE}", f"{AAPL1}@{CLOSE}"),
            val=(f"{AMZN5}@{MIDDAY}", f"{AAPL1}@{MIDDAY}"),
            test=(f"{AMZN5}@{MORNING}", f"{AMZN1}@{MORNING}", f"{AAPL1}@{MORNING}"),
        ),
        Fold(
            "loto-AAPL",
            "leave AAPL out: train AMZN's morning and close, validate its midday, test AAPL",
            train=(f"{AMZN5}@{MORNING},{CLOSE}",),
            val=(f"{AMZN5}@{MIDDAY}",),
            test=(f"{AAPL1}@{WHOLE_DAY}",),
        ),
        Fold(
            "loto-AMZN",
            "leave AMZN out: train AAPL's morning and close, validate its midday, test AMZN",
            train=(f"{AAPL1}@{MORNING},{CLOSE}",),
            val=(f"{AAPL1}@{MIDDAY}",),
            test=(f"{AMZN5}@{WHOLE_DAY}", f"{AMZN1}@{WHOLE_DAY}"),
        ),
    )
}


def fold(name: str) -> Fold:
    try:
        return FOLDS[name]
    except KeyError:
        raise DataError(f"unknown fold {name!r}; use one of {', '.join(FOLDS)}") from None

"""LOBSTER file reader: message and orderbook CSVs into integer numpy arrays.

LOBSTER (lobsterdata.com) reconstructs NASDAQ TotalView-ITCH into two files per
ticker and day: a *message* file (one book event per row) and an *orderbook* file
(the top ``L`` levels after each event). Both are parsed once, vectorised, into
integer arrays so that a replay never touches text again:

- prices become integer ticks of the instrument (LOBSTER gives dollars x 10000), so a
  replayed book and a live one share the same grid;
- times become integer nanoseconds since the Unix epoch, reading the LOBSTER
  wall-clock time (US/Eastern, seconds after midnight) *as if it were UTC*: the
  trading day's midnight is ``day_start_ns`` and 09:30 is ``day_start_ns + 34_200e9``.
  Nothing depends on the real time zone; the convention only keeps timestamps on the
  same axis as :class:`core.clock.SimClock`.

A corrupt file stops the load with a :class:`LobsterFormatError` naming the file and
the 1-based line, because a replay that silently skipped a row would drift from the
orderbook file from then on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

NS_PER_S = 1_000_000_000
RAW_PRICE_SCALE = 10_000  # LOBSTER prices are dollars x 10000
EMPTY_ASK = 9_999_999_999  # LOBSTER's filler for levels that do not exist
EMPTY_BID = -9_999_999_999

# Event types of the message file (column 2).
NEW_LIMIT = 1
PARTIAL_CANCEL = 2
DELETE = 3
EXEC_VISIBLE = 4
EXEC_HIDDEN = 5
CROSS_TRADE = 6
HALT = 7
EVENT_TYPES = (NEW_LIMIT, PARTIAL_CANCEL, DELETE, EXEC_VISIBLE, EXEC_HIDDEN, CROSS_TRADE, HALT)

# Halt messages carry a code in the price column instead of a price.
HALT_TRADING = -1
HALT_QUOTING = 0
HALT_RESUME = 1

I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]

_NAME = re.compile(
    r"^(?P<ticker>[A-Za-z0-9.\-]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d+)\.csv(?:\.gz)?$"
)


class LobsterFormatError(ValueError):
    """A LOBSTER file that cannot be replayed; names the file and the 1-based line."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class LobsterFileName:
    ticker: str
    date: dt.date
    start_ms: int
    end_ms: int
    kind: str  # "message" or "orderbook"
    levels: int

    @classmethod
    def parse(cls, path: str | Path) -> LobsterFileName:
        name = Path(path).name
        m = _NAME.match(name)
        if m is None:
            raise LobsterFormatError(
                path,
                None,
                "file name does not follow TICKER_YYYY-MM-DD_START_END_{message|orderbook}_L.csv",
            )
        try:
            date = dt.date.fromisoformat(m["date"])
        except ValueError as exc:
            raise LobsterFormatError(path, None, f"bad date {m['date']!r} in file name") from exc
        levels = int(m["levels"])
        if levels < 1:
            raise LobsterFormatError(path, None, "level count in file name must be >= 1")
        return cls(m["ticker"], date, int(m["start"]), int(m["end"]), m["kind"], levels)


@dataclass(frozen=True, slots=True, eq=False)
class LobsterMessages:
    """The message file as columns; row ``i`` is event ``i``.

    ``price`` is in ticks; for hidden executions at sub-tick (midpoint) prices it is
    rounded half-up to the tick and ``price_raw`` keeps the exact LOBSTER value. For
    halt rows (type 7) ``price`` holds the halt code (-1 halt, 0 quoting, 1 resume).
    ``direction`` is the side of the *resting* order: +1 buy, -1 sell.
    """

    ts_ns: I64
    event: I8
    order_id: I64
    size: I64
    price: I64
    price_raw: I64
    direction: I8

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class LobsterOrderbook:
    """The orderbook file: ``[rows, levels]`` arrays, best level first; row ``i`` is the
    book after message ``i``. Empty levels have price 0 and size 0."""

    ask_px: I64
    ask_sz: I64
    bid_px: I64
    bid_sz: I64

    def __len__(self) -> int:
        return int(self.ask_px.shape[0])

    @property
    def levels(self) -> int:
        return int(self.ask_px.shape[1])


@dataclass(frozen=True, slots=True, eq=False)
class LobsterDay:
    ticker: str
    date: dt.date
    levels: int
    tick_size: Decimal
    day_start_ns: int
    messages: LobsterMessages
    book: LobsterOrderbook
    message_path: str
    orderbook_path: str

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def name(self) -> str:
        return f"{self.ticker}_{self.date.isoformat()}_{self.levels}"


# ----------------------------------------------------------------- parsing


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LobsterFormatError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise LobsterFormatError(path, None, f"not a valid gzip file ({exc})") from exc
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LobsterFormatError(path, line, "non-ASCII byte in a numeric CSV") from exc


def _first_bad_line(path: Path, text: str, columns: int) -> LobsterFormatError:
    """Slow exact scan, only run once the fast parser has refused the file."""
    for n, line in enumerate(text.split("\n"), start=1):
        if not line and n == text.count("\n") + 1:
            break  # the empty string after the final newline
        fields = line.rstrip("\r").split(",")
        if len(fields) != columns:
            return LobsterFormatError(
                path, n, f"expected {columns} comma-separated columns, found {len(fields)}"
            )
        for col, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                return LobsterFormatError(path, n, f"column {col} is not a number: {field!r}")
            if not math.isfinite(value):
                return LobsterFormatError(path, n, f"column {col} is not finite: {field!r}")
    return LobsterFormatError(path, None, "unparseable (no single bad line found)")


def _load_matrix(path: Path, columns: int) -> npt.NDArray[np.float64]:
    text = _read_text(path)
    if not text.strip():
        raise LobsterFormatError(path, 1, "file is empty")
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    try:
        data = np.loadtxt(
            io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None
        )
    except ValueError:
        raise _first_bad_line(path, text, columns) from None
    if data.shape[1] != columns or data.shape[0] != lines:
        # loadtxt skips blank lines silently; a blank line would misalign the two files.
        raise _first_bad_line(path, text, columns)
    if not np.isfinite(data).all():
        raise _first_bad_line(path, text, columns)
    return data


def _int_column(
    path: Path, col: npt.NDArray[np.float64], name: str, index: int
) -> npt.NDArray[np.int64]:
    as_int = col.astype(np.int64)
    bad = as_int != col
    if bad.any():
        line = int(np.argmax(bad)) + 1
        raise LobsterFormatError(
            path, line, f"column {index} ({name}) must be a whole number, got {col[line - 1]!r}"
        )
    return as_int


def _fail_at(path: Path, mask: npt.ArrayLike, problem: str) -> None:
    bad = np.asarray(mask, dtype=bool)
    if bad.any():
        raise LobsterFormatError(path, int(np.argmax(bad)) + 1, problem)


def raw_per_tick(tick_size: Decimal) -> int:
    """LOBSTER raw price units (dollars x 10000) per tick; must be a whole number."""
    per = Decimal(RAW_PRICE_SCALE) * tick_size
    if per != per.to_integral_value() or per <= 0:
        raise ValueError(f"tick size {tick_size} is finer than LOBSTER's price unit $0.0001")
    return int(per)


def read_messages(
    path: str | Path, *, tick_size: Decimal = Decimal("0.01"), day_start_ns: int = 0
) -> LobsterMessages:
    p = Path(path)
    m = _load_matrix(p, 6)
    secs = m[:, 0]
    _fail_at(p, (secs < 0) | (secs >= 86_400), "time must be within the day (0 <= t < 86400 s)")
    _fail_at(p, np.diff(secs, prepend=secs[0]) < 0, "time goes backwards")
    ts_ns = np.rint(secs * NS_PER_S).astype(np.int64) + day_start_ns
    event = _int_column(p, m[:, 1], "type", 2)
    order_id = _int_column(p, m[:, 2], "order id", 3)
    size = _int_column(p, m[:, 3], "size", 4)
    price_raw = _int_column(p, m[:, 4], "price", 5)
    direction = _int_column(p, m[:, 5], "direction", 6)
    _fail_at(p, ~np.isin(event, EVENT_TYPES), "event type must be one of 1-7")
    _fail_at(p, (direction != 1) & (direction != -1), "direction must be 1 or -1")
    halt = event == HALT
    book_event = ~halt
    _fail_at(p, book_event & (size <= 0), "size must be > 0")
    _fail_at(p, book_event & (price_raw <= 0), "price must be > 0")
    _fail_at(p, book_event & (order_id < 0), "order id must be >= 0")
    _fail_at(
        p, halt & ~np.isin(price_raw, (HALT_TRADING, HALT_QUOTING, HALT_RESUME)), "bad halt code"
    )
    per = raw_per_tick(tick_size)
    off_grid = book_event & (price_raw % per != 0)
    # Hidden orders may execute at the midpoint; nothing else may be off the tick grid.
    _fail_at(p, off_grid & (event != EXEC_HIDDEN), f"price is not a multiple of {tick_size}")
    price = np.where(halt, price_raw, (price_raw + per // 2) // per)
    # a hidden execution below half a tick would round to a price of 0 (found by fuzzing)
    _fail_at(p, book_event & (price <= 0), f"price rounds to 0 ticks of {tick_size}")
    return LobsterMessages(
        ts_ns=ts_ns,
        event=event.astype(np.int8),
        order_id=order_id,
        size=size,
        price=price.astype(np.int64),
        price_raw=price_raw,
        direction=direction.astype(np.int8),
    )


def read_orderbook(
    path: str | Path, levels: int, *, tick_size: Decimal = Decimal("0.01")
) -> LobsterOrderbook:
    p = Path(path)
    try:
        m = _load_matrix(p, 4 * levels)
    except LobsterFormatError as exc:
        raise _level_mismatch(p, levels) or exc from None
    cols = [_int_column(p, m[:, j], f"level {j // 4 + 1}", j + 1) for j in range(4 * levels)]
    raw = np.stack(cols, axis=1)
    ask_raw, ask_sz = raw[:, 0::4], raw[:, 1::4]
    bid_raw, bid_sz = raw[:, 2::4], raw[:, 3::4]
    ask_empty = ask_raw == EMPTY_ASK
    bid_empty = bid_raw == EMPTY_BID
    _fail_at(p, ((ask_sz < 0) | (bid_sz < 0)).any(axis=1), "negative size")
    _fail_at(p, (~ask_empty & ((ask_raw <= 0) | (ask_sz <= 0))).any(axis=1), "bad ask level")
    _fail_at(p, (~bid_empty & ((bid_raw <= 0) | (bid_sz <= 0))).any(axis=1), "bad bid level")
    _fail_at(
        p,
        ((ask_empty & (ask_sz != 0)) | (bid_empty & (bid_sz != 0))).any(axis=1),
        "size on an empty level",
    )
    per = raw_per_tick(tick_size)
    off = (~ask_empty & (ask_raw % per != 0)) | (~bid_empty & (bid_raw % per != 0))
    _fail_at(p, off.any(axis=1), f"price is not a multiple of {tick_size}")
    ask_px = np.where(ask_empty, 0, ask_raw // per)
    bid_px = np.where(bid_empty, 0, bid_raw // per)
    if levels > 1:
        # Real levels first, then fillers; prices strictly worse level by level.
        ask_gap = ask_empty[:, :-1] & ~ask_empty[:, 1:]
        bid_gap = bid_empty[:, :-1] & ~bid_empty[:, 1:]
        _fail_at(p, (ask_gap | bid_gap).any(axis=1), "empty level before a real one")
        ask_order = ~ask_empty[:, 1:] & (ask_px[:, 1:] <= ask_px[:, :-1])
        bid_order = ~bid_empty[:, 1:] & (bid_px[:, 1:] >= bid_px[:, :-1])
        _fail_at(p, (ask_order | bid_order).any(axis=1), "levels out of price order")
    crossed = ~ask_empty[:, 0] & ~bid_empty[:, 0] & (bid_px[:, 0] >= ask_px[:, 0])
    _fail_at(p, crossed, "book is crossed or locked")
    return LobsterOrderbook(
        ask_px=np.ascontiguousarray(ask_px),
        ask_sz=np.ascontiguousarray(np.where(ask_empty, 0, ask_sz)),
        bid_px=np.ascontiguousarray(bid_px),
        bid_sz=np.ascontiguousarray(np.where(bid_empty, 0, bid_sz)),
    )


def _level_mismatch(path: Path, levels: int) -> LobsterFormatError | None:
    """An orderbook file whose every row has 4 x K columns, K != ``levels``: a level-K
    file named (or declared) as level ``levels``. Says so instead of "line 1: wrong
    column count"."""
    with contextlib.suppress(LobsterFormatError):
        first = _read_text(path).split("\n", 1)[0]
        columns = first.count(",") + 1
        if columns % 4 == 0 and columns != 4 * levels:
            return LobsterFormatError(
                path,
                None,
                f"holds {columns // 4} levels ({columns} columns a row) but is declared "
                f"as level {levels}",
            )
    return None


def day_start_ns(date: dt.date) -> int:
    """Midnight of ``date`` in ns since the Unix epoch, wall time read as UTC."""
    return (date - dt.date(1970, 1, 1)).days * 86_400 * NS_PER_S


def orderbook_path_for(message_path: str | Path) -> Path:
    p = Path(message_path)
    return p.with_name(p.name.replace("_message_", "_orderbook_"))


def read_day(
    message_path: str | Path,
    orderbook_path: str | Path | None = None,
    *,
    tick_size: Decimal = Decimal("0.01"),
) -> LobsterDay:
    """Read and cross-check one message/orderbook pair."""
    mp = Path(message_path)
    op = Path(orderbook_path) if orderbook_path is not None else orderbook_path_for(mp)
    mname = LobsterFileName.parse(mp)
    oname = LobsterFileName.parse(op)
    if mname.kind != "message" or oname.kind != "orderbook":
        raise LobsterFormatError(
            mp,
            None,
            f"expected a message file and an orderbook file, got {mname.kind} and {oname.kind}",
        )
    if (mname.ticker, mname.date, mname.levels) != (oname.ticker, oname.date, oname.levels):
        raise LobsterFormatError(op, None, f"does not belong with {mp.name}")
    start = day_start_ns(mname.date)
    messages = read_messages(mp, tick_size=tick_size, day_start_ns=start)
    book = read_orderbook(op, mname.levels, tick_size=tick_size)
    if len(messages) != len(book):
        shorter = mp if len(messages) < len(book) else op
        raise LobsterFormatError(
            shorter,
            min(len(messages), len(book)) + 1,
            f"row counts differ: {len(messages)} messages vs {len(book)} orderbook rows",
        )
    return LobsterDay(
        ticker=mname.ticker,
        date=mname.date,
        levels=mname.levels,
        tick_size=tick_size,
        day_start_ns=start,
        messages=messages,
        book=book,
        message_path=str(mp),
        orderbook_path=str(op),
    )


def find_message_files(root: str | Path) -> list[Path]:
    """Every LOBSTER message file under ``root``, sorted by path."""
    out = []
    for p in sorted(Path(root).rglob("*_message_*.csv*")):
        try:
            LobsterFileName.parse(p)
        except LobsterFormatError:
            continue
        out.append(p)
    return out


def message_file_in(path: str | Path) -> Path:
    """The LOBSTER message file ``path`` names: itself, or the one in a folder.

    A folder must hold exactly one message file (a LOBSTER download unpacks to one
    ticker/day/level per folder); anything else is a :class:`LobsterFormatError`
    saying what was found.
    """
    p = Path(path)
    if p.is_file():
        return p
    if not p.exists():
        raise LobsterFormatError(p, None, "no such file or folder")
    if not p.is_dir():
        raise LobsterFormatError(p, None, "not a file or folder")
    files = [f for f in sorted(p.glob("*_message_*.csv*")) if _NAME.match(f.name)]
    if not files:
        raise LobsterFormatError(
            p, None, "no LOBSTER message file (TICKER_DATE_START_END_message_L.csv[.gz]) here"
        )
    if len(files) > 1:
        names = ", ".join(f.name for f in files[:4]) + (", ..." if len(files) > 4 else "")
        raise LobsterFormatError(
            p, None, f"{len(files)} message files here ({names}); name one of them"
        )
    return files[0]

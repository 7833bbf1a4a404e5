"""The exchange process's configuration: one TOML file, every key optional.

With no file at all (embedded defaults) the exchange replays the shipped LOBSTER day
for AMZN and AAPL (data/lobster/AMZN_2012-06-21_5, AAPL_2012-06-21_1) at 10x real time, publishes market data
on ws://127.0.0.1:8765/md and accepts FIX 4.4 order entry on 127.0.0.1:9878 for the
daemon's default session (RLEXEC -> EXCHANGE), which is what the daemon's own
defaults connect to. Load with :func:`load_config` (TOML + ``RLEXEC__`` environment
overrides, errors naming the key).

Example::

    [pacing]
    mode = "accelerated"      # asap | realtime | accelerated
    speed = 60

    [source]
    kind = "lobster"          # lobster | synthetic | paper
    impact = "sqrt"           # sqrt | none | permanent | transient (the daemon moves the replay)
    [[source.lobster]]
    ticker = "AMZN"
    levels = 5
    start = "10:00:00"
    end = "11:00:00"

    [marketdata]
    port = 8765

    [fix]
    port = 9878
    [[fix.sessions]]
    sender_comp_id = "EXCHANGE"
    target_comp_id = "RLEXEC"
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from core.config import InstrumentSection, LoggingSection, Section, load
from gateways.fix.settings import AcceptorSettings, SessionSettings
from gateways.marketdata.lobster import LobsterFileName, message_file_in, orderbook_path_for

# Tickers with a LOBSTER day shipped in data/lobster, and the level count to replay.
SHIPPED_LOBSTER = {"AMZN": 5, "AAPL": 1}
DEFAULT_LOBSTER_DATE = "2012-06-21"

_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?$")
NS_PER_S = 1_000_000_000


def time_of_day_ns(text: str) -> int:
    """``"HH:MM[:SS[.fff]]"`` -> nanoseconds after midnight."""
    m = _TIME.match(text)
    if m is None:
        raise ValueError(f"time of day {text!r} is not HH:MM[:SS[.fff]]")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"time of day {text!r} is out of range")
    frac = m.group(4) or ".0"
    return (h * 3600 + mi * 60 + s) * NS_PER_S + int(frac[1:].ljust(9, "0"))


# ------------------------------------------------------------------- sources
class LobsterReplaySection(Section):
    """One LOBSTER day to replay for one symbol (the ticker must be an instrument).

    Name the data with ``folder`` (a LOBSTER folder holding one message/orderbook
    pair, any ticker) or ``message_file``; ``ticker``, ``date`` and ``levels`` then
    come from the file name, and when given they must agree with it (a level-10 file
    declared as ``levels = 5`` is an error, not a silent mix-up). Without either, the
    day ``<ticker>_<date>_<levels>`` is looked up under the data root (``data/lobster``
    or ``$RLEXEC_DATA_DIR/lobster``); ``levels`` may then be left out when the root
    holds one level count for that ticker and day.
    """

    ticker: str | None = None
    """The symbol (and the day's ticker); from the file name when a file is named."""
    date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    """The trading day, YYYY-MM-DD (none: from the file name, or 2012-06-21)."""
    levels: int | None = Field(default=None, ge=1, le=50)
    """The LOBSTER file's book levels (none: from the file name, or the one on disk)."""
    folder: Path | None = None
    """A LOBSTER folder holding one message/orderbook pair."""
    message_file: Path | None = None
    """The LOBSTER message file itself."""
    start: str = "09:30:00"
    """Time of day (exchange local) the replay window starts, HH:MM[:SS[.fff]]."""
    end: str = "16:00:00"
    """Time of day (exchange local) the replay window ends."""
    _file: Path | None = PrivateAttr(default=None)
    _name: LobsterFileName | None = PrivateAttr(default=None)

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        time_of_day_ns(v)
        return v

    @model_validator(mode="after")
    def _window(self) -> LobsterReplaySection:
        if time_of_day_ns(self.end) <= time_of_day_ns(self.start):
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if self.folder is not None and self.message_file is not None:
            raise ValueError("give folder or message_file, not both")
        if self.folder is not None:
            self._file = message_file_in(self.folder)
        elif self.message_file is not None:
            self._file = self.message_file
        elif self.ticker is None:
            raise ValueError("name the day: folder = ..., message_file = ... or ticker = ...")
        if self._file is not None:
            self._name = self._check_name(LobsterFileName.parse(self._file))
        return self

    def _check_name(self, name: LobsterFileName) -> LobsterFileName:
        if name.kind != "message":
            raise ValueError(f"{self._file} is an {name.kind} file; name the message file")
        declared = (
            ("ticker", self.ticker, name.ticker),
            ("date", self.date, name.date.isoformat()),
            ("levels", self.levels, name.levels),
        )
        for key, mine, theirs in declared:
            if mine is not None and mine != theirs:
                raise ValueError(
                    f"{key} = {mine!r} but {Path(str(self._file)).name} is {key} {theirs!r}"
                )
        return name

    @property
    def symbol(self) -> str:
        """The symbol served: ``ticker``, or the one the file name says."""
        if self._name is not None:
            return self._name.ticker
        assert self.ticker is not None  # checked by the validator
        return self.ticker

    @property
    def day(self) -> str:
        if self._name is not None:
            return self._name.date.isoformat()
        return self.date or DEFAULT_LOBSTER_DATE

    def message_path(self) -> Path:
        """The message file to replay (looked up under the data root when not named);
        raises ``FileNotFoundError`` naming where it looked."""
        if self._file is not None:
            return self._file
        from exchange.data import lobster_message_file

        levels = self.levels or SHIPPED_LOBSTER.get(self.symbol)
        return lobster_message_file(self.symbol, self.day, levels)


def _default_replays() -> tuple[LobsterReplaySection, ...]:
    return tuple(LobsterReplaySection(ticker=t, levels=n) for t, n in SHIPPED_LOBSTER.items())


class SyntheticSection(Section):
    """Synthetic order flow for one symbol (the calibrated zero-intelligence model of
    exchange.flow; calibrated parameters ship for AMZN and AAPL)."""

    symbol: str = "AMZN"
    """The symbol simulated (its calibrated parameters, or AMZN's)."""
    regime: Literal["calm", "volatile", "trending", "thin"] = "calm"
    """The market's character: order arrival rates, sizes and drift."""
    trend_sign: Literal[1, -1] = 1
    """regime trending: 1 upwards, -1 downwards."""
    seed: int = Field(default=0, ge=0)
    """Random seed: the same seed, the same market."""
    start: str = "09:30:00"
    """Start, on the calibration day's time axis (2012-06-21)."""
    end: str = "16:00:00"
    """End, on the calibration day's time axis."""

    @field_validator("start", "end")
    @classmethod
    def _time(cls, v: str) -> str:
        time_of_day_ns(v)
        return v

    @model_validator(mode="after")
    def _window(self) -> SyntheticSection:
        if time_of_day_ns(self.end) <= time_of_day_ns(self.start):
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class PaperSourceSection(Section):
    """Paper mode: the book comes from upstream; the daemon's orders never go there."""

    upstream: Literal["binance", "rlexec", "recording"] = "recording"
    """Where the book comes from: Binance live, another rlexec exchange, or a recording."""
    market: Literal["spot", "usdm", "coinm"] = "spot"
    """binance, recording: which Binance market."""
    symbols: dict[str, str] = Field(default_factory=dict)
    """Our symbol -> the upstream's, when they differ (e.g. BTC-USDT -> BTCUSDT)."""
    url: str = ""
    """binance: websocket base (empty: Binance's public endpoint); rlexec: ws://.../md."""
    rest_url: str = ""
    """binance: REST depth endpoint instead of Binance's (tests: a local server)."""
    files: tuple[Path, ...] = ()
    """recording: Binance capture files, read in order."""
    depth_stream: str = "depth@100ms"
    """binance: the depth-delta stream."""
    trade_stream: str = "trade"
    """binance: the trade stream."""
    book_ticker: bool = True
    """Cross-check the rebuilt book against bookTicker."""
    stale_after_s: float = Field(default=30.0, gt=0)
    """No upstream update for this long: the symbol is halted until it resyncs."""
    snapshot_retry_s: float = Field(default=1.0, gt=0)
    """Wait before asking again for a depth snapshot that failed."""
    queue_model: Literal["back", "pro_rata"] = "back"
    """Where our resting orders queue at a price: behind what was there, or pro rata."""

    @model_validator(mode="after")
    def _needs(self) -> PaperSourceSection:
        if self.upstream == "recording" and not self.files:
            raise ValueError("upstream 'recording' needs files = [...] (Binance capture files)")
        if self.upstream == "rlexec" and not self.url.startswith(("ws://", "wss://")):
            raise ValueError("upstream 'rlexec' needs url = 'ws://host:port/md'")
        return self


class SourceSection(Section):
    kind: Literal["lobster", "synthetic", "paper"] = "lobster"
    """What moves the market: a LOBSTER replay, synthetic flow, or an upstream (paper)."""
    lobster: tuple[LobsterReplaySection, ...] = Field(default_factory=_default_replays)
    """kind lobster: the days replayed, one per symbol (default: the shipped samples)."""
    impact: Literal["none", "permanent", "transient", "sqrt"] = "sqrt"
    """Market impact of the daemon's trades on the replayed market (exchange.replay):
    sqrt (square-root law), none, permanent (linear) or transient (per fill)."""
    synthetic: tuple[SyntheticSection, ...] = ()
    """kind synthetic: the flows, one per symbol."""
    paper: PaperSourceSection | None = None
    """kind paper: the upstream."""
    on_end: Literal["stay", "exit"] = "stay"
    """When a replay or recording ends: keep serving (orders still accepted against the
    final book) or exit with status 0."""

    @model_validator(mode="after")
    def _kind(self) -> SourceSection:
        if self.kind == "paper" and self.paper is None:
            raise ValueError("kind 'paper' needs a [source.paper] section")
        if self.kind == "synthetic" and not self.synthetic:
            raise ValueError("kind 'synthetic' needs at least one [[source.synthetic]] symbol")
        flows = [f.symbol for f in self.synthetic]
        if self.kind == "synthetic" and len(set(flows)) != len(flows):
            raise ValueError("synthetic: a symbol is listed twice")
        if self.kind == "lobster" and not self.lobster:
            raise ValueError("kind 'lobster' needs at least one [[source.lobster]] day")
        tickers = [d.symbol for d in self.lobster]
        dupes = sorted({t for t in tickers if tickers.count(t) > 1})
        if self.kind == "lobster" and dupes:
            raise ValueError(f"lobster: ticker(s) replayed twice: {', '.join(dupes)}")
        return self


# -------------------------------------------------------------------- service
class PacingSection(Section):
    mode: Literal["asap", "realtime", "accelerated", "lockstep"] = "accelerated"
    """How fast market time runs: as fast as possible, real time, speed x real time, or
    lockstep: only as far as the daemon following it allows (GET /clock;
    exchange.service.lockstep), so live and backtest compare record by record."""
    speed: float = Field(default=10.0, gt=0, le=1_000_000)
    """mode accelerated: market seconds per real second."""
    max_gap_s: float | None = Field(default=None, ge=0)
    """Silences in the data longer than this (event time) are cut to it (none: kept)."""
    step_s: float = Field(default=0.002, gt=0, le=1.0)
    """Paced simulations advance every step_s of wall time (market data at most that late)."""
    hold: bool = False
    """lockstep: start with the market held at the replay's start (POST /clock lets it run)."""
    max_step_s: float = Field(default=1.0, gt=0, le=3600)
    """lockstep: the longest step of market time between two ticks to the follower."""
    order_latency_us: int = Field(default=0, ge=0, le=10_000_000)
    """Order-entry latency each way the simulated venue models, in market time (lobster
    and synthetic sources). 0: orders are handled on arrival (paced modes, where the
    network's own latency is real); the training environment models 100."""

    @property
    def factor(self) -> float | None:
        """Speed factor for :class:`exchange.service.pacing.Pacer` (None: as fast as possible;
        lock-step sets the pace itself)."""
        if self.mode in ("asap", "lockstep"):
            return None
        return 1.0 if self.mode == "realtime" else self.speed


class MarketDataSection(Section):
    host: str = "127.0.0.1"
    """Address the market-data websocket (and /metrics) listens on."""
    port: int = Field(default=8765, ge=0, le=65535)
    """Port of the market-data websocket (0: any free port, for tests)."""
    path: str = Field(default="/md", pattern=r"^/[A-Za-z0-9/_-]*$")
    """The websocket's path."""
    queue_limit: int = Field(default=10_000, ge=10)
    """Events queued per client; a client further behind is dropped (it resyncs)."""
    max_batch: int = Field(default=100, ge=1)
    """Events per frame (client decode is fastest near 100)."""
    heartbeat_s: float = Field(default=1.0, gt=0)
    """A heartbeat frame after this much silence, so clients can tell quiet from dead."""
    send_timeout_s: float = Field(default=5.0, gt=0)
    """A client that takes longer than this to take a frame is dropped."""


def _default_sessions() -> tuple[SessionSettings, ...]:
    return (
        SessionSettings(
            sender_comp_id="EXCHANGE",
            target_comp_id="RLEXEC",
            store_dir=Path("var/exchange/fix"),  # sequence numbers survive a restart
        ),
    )


class FixSection(AcceptorSettings):
    """The FIX acceptor (order entry); the sessions are from the exchange's side
    (``sender_comp_id`` is the exchange, ``target_comp_id`` the client)."""

    enabled: bool = True
    """Accept FIX order entry (off: market data only)."""
    port: int = Field(default=9878, ge=0, lt=65536)
    """Port FIX clients connect to (0: any free port, for tests)."""
    cancel_on_disconnect: bool = False
    """Cancel a session's resting orders when it logs out or drops (the unsolicited
    cancels are delivered at its next logon)."""
    sessions: tuple[SessionSettings, ...] = Field(default_factory=_default_sessions, min_length=1)
    """The sessions clients may log on to (default: RLEXEC, its store under var/)."""


class AuditSection(Section):
    path: Path = Path("var/exchange/audit.jsonl")
    """The audit log: every order, report and fill, one JSON line each."""
    fsync: bool = False
    """Every line is flushed to the OS; fsync each one too when true (power loss)."""


class RestartSection(Section):
    """What a restarted exchange does with the orders it held (exchange.service.restart)."""

    resting_orders: Literal["keep", "cancel"] = "keep"
    """keep: resting orders are put back with their fills and queue position, as a real
    venue keeps them; cancel: each is cancelled with an unsolicited ExecutionReport."""
    state_path: Path | None = None
    """Where the market had got to and where orders queued (none: beside the audit log)."""
    checkpoint_s: float = Field(default=0.5, gt=0, le=60)
    """How often that state is written, in seconds of wall time."""


class EngineSection(Section):
    price_band_bps: int | None = Field(default=1000, gt=0)
    """Orders priced further than this from the reference price are rejected (none: any)."""
    stp: Literal["cancel_newest", "cancel_oldest"] = "cancel_newest"
    """Self-trade prevention: which of two crossing orders of one session is cancelled."""


def _source_symbols(source: dict[str, Any]) -> list[str]:
    """The symbols a raw [source] section replays or simulates (empty when a day or flow
    does not validate: its own error is reported where it belongs)."""
    from pydantic import ValidationError

    kind = source.get("kind", "lobster")
    entries = source.get(kind, [])
    model = LobsterReplaySection if kind == "lobster" else SyntheticSection
    if not isinstance(entries, list | tuple):
        return []
    try:
        return [model.model_validate(e).symbol for e in entries]
    except (ValidationError, TypeError):
        return []


def _default_instruments() -> tuple[InstrumentSection, ...]:
    # The daemon's default instruments, so both run together with no config at all.
    return (InstrumentSection(symbol="AMZN"), InstrumentSection(symbol="AAPL"))


class ExchangeConfig(Section):
    logging: LoggingSection = LoggingSection()
    """Log format and level."""
    instruments: tuple[InstrumentSection, ...] = Field(default_factory=_default_instruments)
    """The instruments listed (default: the daemon's, AMZN and AAPL)."""
    source: SourceSection = SourceSection()
    """What moves the market."""
    pacing: PacingSection = PacingSection()
    """How fast market time runs."""
    marketdata: MarketDataSection = MarketDataSection()
    """The market-data websocket."""
    fix: FixSection = FixSection()
    """FIX order entry (the acceptor)."""
    audit: AuditSection = AuditSection()
    """The audit log."""
    restart: RestartSection = RestartSection()
    """What a restart does with the orders held."""
    engine: EngineSection = EngineSection()
    """The matching engine's own rules."""

    @model_validator(mode="before")
    @classmethod
    def _defaults_follow_each_other(cls, data: Any) -> Any:
        """Listing instruments without [[source.lobster]] replays their days (the shipped
        ones, or ``<ticker>_2012-06-21_*`` under the data root), and listing days without
        [[instruments]] lists their symbols: the shipped AMZN/AAPL defaults never leak
        into a config that names other data."""
        if not isinstance(data, dict):
            return data
        source = data.get("source", {})
        if not isinstance(source, dict):
            return data
        listed = data.get("instruments")
        if isinstance(listed, list | tuple) and "lobster" not in source:
            days: list[dict[str, Any]] = []
            for item in listed:
                symbol = item.get("symbol") if isinstance(item, dict) else None
                if isinstance(symbol, str) and all(d["ticker"] != symbol for d in days):
                    day: dict[str, Any] = {"ticker": symbol}
                    if symbol in SHIPPED_LOBSTER:
                        day["levels"] = SHIPPED_LOBSTER[symbol]
                    days.append(day)
            if days:
                data = {**data, "source": {**source, "lobster": days}}
        elif listed is None and source.get("kind", "lobster") in ("lobster", "synthetic"):
            symbols = _source_symbols(source)
            if symbols:
                data = {**data, "instruments": [{"symbol": s} for s in symbols]}
        return data

    @model_validator(mode="after")
    def _symbols(self) -> ExchangeConfig:
        symbols = [i.symbol for i in self.instruments]
        if not symbols:
            raise ValueError("instruments: at least one instrument is required")
        dupes = sorted({s for s in symbols if symbols.count(s) > 1})
        if dupes:
            raise ValueError(f"instruments: symbol(s) listed twice: {', '.join(dupes)}")
        if self.source.kind == "lobster":
            for day in self.source.lobster:
                if day.symbol not in symbols:
                    raise ValueError(
                        f"source.lobster: ticker {day.symbol} is not among the instruments "
                        f"({', '.join(symbols)})"
                    )
        elif self.source.kind == "synthetic":
            for flow in self.source.synthetic:
                if flow.symbol not in symbols:
                    raise ValueError(
                        f"source.synthetic: symbol {flow.symbol} is not among the instruments "
                        f"({', '.join(symbols)})"
                    )
        elif self.source.paper is not None:
            unknown = sorted(set(self.source.paper.symbols) - set(symbols))
            if unknown:
                raise ValueError(
                    f"source.paper.symbols: {', '.join(unknown)} not among the instruments"
                )
        return self


def data_problems(cfg: ExchangeConfig) -> list[str]:
    """What the exchange would fail to find at start, checked without loading it: every
    replayed day's message and orderbook file, every recording file. One line each,
    naming the key."""
    problems = []
    if cfg.source.kind == "lobster":
        for n, day in enumerate(cfg.source.lobster):
            try:
                path = day.message_path()
            except FileNotFoundError as exc:
                problems.append(f"source.lobster.{n} ({day.symbol}): {exc}")
                continue
            for f in (path, orderbook_path_for(path)):
                if not f.is_file():
                    problems.append(f"source.lobster.{n} ({day.symbol}): no file {f}")
    elif cfg.source.paper is not None and cfg.source.kind == "paper":
        for n, f in enumerate(cfg.source.paper.files):
            if cfg.source.paper.upstream == "recording" and not f.is_file():
                problems.append(f"source.paper.files.{n}: no file {f}")
    return problems


def load_config(
    path: str | os.PathLike[str] | None, env: dict[str, str] | None = None
) -> ExchangeConfig:
    """TOML file (or embedded defaults for None) + RLEXEC__ overrides, validated."""
    return load(ExchangeConfig, path, env)

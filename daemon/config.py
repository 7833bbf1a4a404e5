"""The daemon's configuration: one TOML file, every key optional (embedded defaults).

Each section is frozen once loaded; nothing at run time changes configuration. Risk
limits are further capped in code by :mod:`risk.limits` (the file may only tighten).
Secrets (Redis password, FIX password, the command HMAC key) may come from files or
environment variables so they never sit in the config file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from core.config import InstrumentSection, LoggingSection, Section
from gateways.fix.settings import InitiatorSettings, SessionSettings
from risk.limits import RiskLimitsConfig


class NodeSection(Section):
    id: str = Field(default="rlexec-1", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    data_dir: Path = Path("var")  # journal, FIX store, kill-switch state
    # After start: one full GC, then freeze what was loaded (torch, the policy), so a
    # later full collection does not stop the loop for ~150 ms (core/heap.py).
    freeze_heap: bool = True
    # Never let the event loop sleep: tick to order ~35% lower here, for a whole core
    # (daemon/busy_poll.py). Give the daemon a core of its own before turning it on.
    busy_poll: bool = False


class HttpSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class RedisSection(Section):
    enabled: bool = True
    url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^(redis|rediss|unix)://")
    username: str = ""
    password: SecretStr = SecretStr("")
    command_stream: str = "rlexec:commands"
    reply_stream: str = "rlexec:replies"
    group: str = "rlexec"
    state_key: str = "rlexec:state"
    events_channel: str = "rlexec:events"
    # TLS: use a rediss:// url; the CA that signed the server's certificate, and a client
    # certificate when the server asks for one (tls-auth-clients yes).
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls(self) -> RedisSection:
        tls_files = (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        if any(f is not None for f in tls_files) and not self.url.startswith("rediss://"):
            raise ValueError("tls_* files need a rediss:// url (TLS)")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self


class ControlSection(Section):
    # HMAC-SHA256 key for commands that loosen safety (reset_kill, load_policy):
    # a file holding >= 32 bytes, or the key itself (e.g. from RLEXEC__CONTROL__HMAC_KEY).
    hmac_key_file: Path | None = None
    hmac_key: SecretStr = SecretStr("")
    # Key rotation: the key being retired, accepted as well until it is removed here
    # (start with both, move every operator to the new key, restart with the new alone).
    previous_hmac_key_file: Path | None = None
    previous_hmac_key: SecretStr = SecretStr("")
    max_age_s: float = Field(default=60.0, gt=0, le=600)

    def key(self) -> bytes | None:
        return _key(self.hmac_key, self.hmac_key_file)

    def previous_key(self) -> bytes | None:
        return _key(self.previous_hmac_key, self.previous_hmac_key_file)


def _key(value: SecretStr, path: Path | None) -> bytes | None:
    if value.get_secret_value():
        return value.get_secret_value().encode()
    if path is not None:
        return path.read_bytes().strip()
    return None


class FixSection(InitiatorSettings):
    """The FIX initiator (gateways.fix.settings.InitiatorSettings) with defaults that
    match the simulated exchange's, so a partial ``[fix]`` table is enough."""

    port: int = Field(default=9878, gt=0, lt=65536)
    # fsync "batched": every message reaches the OS before the socket (survives kill -9,
    # like the journal) and a background thread fsyncs every few ms against power loss;
    # "always" would put a disk flush (0.2-5 ms here) on every order's path.
    session: SessionSettings = SessionSettings.model_validate(
        {"sender_comp_id": "RLEXEC", "target_comp_id": "EXCHANGE", "fsync": "batched"}
    )
    reconnect_min_s: float = Field(default=0.2, gt=0)
    reconnect_max_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _session_defaults(cls, data: Any) -> Any:
        """A partial ``[fix.session]`` (or one RLEXEC__FIX__SESSION__X variable) keeps the
        other session defaults instead of demanding every CompID again."""
        if isinstance(data, dict) and isinstance(data.get("session"), dict):
            defaults = {
                "sender_comp_id": "RLEXEC",
                "target_comp_id": "EXCHANGE",
                "fsync": "batched",
            }
            data = {**data, "session": {**defaults, **data["session"]}}
        return data


class MarketDataSection(Section):
    url: str = Field(default="ws://127.0.0.1:8765/md", pattern=r"^wss?://")
    stale_after_s: float = Field(default=2.0, gt=0)


class ClockSection(Section):
    # wall: real time. scaled: the venue replays at ``speed`` x real time and the node
    # follows its clock (synced forward from market-data timestamps). lockstep: a
    # simulated clock the exchange moves step by step, never past the node's next
    # decision (exchange [pacing] mode = "lockstep"; daemon.lockstep).
    mode: Literal["wall", "scaled", "lockstep"] = "wall"
    speed: float = Field(default=1.0, gt=0, le=10_000)
    # lockstep: the exchange's clock endpoint; empty: the market-data URL's host, /clock
    lockstep_url: str = Field(default="", pattern=r"^(wss?://.*)?$")
    # Seconds to add to UTC to get the venue's local time of day (features use it):
    # 0 for the simulated venue, whose timestamps read local time as UTC.
    utc_offset_s: int = Field(default=0, ge=-14 * 3600, le=14 * 3600)


class PolicySection(Section):
    path: Path | None = None  # None: the committed policy shipped with rlexec
    sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")


class ExecutionSection(Section):
    # Decisions: on a timer (the policy's own decision interval unless set here), or
    # additionally on every book update of the parent's symbol.
    decide_on: Literal["timer", "book"] = "timer"
    decision_interval_s: float | None = Field(default=None, gt=0, le=600)
    # decide_on = "book": a decision whose frame arrived longer ago than this when its
    # turn comes (the loop is behind: other symbols, other parents, a busy CPU) is
    # skipped, and the parent decides on its symbol's next frame instead of sending an
    # order priced off an old book. A parent skipped 3 frames running decides anyway.
    # 0: never skip. 5 ms is a sixth of the gap between one symbol's frames at 10 x the
    # busiest LOBSTER minute (~30 ms).
    max_decision_lag_ms: float = Field(default=5.0, ge=0)
    completion: Literal["cross", "stop"] = "cross"
    sweep_interval_s: float = Field(default=1.0, gt=0)
    sweep_max_s: float = Field(default=300.0, gt=0)
    cancel_on_shutdown: bool = True
    ack_timeout_s: float = Field(default=2.0, gt=0)
    recovery_timeout_s: float = Field(default=10.0, gt=0)
    shutdown_timeout_s: float = Field(default=10.0, gt=0)


class JournalSection(Section):
    fsync: Literal["os", "always"] = "os"


class DaemonConfig(Section):
    node: NodeSection = NodeSection()
    logging: LoggingSection = LoggingSection()
    http: HttpSection = HttpSection()
    redis: RedisSection = RedisSection()
    control: ControlSection = ControlSection()
    fix: FixSection = FixSection()
    marketdata: MarketDataSection = MarketDataSection()
    clock: ClockSection = ClockSection()
    policy: PolicySection = PolicySection()
    execution: ExecutionSection = ExecutionSection()
    journal: JournalSection = JournalSection()
    # Nothing trades unless allowed: the embedded default allows the demo's symbols.
    risk: RiskLimitsConfig = Field(
        default_factory=lambda: RiskLimitsConfig(allowed_symbols=("AMZN", "AAPL"))
    )
    instruments: tuple[InstrumentSection, ...] = (
        InstrumentSection(symbol="AMZN"),
        InstrumentSection(symbol="AAPL"),
    )

    @model_validator(mode="after")
    def _consistent(self) -> DaemonConfig:
        symbols = [i.symbol for i in self.instruments]
        dupes = sorted({s for s in symbols if symbols.count(s) > 1})
        if dupes:
            raise ValueError(f"instruments: symbol(s) listed twice: {', '.join(dupes)}")
        if not symbols:
            raise ValueError("instruments: at least one instrument is required")
        return self

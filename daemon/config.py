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

from core.config import InstrumentSection, LoggingSection, ReconnectSection, Section
from gateways.fix.settings import InitiatorSettings, SessionSettings
from policies.estimation import MAX_LINE
from risk.limits import RiskLimitsConfig


class NodeSection(Section):
    id: str = Field(default="rlexec-1", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    """This node's name: the prefix of its ClOrdIDs, its Redis consumer, its log field."""
    data_dir: Path = Path("var")
    """Where the journal, the FIX store and log, and the kill-switch state live."""
    freeze_heap: bool = True
    """After start, one full GC, then freeze what was loaded (torch, the policy), so a
    later full collection does not stop the loop for ~150 ms (core/heap.py)."""
    busy_poll: bool = False
    """Never let the event loop sleep: tick to order ~35 % lower, for a whole core
    (daemon/busy_poll.py). Give the daemon a core of its own before turning it on."""


class HttpSection(Section):
    host: str = "127.0.0.1"
    """Address /metrics, /healthz and /readyz listen on."""
    port: int = Field(default=9464, ge=0, le=65535)
    """Port of /metrics, /healthz and /readyz (0: any free port, for tests)."""


class RedisSection(ReconnectSection):
    enabled: bool = True
    """Take commands from Redis and post state there (off: trading needs no Redis)."""
    url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^(redis|rediss|unix)://")
    """The Redis server; rediss:// for TLS."""
    username: str = ""
    """Redis ACL user (empty: the default user)."""
    password: SecretStr = SecretStr("")
    """Redis password; better from RLEXEC__REDIS__PASSWORD than in the file."""
    command_stream: str = "rlexec:commands"
    """Stream the operator's commands arrive on."""
    reply_stream: str = "rlexec:replies"
    """Stream each command's reply is written to."""
    group: str = "rlexec"
    """Consumer group on the command stream (delivery at least once, acked after reply)."""
    state_key: str = "rlexec:state"
    """Key holding the node's latest status snapshot (rewritten every second)."""
    events_channel: str = "rlexec:events"
    """Pub/sub channel of fills, parent states and kill-switch changes."""
    tls_ca_file: Path | None = None
    """TLS (rediss:// url): the CA that signed the server's certificate."""
    tls_cert_file: Path | None = None
    """TLS: our client certificate, when the server asks for one (tls-auth-clients yes)."""
    tls_key_file: Path | None = None
    """TLS: the key of tls_cert_file."""

    @model_validator(mode="after")
    def _tls(self) -> RedisSection:
        tls_files = (self.tls_ca_file, self.tls_cert_file, self.tls_key_file)
        if any(f is not None for f in tls_files) and not self.url.startswith("rediss://"):
            raise ValueError("tls_* files need a rediss:// url (TLS)")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        return self


class ControlSection(Section):
    hmac_key_file: Path | None = None
    """File holding the HMAC-SHA256 key (>= 32 bytes) that signs commands loosening safety
    (reset_kill, load_policy); without a key they are refused."""
    hmac_key: SecretStr = SecretStr("")
    """The key itself instead of a file (e.g. from RLEXEC__CONTROL__HMAC_KEY)."""
    previous_hmac_key_file: Path | None = None
    """Key rotation: the key being retired, accepted as well until removed here (start
    with both, move every operator to the new key, restart with the new alone)."""
    previous_hmac_key: SecretStr = SecretStr("")
    """The retiring key itself instead of a file."""
    max_age_s: float = Field(default=60.0, gt=0, le=600)
    """How old (wall clock) a signed command may be and still be accepted."""

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
    """The exchange's FIX order-entry port."""
    session: SessionSettings = SessionSettings.model_validate(
        {"sender_comp_id": "RLEXEC", "target_comp_id": "EXCHANGE", "fsync": "batched"}
    )
    """The FIX session. fsync "batched": every message reaches the OS before the socket
    (survives kill -9, like the journal) and a background thread fsyncs every few ms
    against power loss; "always" puts a disk flush (0.2-5 ms) on every order's path."""
    reconnect_min_s: float = Field(default=0.2, gt=0)
    """First wait before reconnecting after the session is lost (then doubling; core/backoff.py)."""
    reconnect_max_s: float = Field(default=10.0, gt=0)
    """Longest wait between reconnect attempts."""

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


class MarketDataSection(ReconnectSection):
    url: str = Field(default="ws://127.0.0.1:8765/md", pattern=r"^wss?://")
    """The exchange's market-data websocket."""
    stale_after_s: float = Field(default=2.0, gt=0)
    """A symbol with no frame for this long (wall clock) is stale: its md halt is raised."""


class ClockSection(Section):
    mode: Literal["wall", "scaled", "lockstep"] = "wall"
    """wall: real time. scaled: the venue replays at ``speed`` x real time and the node
    follows its clock (synced forward from market-data timestamps). lockstep: a simulated
    clock the exchange moves step by step, never past the node's next decision (exchange
    [pacing] mode = "lockstep"; daemon.lockstep)."""
    speed: float = Field(default=1.0, gt=0, le=10_000)
    """mode scaled: how many market seconds pass per real second."""
    lockstep_url: str = Field(default="", pattern=r"^(wss?://.*)?$")
    """mode lockstep: the exchange's clock endpoint (empty: the market-data URL's host,
    /clock)."""
    utc_offset_s: int = Field(default=0, ge=-14 * 3600, le=14 * 3600)
    """Seconds to add to UTC for the venue's local time of day (a feature): 0 for the
    simulated venue, whose timestamps read local time as UTC."""


class PolicySection(Section):
    path: Path | None = None
    """The policy artifact directory (none: the committed policy shipped with rlexec)."""
    sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    """The artifact digest to insist on (empty: verify its own checksums only)."""


class ExecutionSection(Section):
    decide_on: Literal["timer", "book"] = "timer"
    """Decide on a timer, or also on every book frame of the parent's symbol."""
    decision_interval_s: float | None = Field(default=None, gt=0, le=600)
    """The timer's interval (none: the policy's own, from its artifact)."""
    max_decision_lag_ms: float = Field(default=5.0, ge=0)
    """decide_on book: a decision whose frame arrived longer ago than this when its turn
    comes (the loop is behind) is skipped, the parent decides on the next frame instead
    of pricing off an old book; 3 skips running and it decides anyway. 0: never skip.
    5 ms is a sixth of the gap between one symbol's frames at 10 x the busiest LOBSTER
    minute (~30 ms)."""
    catchup_tolerance: float | None = Field(default=None, ge=0, lt=1, allow_inf_nan=False)
    """algo catchup (passive at the touch with catch-up crossing): how far a parent may
    fall behind its line (straight unless catchup_urgency), as a share of the parent
    (0 <= t < 1), before what is behind beyond it crosses the spread; it shrinks to 0 at
    the end time. 0 is the TWAP tactic; larger waits longer for passive fills, and is
    cheaper only where the market comes to the order. Unset: the values the loaded
    artifact's training tuned (manifest baselines.passive_catchup.tolerance, with its
    urgency); without one (the committed ppo_amzn has none) catchup is refused, as a
    tolerance tuned on one ticker and hour is no default for another. Issue 15's gate
    runs tuned 0.20 (AMZN and AAPL, 09:30-12:00) and 0.30 (AMZN alone;
    bench/results/issue15/*manifest.json). Read once at start: a load_policy never
    changes it, and a parent keeps the value it started with."""
    catchup_urgency: float | None = Field(default=None, ge=0, le=MAX_LINE, allow_inf_nan=False)
    """algo catchup: the line the tolerance is measured against, as a dimensionless kappa
    T: 0 is the straight line; above 0 the Almgren-Chriss shape at that kappa T, front-
    loaded (2 has 69 % done half way), the same on every ticker and horizon (training
    tunes it from 0, 1, 2, 3, 5). Why: along a straight line what the tolerance saves is
    paid in timing risk (the tactic lags on the orders whose market runs away); a
    front-loaded line leaves less inventory exposed while it lags. Only with
    catchup_tolerance, as the two are tuned together (set without it: refused at load);
    unset with it: the straight line. With neither, both come from the artifact
    (baselines.passive_catchup.urgency; absent: the straight line). Read once at start,
    like the tolerance."""
    completion: Literal["cross", "stop"] = "cross"
    """At the end time: cross the spread for what is left (repeatedly), or stop."""
    sweep_interval_s: float = Field(default=1.0, gt=0)
    """completion cross: seconds between sweeps while the book refills."""
    sweep_max_s: float = Field(default=300.0, gt=0)
    """completion cross: how long to keep sweeping before the parent expires unfilled."""
    cancel_on_shutdown: bool = True
    """On SIGTERM, cancel every resting child before logging out."""
    ack_timeout_s: float = Field(default=2.0, gt=0)
    """A request unanswered this long (monotonic clock) halts its symbol (ack_overdue)
    and its order is asked about."""
    recovery_timeout_s: float = Field(default=10.0, gt=0)
    """How long one reconciliation round waits for the venue's status answers."""
    shutdown_timeout_s: float = Field(default=10.0, gt=0)
    """Bound on a clean shutdown: half for cancelling, half for logging out."""

    @model_validator(mode="after")
    def _catchup_pair(self) -> ExecutionSection:
        if self.catchup_urgency is not None and self.catchup_tolerance is None:
            raise ValueError(
                "catchup_urgency is set without catchup_tolerance: the two are tuned as a "
                "pair, so set both (or neither, to run the artifact's tuned pair)"
            )
        return self


class JournalSection(Section):
    fsync: Literal["os", "always"] = "os"
    """os: each record reaches the OS before it is acted on (survives kill -9, ~15 us);
    always: fsync'd too (survives power loss, ~0.2 ms)."""


class SignalsSection(Section):
    enabled: bool = True
    """Run the signal, volatility and regime models and the tighten-only risk posture
    (docs/signals.md). Off: the configured risk limits alone apply, no model is loaded,
    and a missing or corrupt model artifact does not stop the node from starting
    (decisions are still recorded, without signal and regime, if ``recording``)."""
    artifact_dir: Path | None = None
    """Folder holding the short_horizon, volatility and regime artifacts (none: the
    committed ones shipped with rlexec, signals/artifacts). An artifact that is missing
    or fails its checksums refuses the start, saying which."""
    assess_every_s: float = Field(default=1.0, gt=0, le=60)
    """How often (real seconds, the event loop's monotonic clock) each symbol's posture
    is assessed: once a second is how the thresholds were set (docs/signals.md)."""
    recording: bool = True
    """Record every policy decision (observation, action, fills, reward) as daily Parquet
    parts for retraining. A recording that cannot be written is logged, counted
    (rlexec_recorder_errors_total) and alerted on; trading carries on (it is not an
    order-state record: the journal is)."""
    recording_dir: Path | None = None
    """Where the decision recordings go (none: <node.data_dir>/recordings)."""
    recording_flush_s: float = Field(default=60.0, gt=0, le=3600)
    """Buffered decisions are written as a new Parquet part this often (and at stop). A
    crash loses at most this long of recordings (never an order: the journal has those);
    each part costs ~4.5 kB and a file, so much shorter means many tiny parts."""


class DaemonConfig(Section):
    node: NodeSection = NodeSection()
    """This node: its name, data directory, run-time tuning."""
    logging: LoggingSection = LoggingSection()
    """Log format and level."""
    http: HttpSection = HttpSection()
    """The metrics and health endpoints."""
    redis: RedisSection = RedisSection()
    """The control plane: commands in, replies, state and events out."""
    control: ControlSection = ControlSection()
    """Keys that sign commands loosening safety."""
    fix: FixSection = FixSection()
    """The FIX session to the venue (initiator)."""
    marketdata: MarketDataSection = MarketDataSection()
    """The venue's market-data feed."""
    clock: ClockSection = ClockSection()
    """Which clock the node runs on."""
    policy: PolicySection = PolicySection()
    """The learned policy artifact."""
    execution: ExecutionSection = ExecutionSection()
    """How parents decide, complete, and how long answers may take."""
    journal: JournalSection = JournalSection()
    """The write-ahead journal."""
    signals: SignalsSection = SignalsSection()
    """The models around the policy: risk posture, decision recordings."""
    risk: RiskLimitsConfig = Field(
        default_factory=lambda: RiskLimitsConfig(allowed_symbols=("AMZN", "AAPL"))
    )
    """Pre-trade risk limits, capped in code (risk/limits.py): nothing trades unless its
    symbol is allowed; the embedded default allows the demo's symbols."""
    instruments: tuple[InstrumentSection, ...] = (
        InstrumentSection(symbol="AMZN"),
        InstrumentSection(symbol="AAPL"),
    )
    """The instruments this node trades: tick and lot grid, size limits."""

    @model_validator(mode="after")
    def _consistent(self) -> DaemonConfig:
        symbols = [i.symbol for i in self.instruments]
        dupes = sorted({s for s in symbols if symbols.count(s) > 1})
        if dupes:
            raise ValueError(f"instruments: symbol(s) listed twice: {', '.join(dupes)}")
        if not symbols:
            raise ValueError("instruments: at least one instrument is required")
        return self

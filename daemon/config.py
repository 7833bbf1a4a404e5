"""The daemon's configuration: one TOML file, every key optional (embedded defaults).

Each section is frozen once loaded; nothing at run time changes configuration. Keys
that loosen safety (risk limits) are further capped in code by :mod:`risk`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from core.config import InstrumentSection, LoggingSection, Section


class NodeSection(Section):
    id: str = Field(default="rlexec-1", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    data_dir: Path = Path("var")  # journal, FIX store, kill-switch state


class HttpSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class RedisSection(Section):
    url: str = Field(default="redis://127.0.0.1:6379/0", pattern=r"^(redis|rediss|unix)://")
    username: str = ""
    password: str = ""
    command_stream: str = "rlexec:commands"
    reply_stream: str = "rlexec:replies"


class FixSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9878, ge=1, le=65535)
    begin_string: Literal["FIX.4.2", "FIX.4.4"] = "FIX.4.4"
    sender_comp_id: str = Field(default="RLEXEC", min_length=1)
    target_comp_id: str = Field(default="EXCHANGE", min_length=1)
    heartbeat_s: int = Field(default=30, ge=1, le=300)
    username: str = ""
    password: str = ""


class MarketDataSection(Section):
    url: str = Field(default="ws://127.0.0.1:8765/md", pattern=r"^wss?://")
    stale_after_s: float = Field(default=2.0, gt=0)


class PolicySection(Section):
    path: Path | None = None  # None: the committed policy shipped with rlexec
    sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")


class ExecutionSection(Section):
    decision_interval_s: float = Field(default=1.0, gt=0, le=60)
    completion: Literal["cross", "stop"] = "cross"
    cancel_on_shutdown: bool = True
    ack_timeout_s: float = Field(default=2.0, gt=0)


def _default_instruments() -> tuple[InstrumentSection, ...]:
    return (InstrumentSection(symbol="AMZN"), InstrumentSection(symbol="AAPL"))


class DaemonConfig(Section):
    node: NodeSection = NodeSection()
    logging: LoggingSection = LoggingSection()
    http: HttpSection = HttpSection()
    redis: RedisSection = RedisSection()
    fix: FixSection = FixSection()
    marketdata: MarketDataSection = MarketDataSection()
    policy: PolicySection = PolicySection()
    execution: ExecutionSection = ExecutionSection()
    instruments: tuple[InstrumentSection, ...] = Field(default_factory=_default_instruments)

    @model_validator(mode="after")
    def _unique_symbols(self) -> DaemonConfig:
        symbols = [i.symbol for i in self.instruments]
        dupes = sorted({s for s in symbols if symbols.count(s) > 1})
        if dupes:
            raise ValueError(f"instruments: symbol(s) listed twice: {', '.join(dupes)}")
        if not symbols:
            raise ValueError("instruments: at least one instrument is required")
        return self

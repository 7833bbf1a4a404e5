"""Session, initiator and acceptor settings, embeddable in the daemon's and exchange's
config files (each is a :class:`core.config.Section`: unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from core.config import Section
from gateways.fix.store import FsyncPolicy

BeginString = Literal["FIX.4.2", "FIX.4.4"]


def _comp_id(v: str) -> str:
    if not v.isascii() or not all(c.isalnum() or c in "._-" for c in v):
        raise ValueError("CompID may only contain ASCII letters, digits and . _ -")
    return v


class SessionSettings(Section):
    """One FIX session, from our side: we are ``sender_comp_id``, the peer ``target_comp_id``."""

    begin_string: BeginString = "FIX.4.4"
    sender_comp_id: str = Field(min_length=1, max_length=64)
    target_comp_id: str = Field(min_length=1, max_length=64)
    heartbeat_interval_s: int = Field(default=30, gt=0, le=3600)
    # Initiator: send ResetSeqNumFlag=Y on every Logon (start each connection at 1).
    reset_on_logon: bool = False
    # Initiator: credentials sent on Logon. Acceptor: credentials required on Logon.
    username: str | None = None
    password: SecretStr | None = None
    # Where sequence numbers and sent messages live; None keeps them in memory only
    # (simulations and tests): a restart then starts both sides at 1.
    store_dir: Path | None = None
    fsync: FsyncPolicy = FsyncPolicy.ALWAYS
    fsync_interval_ms: float = Field(default=5.0, gt=0)
    # Where the per-session FIX message log and event log go; None disables them.
    log_dir: Path | None = None
    logon_timeout_s: float = Field(default=10.0, gt=0)
    logout_timeout_s: float = Field(default=10.0, gt=0)
    # SendingTime(52) may differ from our clock by at most this much (0 disables the check).
    max_latency_s: float = Field(default=120.0, ge=0)
    max_message_size: int = Field(default=65536, ge=256)
    # Application MsgTypes this side accepts; others get a BusinessMessageReject.
    # None means the role's default (acceptor: orders in; initiator: reports in).
    app_msg_types: tuple[str, ...] | None = None

    @field_validator("sender_comp_id", "target_comp_id")
    @classmethod
    def _comp_ids(cls, v: str) -> str:
        return _comp_id(v)

    @property
    def session_id(self) -> str:
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"

    @property
    def file_stem(self) -> str:
        return f"{self.begin_string}-{self.sender_comp_id}-{self.target_comp_id}"


class InitiatorSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(gt=0, lt=65536)
    session: SessionSettings
    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Reconnect delay: reconnect_min_s * 2**attempt, capped, times (1 +- jitter).
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    reconnect_jitter: float = Field(default=0.2, ge=0, lt=1)

    @model_validator(mode="after")
    def _backoff_order(self) -> InitiatorSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class AcceptorSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, lt=65536)  # 0: an ephemeral port (tests)
    sessions: tuple[SessionSettings, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_sessions(self) -> AcceptorSettings:
        ids = [s.session_id for s in self.sessions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate sessions: {', '.join(dupes)}")
        return self

"""Session, initiator and acceptor settings, embeddable in the daemon's and exchange's
config files (each is a :class:`core.config.Section`: unknown keys are errors)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from core.config import ReconnectSection, Section
from gateways.fix import dictionary as dd
from gateways.fix.store import FsyncPolicy

BeginString = Literal["FIX.4.0", "FIX.4.1", "FIX.4.2", "FIX.4.3", "FIX.4.4", "FIXT.1.1"]
AppVersion = Literal["FIX.5.0", "FIX.5.0SP1", "FIX.5.0SP2"]

# Messages that put an order on the market or change one: resent after a gap only while
# younger than max_order_resend_age_s (NewOrderSingle, OrderCancelReplaceRequest,
# NewOrderList, NewOrderCross, CrossOrderCancelReplaceRequest, NewOrderMultileg,
# MultilegOrderCancelReplace).
ORDER_ENTRY_MSG_TYPES = ("D", "G", "E", "s", "t", "AB", "AC")


def _comp_id(v: str) -> str:
    if not v.isascii() or not all(c.isalnum() or c in "._-" for c in v):
        raise ValueError("CompID may only contain ASCII letters, digits and . _ -")
    return v


class SessionSettings(Section):
    """One FIX session, from our side: we are ``sender_comp_id``, the peer ``target_comp_id``."""

    begin_string: BeginString = "FIX.4.4"
    """The FIX version (BeginString(8)); FIXT.1.1 for FIX 5.0 and its service packs."""
    sender_comp_id: str = Field(min_length=1, max_length=64)
    """Our CompID (SenderCompID(49) of what we send)."""
    target_comp_id: str = Field(min_length=1, max_length=64)
    """The peer's CompID (TargetCompID(56) of what we send)."""
    heartbeat_interval_s: int = Field(default=30, gt=0, le=3600)
    """HeartBtInt(108): seconds of silence before a Heartbeat, then a TestRequest."""
    default_appl_ver_id: AppVersion | None = None
    """FIXT.1.1 only: the application version of this session (DefaultApplVerID(1137))."""
    data_dictionary: Path | None = None
    """A QuickFIX XML data dictionary to validate with instead of the shipped one
    (FIXT.1.1: the transport's)."""
    app_data_dictionary: Path | None = None
    """FIXT.1.1: the application's data dictionary instead of the shipped one."""
    validate_user_defined_fields: bool = True
    """Tags from 5000 up that the dictionary does not define: rejected (Invalid tag
    number) when true, passed through unchecked when false."""
    reset_on_logon: bool = False
    """Sequence numbers back to 1 on every Logon (initiator: sends ResetSeqNumFlag=Y)."""
    reset_on_logout: bool = False
    """Sequence numbers back to 1 after a Logout handshake completes."""
    reset_on_disconnect: bool = False
    """Sequence numbers back to 1 whenever the connection ends."""
    refresh_on_logon: bool = False
    """Re-read sequence numbers from the store before each logon (a standby process
    taking over a session whose store another process wrote)."""
    max_order_resend_age_s: float = Field(default=5.0, ge=0)
    """On a ResendRequest, order-entry messages older than this are gap-filled instead of
    resent (an order decided on old prices must not reach the market late); the
    application hears of each (NotResent). 0: never resent."""
    order_entry_msg_types: tuple[str, ...] = ORDER_ENTRY_MSG_TYPES
    """The MsgTypes max_order_resend_age_s applies to (orders and their amendments)."""
    username: str | None = None
    """Initiator: the Username(553) sent on Logon. Acceptor: the one required."""
    password: SecretStr | None = None
    """Initiator: the Password(554) sent on Logon. Acceptor: the one required."""
    allowed_hosts: tuple[str, ...] = ()
    """Acceptor: networks (CIDR or addresses) this session may connect from; empty: any.
    A connection from elsewhere is refused before its Logon is read."""
    store_dir: Path | None = None
    """Where sequence numbers and sent messages are kept (none: memory only, for
    simulations and tests; a restart then starts both sides at 1)."""
    fsync: FsyncPolicy = FsyncPolicy.ALWAYS
    """When the store reaches the disk: always (each message), batched (a thread, every
    fsync_interval_ms), or os (the OS decides; survives kill -9, not power loss)."""
    fsync_interval_ms: float = Field(default=5.0, gt=0)
    """fsync batched: how often the store is flushed to disk."""
    log_dir: Path | None = None
    """Where the per-session FIX message and event logs go (none: no logs)."""
    logon_timeout_s: float = Field(default=10.0, gt=0)
    """How long to wait for the peer's Logon answer."""
    logout_timeout_s: float = Field(default=10.0, gt=0)
    """How long to wait for the peer's Logout answer before dropping the connection."""
    max_latency_s: float = Field(default=120.0, ge=0)
    """SendingTime(52) may differ from our clock by at most this much (0: not checked)."""
    max_message_size: int = Field(default=65536, ge=256)
    """Largest message read, in bytes; a longer one ends the connection."""
    app_msg_types: tuple[str, ...] | None = None
    """Application MsgTypes this side accepts; others get a BusinessMessageReject (none:
    the role's default, acceptor orders in, initiator reports in)."""

    @field_validator("sender_comp_id", "target_comp_id")
    @classmethod
    def _comp_ids(cls, v: str) -> str:
        return _comp_id(v)

    @model_validator(mode="before")
    @classmethod
    def _fixt_default_version(cls, data: object) -> object:
        if (
            isinstance(data, dict)
            and data.get("begin_string") == dd.FIXT11
            and data.get("default_appl_ver_id") is None
        ):
            return {**data, "default_appl_ver_id": dd.FIX50SP2}
        return data

    @model_validator(mode="after")
    def _fits_the_version(self) -> SessionSettings:
        fixt = self.begin_string == dd.FIXT11
        if self.default_appl_ver_id is not None and not fixt:
            raise ValueError("default_appl_ver_id is for FIXT.1.1 sessions only")
        if self.app_data_dictionary is not None and not fixt:
            raise ValueError("app_data_dictionary is for FIXT.1.1 sessions; use data_dictionary")
        d = self.dictionary()  # a bad dictionary file is a configuration error
        needs = [
            (self.username is not None, 553, "username"),
            (self.password is not None, 554, "password"),
        ]
        for wanted, tag, name in needs:
            if wanted and not d.message_has(b"A", tag):
                raise ValueError(
                    f"{name}: the {self.begin_string} Logon has no tag {tag} in {d.source};"
                    " name a data_dictionary that adds it if your counterparty expects it"
                )
        return self

    def dictionary(self) -> dd.DataDictionary:
        """The data dictionary this session validates with (loaded once per file)."""
        return dd.session_dictionary(
            self.begin_string,
            data_dictionary=self.data_dictionary,
            app_version=self.default_appl_ver_id,
            app_data_dictionary=self.app_data_dictionary,
        )

    @property
    def session_id(self) -> str:
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"

    @property
    def file_stem(self) -> str:
        return f"{self.begin_string}-{self.sender_comp_id}-{self.target_comp_id}"


class InitiatorSettings(ReconnectSection):
    host: str = "127.0.0.1"
    """The acceptor's host."""
    port: int = Field(gt=0, lt=65536)
    """The acceptor's port."""
    session: SessionSettings
    """The one session this initiator opens."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    """How long one TCP connect may take."""
    reconnect_min_s: float = Field(default=0.5, gt=0)
    """First wait before reconnecting (then doubling per failed attempt; core/backoff.py)."""
    reconnect_max_s: float = Field(default=30.0, gt=0)
    """Longest wait between reconnect attempts."""
    reconnect_jitter: float = Field(default=0.2, ge=0, lt=1)
    """Each wait is cut by up to this share at random, spreading many clients' retries."""


class AcceptorSettings(Section):
    host: str = "127.0.0.1"
    """Address the acceptor listens on."""
    port: int = Field(default=0, ge=0, lt=65536)
    """Port the acceptor listens on (0: any free port, for tests)."""
    sessions: tuple[SessionSettings, ...] = Field(min_length=1)
    """The sessions a peer may log on to, one per CompID pair."""

    @model_validator(mode="after")
    def _unique_sessions(self) -> AcceptorSettings:
        for session in self.sessions:
            for host in session.allowed_hosts:
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{session.session_id}: allowed_hosts: {exc}") from None
        ids = [s.session_id for s in self.sessions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate sessions: {', '.join(dupes)}")
        return self

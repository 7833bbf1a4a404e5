"""Session, initiator and acceptor settings, embeddable in the daemon's and exchange's
config files (each is a :class:`core.config.Section`: unknown keys are errors)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from core.config import Section
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
    sender_comp_id: str = Field(min_length=1, max_length=64)
    target_comp_id: str = Field(min_length=1, max_length=64)
    heartbeat_interval_s: int = Field(default=30, gt=0, le=3600)
    # FIXT.1.1 only: the application version of this session (DefaultApplVerID(1137)).
    default_appl_ver_id: AppVersion | None = None
    # QuickFIX XML data dictionaries to validate with instead of the shipped ones
    # (FIXT.1.1: data_dictionary is the transport, app_data_dictionary the application).
    data_dictionary: Path | None = None
    app_data_dictionary: Path | None = None
    # Tags from 5000 up that the dictionary does not define: rejected (Invalid tag
    # number) when True, passed through unchecked when False.
    validate_user_defined_fields: bool = True
    # Sequence numbers back to 1 ...
    reset_on_logon: bool = False  # ... on every Logon (initiator: sends ResetSeqNumFlag=Y)
    reset_on_logout: bool = False  # ... after a Logout handshake completes
    reset_on_disconnect: bool = False  # ... whenever the connection ends
    # Re-read sequence numbers from the store before each logon (a standby process
    # taking over a session whose store another process wrote).
    refresh_on_logon: bool = False
    # On a ResendRequest, order-entry messages (order_entry_msg_types) older than this
    # are gap-filled instead of resent: an order decided on minutes-old prices must not
    # reach the market late. The application is told of each (NotResent event) and may
    # decide per message instead (resend_policy). 0 never resends them.
    max_order_resend_age_s: float = Field(default=5.0, ge=0)
    order_entry_msg_types: tuple[str, ...] = ORDER_ENTRY_MSG_TYPES
    # Initiator: credentials sent on Logon. Acceptor: credentials required on Logon.
    username: str | None = None
    password: SecretStr | None = None
    # Acceptor: networks (CIDR, or single addresses) this session may connect from;
    # empty: any. A connection from elsewhere is refused before its Logon is read when
    # no session allows it, else when its Logon names this session.
    allowed_hosts: tuple[str, ...] = ()
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

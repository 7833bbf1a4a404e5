"""Session settings from a QuickFIX-style settings file, as counterparties hand them over.

The format: a ``[DEFAULT]`` section whose keys apply to every session, then one
``[SESSION]`` section per session, each ``Key=Value`` on its own line (``#`` starts a
comment). QuickFIX's key names are used where we have the setting; a key we cannot
honour is refused with its line number rather than ignored, because a silently
ignored ``ResetOnLogon`` or schedule is how a session misbehaves at 3 a.m.

Our own settings without a QuickFIX name take theirs from the field names
(``MaxOrderResendAge``, ``Fsync``, ``Username``, ``Password``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateways.fix.dictionary import APPL_VER_NAME
from gateways.fix.settings import AcceptorSettings, InitiatorSettings, SessionSettings


class QuickFixConfigError(ValueError):
    """A settings file we cannot use; the message names the file, line and key."""


def _yes(value: str) -> bool:
    v = value.strip().upper()
    if v in ("Y", "YES", "TRUE"):
        return True
    if v in ("N", "NO", "FALSE"):
        return False
    raise ValueError(f"expected Y or N, got {value!r}")


def _why(exc: ValidationError) -> str:
    """Pydantic's errors on one line: ``field: problem (got value)``."""
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e["loc"]) or "settings"
        parts.append(f"{where}: {e['msg']} (got {e.get('input')!r})")
    return "; ".join(parts)


def _appl_ver(value: str) -> str:
    return APPL_VER_NAME.get(value, value)


# QuickFIX key -> (our SessionSettings field, conversion)
_SESSION_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "BeginString": ("begin_string", str),
    "SenderCompID": ("sender_comp_id", str),
    "TargetCompID": ("target_comp_id", str),
    "HeartBtInt": ("heartbeat_interval_s", int),
    "DefaultApplVerID": ("default_appl_ver_id", _appl_ver),
    "DataDictionary": ("data_dictionary", Path),
    "TransportDataDictionary": ("data_dictionary", Path),
    "AppDataDictionary": ("app_data_dictionary", Path),
    "ValidateUserDefinedFields": ("validate_user_defined_fields", _yes),
    "ResetOnLogon": ("reset_on_logon", _yes),
    "ResetOnLogout": ("reset_on_logout", _yes),
    "ResetOnDisconnect": ("reset_on_disconnect", _yes),
    "RefreshOnLogon": ("refresh_on_logon", _yes),
    "FileStorePath": ("store_dir", Path),
    "FileLogPath": ("log_dir", Path),
    "LogonTimeout": ("logon_timeout_s", float),
    "LogoutTimeout": ("logout_timeout_s", float),
    "MaxLatency": ("max_latency_s", float),
    "MaxOrderResendAge": ("max_order_resend_age_s", float),
    "Fsync": ("fsync", str),
    "Username": ("username", str),
    "Password": ("password", str),
}
# Transport keys, by role.
_INITIATOR_KEYS = {
    "SocketConnectHost": ("host", str),
    "SocketConnectPort": ("port", int),
    "ReconnectInterval": ("reconnect_min_s", float),
}
_ACCEPTOR_KEYS = {"SocketAcceptHost": ("host", str), "SocketAcceptPort": ("port", int)}
# Keys whose only value we can honour (what we always do).
_FIXED = {
    "UseDataDictionary": "Y",
    "PersistMessages": "Y",
    "SocketNodelay": "Y",
    "ValidateFieldsOutOfOrder": "Y",
    "ValidateFieldsHaveValues": "Y",
}


@dataclass
class QuickFixSettings:
    """What a settings file describes: one acceptor (all its acceptor sessions) and one
    initiator per initiator session."""

    acceptor: AcceptorSettings | None = None
    initiators: list[InitiatorSettings] = field(default_factory=list)


@dataclass
class _Section:
    name: str
    line: int
    values: dict[str, tuple[str, int]] = field(default_factory=dict)


def _sections(path: Path) -> list[_Section]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuickFixConfigError(f"{path}: cannot read: {exc}") from None
    out: list[_Section] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().upper()
            if name not in ("DEFAULT", "SESSION"):
                raise QuickFixConfigError(f"{path}:{n}: unknown section [{name}]")
            if name == "DEFAULT" and any(s.name == "DEFAULT" for s in out):
                raise QuickFixConfigError(f"{path}:{n}: a second [DEFAULT] section")
            out.append(_Section(name, n))
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise QuickFixConfigError(f"{path}:{n}: expected Key=Value, got {raw!r}")
        if not out:
            raise QuickFixConfigError(f"{path}:{n}: {key.strip()} before any section")
        out[-1].values[key.strip()] = (value.strip(), n)
    return out


def load_quickfix_settings(path: str | Path) -> QuickFixSettings:
    """Read a QuickFIX settings file; :class:`QuickFixConfigError` names what is wrong."""
    p = Path(path)
    sections = _sections(p)
    default = next((s for s in sections if s.name == "DEFAULT"), _Section("DEFAULT", 0))
    sessions = [s for s in sections if s.name == "SESSION"]
    if not sessions:
        raise QuickFixConfigError(f"{p}: no [SESSION] section")
    result = QuickFixSettings()
    accepting: list[SessionSettings] = []
    acceptor_transport: dict[str, Any] = {}
    for sec in sessions:
        values = {**default.values, **sec.values}
        role, role_line = values.get("ConnectionType", ("", sec.line))
        role = role.lower()
        if role not in ("initiator", "acceptor"):
            raise QuickFixConfigError(
                f"{p}:{role_line}: ConnectionType must be initiator or acceptor, got {role!r}"
            )
        session_kw, transport_kw = _convert(p, values, role)
        try:
            session = SessionSettings(**session_kw)
        except ValidationError as exc:
            raise QuickFixConfigError(f"{p}: [SESSION] at line {sec.line}: {_why(exc)}") from None
        if role == "initiator":
            if "reconnect_min_s" in transport_kw:
                transport_kw.setdefault(
                    "reconnect_max_s", max(30.0, transport_kw["reconnect_min_s"])
                )
            try:
                result.initiators.append(InitiatorSettings(session=session, **transport_kw))
            except ValidationError as exc:
                raise QuickFixConfigError(
                    f"{p}: [SESSION] at line {sec.line}: {_why(exc)}"
                ) from None
        else:
            if acceptor_transport and transport_kw != acceptor_transport:
                raise QuickFixConfigError(
                    f"{p}: [SESSION] at line {sec.line}: every acceptor session must share"
                    " one SocketAcceptHost/SocketAcceptPort (one listening socket)"
                )
            acceptor_transport = transport_kw
            accepting.append(session)
    if accepting:
        try:
            result.acceptor = AcceptorSettings(sessions=tuple(accepting), **acceptor_transport)
        except ValidationError as exc:
            raise QuickFixConfigError(f"{p}: acceptor sessions: {_why(exc)}") from None
    return result


def _convert(
    path: Path, values: dict[str, tuple[str, int]], role: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    session: dict[str, Any] = {}
    transport: dict[str, Any] = {}
    role_keys = _INITIATOR_KEYS if role == "initiator" else _ACCEPTOR_KEYS
    other_role = _ACCEPTOR_KEYS if role == "initiator" else _INITIATOR_KEYS
    for key, (value, line) in values.items():
        where = f"{path}:{line}: {key}"
        if key == "ConnectionType" or key in other_role:
            continue  # the other role's socket (e.g. from [DEFAULT]) means nothing here
        if key in _FIXED:
            if value.upper() != _FIXED[key]:
                raise QuickFixConfigError(
                    f"{where}={value} is not supported (always {_FIXED[key]})"
                )
            continue
        if key == "CheckLatency":
            if not _yes(value):
                session["max_latency_s"] = 0.0
            continue
        if key in ("StartTime", "EndTime"):
            if values.get("StartTime", ("", 0))[0] != values.get("EndTime", ("", 0))[0]:
                raise QuickFixConfigError(
                    f"{where}: session schedules are not supported; run the session always"
                    " (StartTime equal to EndTime) and start or stop it from outside"
                )
            continue
        target = _SESSION_KEYS.get(key)
        dest = session
        if target is None:
            target = role_keys.get(key)
            dest = transport
        if target is None:
            raise QuickFixConfigError(f"{where}: unknown or unsupported key for an {role}")
        name, convert = target
        try:
            dest[name] = convert(value)
        except ValueError as exc:
            raise QuickFixConfigError(f"{where}: {exc}") from None
    return session, transport

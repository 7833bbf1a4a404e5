"""Journal records: core dataclasses to bytes and back, exactly.

orjson writes dataclasses and enums natively; reading back needs the field types, so
each journalled kind names its class and :func:`decode` rebuilds it field by field
(enums from their values, tuples from lists). A record that does not decode is never
guessed at: recovery names it and halts the node (``recovery``), which still settles
its orders with the venue and lets the operator cancel what rests.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any

import orjson

from core.events import CancelReject, ExecReport
from core.parent import ParentOrder
from core.requests import CancelRequest, NewOrderRequest, ReplaceRequest

KINDS: dict[str, type[Any]] = {
    "parent": ParentOrder,
    "new": NewOrderRequest,
    "cancel": CancelRequest,
    "replace": ReplaceRequest,
    "report": ExecReport,
    "cancel_reject": CancelReject,
}


class RecordError(ValueError):
    """A journal record that cannot be decoded into its kind."""


@dataclasses.dataclass(frozen=True, slots=True)
class Undecodable:
    """The payload of a record that did not decode (read leniently, for recovery)."""

    error: str


def parent_state(parent: ParentOrder, reason: str) -> dict[str, Any]:
    """The ``parent_state`` record: a parent's state change and the times it keeps."""
    return {
        "parent_id": parent.parent_id,
        "state": parent.state.value,
        "reason": reason,
        "arrival_mid": parent.arrival_mid,
        "start_ns": parent.start_ns,
        "end_ns": parent.end_ns,
    }


def encode(payload: Any) -> bytes:
    return orjson.dumps(payload)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(members[0], value) if len(members) == 1 else value
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(value)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(args, value, strict=True))
    return value


def decode(kind: str, body: bytes) -> Any:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"{kind} record is not valid JSON: {exc}") from exc
    cls = KINDS.get(kind)
    if cls is None:
        return data
    if not isinstance(data, dict):
        raise RecordError(f"{kind} record is not an object: {data!r:.80}")
    hints = _hints(cls)
    try:
        fields = {
            f.name: _convert(hints[f.name], data[f.name])
            for f in dataclasses.fields(cls)
            if f.name in data
        }
        return cls(**fields)
    except (TypeError, ValueError, KeyError) as exc:
        raise RecordError(f"{kind} record does not fit {cls.__name__}: {exc}") from exc

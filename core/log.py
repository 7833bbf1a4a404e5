"""Structured logging with structlog: JSON lines in production, readable in a terminal.

Context is bound per parent order and per ClOrdID with :func:`bound`, so every line
written while handling a child order carries both ids without passing them around;
an operator can grep one ClOrdID and see its whole life.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import orjson
import structlog

LogFormat = Literal["json", "console"]

_SECRET_KEYS = ("password", "secret", "token", "hmac_key", "api_key")


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """No secrets in logs, whoever passes them in."""
    for key in list(event):
        if any(s in key.lower() for s in _SECRET_KEYS):
            event[key] = "***"
    return event


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure(
    fmt: LogFormat = "console", level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Set up structlog (and the stdlib root logger, for libraries) once per process."""
    lvl = logging.getLevelNamesMapping().get(level.upper())
    if lvl is None:
        raise ValueError(f"unknown log level {level!r}")
    out = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        shared.append(structlog.processors.format_exc_info)
    elif fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    else:
        raise ValueError(f"unknown log format {fmt!r}; expected 'json' or 'console'")
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=lvl, stream=out, format="%(levelname)s %(name)s %(message)s", force=True
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


@contextmanager
def bound(**ids: str) -> Iterator[None]:
    """Bind e.g. ``parent_id`` and ``cl_ord_id`` to every log line inside the block."""
    tokens = structlog.contextvars.bind_contextvars(**ids)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)

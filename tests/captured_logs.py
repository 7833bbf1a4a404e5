"""Structured log lines emitted inside a block, whatever level the process logs at.

``structlog.testing.capture_logs`` keeps the configured wrapper class, whose level
filter drops lines below it: after another test in the same worker configured ERROR
(a CLI or bench run in process), a test capturing a warning saw nothing. This opens the
level for the block and puts the configuration back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog


@contextmanager
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)

"""Fixtures for the risk overlay tests; the helpers live in risk_harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from risk_harness import Harness


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    yield Harness(tmp_path / "kill_switch.json")


@pytest.fixture
def logs() -> Iterator[list[dict[str, object]]]:
    """Structured log events emitted inside the test (structlog's capture)."""
    with structlog.testing.capture_logs() as captured:
        yield captured

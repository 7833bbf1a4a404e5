"""Fixtures for tests/unit/deploy (helpers live in deploy_tree.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from deploy_tree import CheckResult, Tree, run_check


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path / "repo")


@pytest.fixture
def check() -> Callable[..., CheckResult]:
    return run_check

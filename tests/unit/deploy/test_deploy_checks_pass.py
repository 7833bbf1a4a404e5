"""Every deploy check passes on the repository as committed.

These run scripts/check_deploy.sh exactly as a developer or CI would. A missing tool
fails here with the package to install (never a skip); see test_deploy_check_script.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from deploy_tree import CheckResult


@pytest.mark.parametrize(
    "name",
    [
        "prometheus",
        "alerts",
        "dashboard",
        "systemd",
        "compose",
        "dockerfile",
        "redis",
        "shell",
        "examples",
        "wheel",
    ],
)
def test_check_passes_on_the_repository(check: Callable[..., CheckResult], name: str) -> None:
    result = check(name)
    assert result.passed, f"scripts/check_deploy.sh {name} failed:\n{result.output}"
    assert f"-- {name}: passed" in result.output

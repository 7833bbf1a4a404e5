"""The compose check (docker-compose config + our rules), each rule shown failing.

No Docker engine runs here; these prove the static check catches what would otherwise
only show on `docker compose up`.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from deploy_tree import REPO, Tree

COMPOSE = "docker-compose.yml"


def _fails_with(tree: Tree, message: str) -> None:
    result = tree.check("compose")
    assert not result.passed, result.output
    assert message in result.output, result.output


def test_schema_errors_are_caught_by_docker_compose(tree: Tree) -> None:
    tree.replace(COMPOSE, "stop_grace_period: 60s", "stop_grace_perod: 60s")
    _fails_with(tree, "Unsupported config option for services.daemon: 'stop_grace_perod'")


def test_port_on_all_interfaces_fails(tree: Tree) -> None:
    tree.replace(COMPOSE, '"127.0.0.1:${GRAFANA_PORT:-3000}:3000"', '"3000:3000"')
    _fails_with(tree, "services.grafana.ports: 3000:3000 must be bound to 127.0.0.1")


def test_plain_text_password_fails(tree: Tree) -> None:
    tree.replace(
        COMPOSE,
        "RLEXEC__REDIS__PASSWORD__FILE: /run/secrets/redis_rlexec_password",
        "RLEXEC__REDIS__PASSWORD: hunter2",
    )
    _fails_with(
        tree, "services.daemon.environment.RLEXEC__REDIS__PASSWORD: a secret as a plain value"
    )


def test_secret_file_the_service_does_not_mount_fails(tree: Tree) -> None:
    tree.replace(
        COMPOSE,
        "GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/grafana_admin_password",
        "GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/redis_ops_password",
    )
    _fails_with(tree, "/run/secrets/redis_ops_password is not a secret this service mounts")


def test_depends_on_must_wait_for_health(tree: Tree) -> None:
    text = tree.read(COMPOSE)
    tree.write(COMPOSE, text.replace("condition: service_healthy", "condition: service_started", 1))
    _fails_with(tree, "condition must be service_healthy (got service_started)")


def test_invalid_healthcheck_duration_fails(tree: Tree) -> None:
    # docker-compose v1 accepts any string here; the engine would refuse it at `up`.
    tree.replace(COMPOSE, "interval: 10s", "interval: tenseconds")
    _fails_with(tree, "healthcheck.interval: 'tenseconds' is not a duration")


def test_service_without_healthcheck_fails(tree: Tree) -> None:
    text = tree.read(COMPOSE)
    start = text.index(
        '    healthcheck:\n      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090'
    )
    end = text.index("    security_opt:", start)
    tree.write(COMPOSE, text[:start] + text[end:])
    _fails_with(tree, "services.prometheus: no healthcheck")


def test_missing_bind_mounted_file_fails(tree: Tree) -> None:
    tree.path("deploy/redis/redis.conf").unlink()
    _fails_with(tree, "deploy/redis/redis.conf (-> /usr/local/etc/redis/redis.conf) does not exist")


def test_unknown_setting_in_service_environment_is_named(tree: Tree) -> None:
    tree.replace(COMPOSE, "RLEXEC__FIX__HOST: exchange", "RLEXEC__FIX__HOTS: exchange")
    _fails_with(tree, "services.daemon: fix.hots: unknown key")


def test_image_env_must_suit_both_processes(tree: Tree) -> None:
    # The daemon-only setting would make the exchange refuse to start.
    tree.replace(
        "Dockerfile",
        "RLEXEC__LOGGING__FORMAT=json",
        "RLEXEC__LOGGING__FORMAT=json \\\n    RLEXEC__NODE__DATA_DIR=/var/lib/rlexec",
    )
    _fails_with(tree, "services.exchange: node: unknown key")


def test_daemon_must_reach_the_exchange_it_runs_with(tree: Tree) -> None:
    tree.replace(
        COMPOSE,
        "RLEXEC__MARKETDATA__URL: ws://exchange:8765/md",
        "RLEXEC__MARKETDATA__URL: ws://exchange:8766/md",
    )
    _fails_with(
        tree,
        "daemon marketdata.url ws://exchange:8766/md is not the exchange's ws://exchange:8765/md",
    )


def test_exchange_must_listen_beyond_loopback(tree: Tree) -> None:
    tree.replace(COMPOSE, "      RLEXEC__FIX__HOST: 0.0.0.0\n", "")
    _fails_with(tree, "services.exchange: listens on 127.0.0.1")


def test_journal_must_be_on_a_named_volume(tree: Tree) -> None:
    tree.replace(COMPOSE, "- daemon-data:/var/lib/rlexec\n", "- daemon-data:/var/lib/rlexec-old\n")
    _fails_with(
        tree,
        "services.daemon: data_dir /var/lib/rlexec (journal, FIX store) is not on a named volume",
    )


def test_rlexec_containers_must_be_hardened(tree: Tree) -> None:
    text = tree.read(COMPOSE)
    daemon = text.index("  daemon:")
    tree.write(COMPOSE, text[:daemon] + text[daemon:].replace("    read_only: true\n", "", 1))
    _fails_with(tree, "services.daemon: read_only: true expected")


def test_prometheus_must_scrape_where_the_daemon_listens(tree: Tree) -> None:
    tree.replace("deploy/prometheus/prometheus-compose.yml", '"daemon:9464"', '"daemon:9465"')
    _fails_with(tree, "job rlexec must scrape daemon:9464")


def test_prometheus_must_scrape_the_exchange_where_it_serves_metrics(tree: Tree) -> None:
    tree.replace("deploy/prometheus/prometheus-compose.yml", '"exchange:8765"', '"exchange:9878"')
    _fails_with(tree, "job exchange must scrape exchange:8765 (got ['exchange:9878'])")


def test_grafana_provider_path_must_match_the_mount(tree: Tree) -> None:
    tree.replace(
        "deploy/grafana/provisioning/dashboards/rlexec.yml",
        "path: /etc/grafana/dashboards/rlexec",
        "path: /var/lib/grafana/dashboards",
    )
    _fails_with(
        tree,
        "dashboard provider path /var/lib/grafana/dashboards is not where deploy/grafana/dashboards is mounted",
    )


def test_secret_files_must_stay_in_the_ignored_directory(tree: Tree) -> None:
    tree.replace(
        COMPOSE, "file: ./deploy/compose/secrets/command_hmac_key", "file: ./command_hmac_key"
    )
    _fails_with(tree, "secrets.command_hmac_key: file must live in deploy/compose/secrets")


# ------------------------------------------------------------------ init-secrets.sh


def test_init_secrets_creates_each_secret_once(tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    script = REPO / "deploy/compose/init-secrets.sh"
    first = subprocess.run(
        ["sh", str(script), str(target)], capture_output=True, text=True, check=True
    )
    names = {
        "redis_rlexec_password",
        "redis_ops_password",
        "grafana_admin_password",
        "command_hmac_key",
    }
    assert {p.name for p in target.iterdir()} == names
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    values = set()
    for p in target.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644  # bind-mounted into other uids
        value = p.read_text()
        assert len(value) == 64 and all(c in "0123456789abcdef" for c in value)
        values.add(value)
    assert len(values) == 4
    assert "created" in first.stdout
    before = {p.name: p.read_text() for p in target.iterdir()}
    second = subprocess.run(
        ["sh", str(script), str(target)], capture_output=True, text=True, check=True
    )
    assert {p.name: p.read_text() for p in target.iterdir()} == before
    assert "created" not in second.stdout


@pytest.mark.parametrize(
    "name",
    ["redis_rlexec_password", "redis_ops_password", "grafana_admin_password", "command_hmac_key"],
)
def test_secrets_are_git_ignored(name: str) -> None:
    res = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "-q", f"deploy/compose/secrets/{name}"],
        check=False,
    )
    assert res.returncode == 0, f"deploy/compose/secrets/{name} would be committed"

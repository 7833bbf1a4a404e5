"""The example configs load with the real loaders, and the examples check fails on bad ones."""

from __future__ import annotations

from deploy_tree import REPO, Tree

from core.config import load
from daemon.config import DaemonConfig
from exchange.config import ExchangeConfig, load_config


def test_daemon_example_loads_as_documented() -> None:
    cfg = load(DaemonConfig, REPO / "deploy/examples/rlexec.toml", env={})
    assert str(cfg.node.data_dir) == "/var/lib/rlexec"
    assert cfg.logging.format == "json"
    assert cfg.redis.username == "rlexec"
    # never in the file: from RLEXEC__REDIS__PASSWORD__FILE
    assert cfg.redis.password.get_secret_value() == ""
    assert [i.symbol for i in cfg.instruments] == ["AMZN", "AAPL"]


def test_ctl_example_uses_the_ops_user() -> None:
    cfg = load(DaemonConfig, REPO / "deploy/examples/rlexec-ctl.toml", env={})
    assert cfg.redis.username == "rlexec-ops"
    assert (
        cfg.redis.command_stream
        == load(DaemonConfig, REPO / "deploy/examples/rlexec.toml", env={}).redis.command_stream
    )


def test_exchange_example_matches_the_daemon_example() -> None:
    ex: ExchangeConfig = load_config(REPO / "deploy/examples/exchange.toml", env={})
    daemon = load(DaemonConfig, REPO / "deploy/examples/rlexec.toml", env={})
    assert {i.symbol for i in ex.instruments} == {i.symbol for i in daemon.instruments}
    assert ex.fix.port == daemon.fix.port
    assert f"ws://127.0.0.1:{ex.marketdata.port}{ex.marketdata.path}" == daemon.marketdata.url
    assert any(
        s.sender_comp_id == daemon.fix.session.target_comp_id
        and s.target_comp_id == daemon.fix.session.sender_comp_id
        for s in ex.fix.sessions
    )
    assert ex.fix.cancel_on_disconnect is True  # nothing of ours rests while we are away


def test_an_invalid_daemon_example_fails_the_check_naming_the_key(tree: Tree) -> None:
    tree.replace("deploy/examples/rlexec.toml", "port = 9464", "port = 99464")
    result = tree.check("examples")
    assert not result.passed
    assert "http.port: Input should be less than or equal to 65535 (got 99464)" in result.output


def test_an_invalid_exchange_example_fails_the_check(tree: Tree) -> None:
    tree.replace("deploy/examples/exchange.toml", 'mode = "realtime"', 'mode = "warp"')
    result = tree.check("examples")
    assert not result.passed
    assert "pacing.mode" in result.output

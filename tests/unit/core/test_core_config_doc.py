"""Configuration documents itself: every field described, ``rlexec config show`` exact.

Each field's description is the docstring under it and its default the model's own, so
the listing cannot drift from the code; these tests make a missing description a test
failure, and check what the listing says about each value's source.
"""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from core.config_doc import Setting, explain
from daemon import cli
from daemon.config import DaemonConfig
from exchange.config import ExchangeConfig

MODELS = [DaemonConfig, ExchangeConfig]


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[type[BaseModel]]:
    """``model`` and every model reachable from its fields (nested, in arrays, optional)."""
    found = [model]
    for field in model.model_fields.values():
        stack: list[object] = [field.annotation]
        while stack:
            t = stack.pop()
            stack.extend(typing.get_args(t))
            if isinstance(t, type) and issubclass(t, BaseModel) and t not in seen:
                seen.add(t)
                found += _models(t, seen)
    return found


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_of_every_section_has_a_description(model: type[BaseModel]) -> None:
    missing = [
        f"{m.__name__}.{name}"
        for m in _models(model, set())
        for name, field in m.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"fields without a description (a docstring under it): {missing}"


def _by_key(rows: list[Setting]) -> dict[str, Setting]:
    return {r.key: r for r in rows}


def test_each_value_says_whether_it_came_from_the_file_the_environment_or_the_default(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "daemon.toml"
    cfg.write_text(
        '[execution]\nack_timeout_s = 3.5\n[[instruments]]\nsymbol = "AMZN"\nlot_size = 100\n'
        '[risk]\nallowed_symbols = ["AMZN"]\n[risk.overrides.AMZN]\nmax_position = 500\n'
    )
    env = {"RLEXEC__FIX__SESSION__HEARTBEAT_INTERVAL_S": "10"}
    rows = _by_key(explain(DaemonConfig, cfg, env=env))
    assert (rows["execution.ack_timeout_s"].value, rows["execution.ack_timeout_s"].source) == (
        "3.5",
        "file",
    )
    assert rows["execution.ack_timeout_s"].default == "2.0"
    hb = rows["fix.session.heartbeat_interval_s"]
    assert (hb.value, hb.source, hb.default) == (
        "10",
        "env RLEXEC__FIX__SESSION__HEARTBEAT_INTERVAL_S",
        "30",
    )
    assert rows["fix.session.sender_comp_id"].default == '"RLEXEC"'  # the section's default
    assert rows["instruments[0].lot_size"].value == "100"
    assert rows["instruments[0].tick_size"].source == "default"
    assert rows["risk.overrides.AMZN.max_position"].value == "500"
    assert rows["risk.overrides.AMZN.collar_bps"].default == "null"
    assert rows["node.id"].source == "default" and rows["node.id"].description


def test_secrets_are_shown_only_as_set_or_empty(tmp_path: Path) -> None:
    env = {"RLEXEC__REDIS__PASSWORD": "hunter2-long-secret", "RLEXEC__CONTROL__HMAC_KEY": "k" * 40}
    rows = explain(DaemonConfig, None, env=env)
    text = json.dumps([r.__repr__() for r in rows])
    assert "hunter2" not in text and "k" * 40 not in text
    got = _by_key(rows)
    assert got["redis.password"].value == "(set)"
    assert got["control.previous_hmac_key"].value == "(empty)"


@pytest.mark.parametrize("kind", ["daemon", "exchange"])
def test_config_show_prints_every_setting_with_its_type_default_and_description(
    kind: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("RLEXEC__")]:
        monkeypatch.delenv(name)
    model = DaemonConfig if kind == "daemon" else ExchangeConfig
    assert cli.main(["config", "show", "--kind", kind, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in shown] == [r.key for r in explain(model, None, env={})]
    assert all(r["type"] and r["default"] and r["description"] for r in shown)
    assert cli.main(["config", "show", "--kind", kind]) == 0
    text = capsys.readouterr().out
    assert all(f"{r['key']} = " in text for r in shown)


def test_config_show_of_an_invalid_config_is_one_message_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[http]\nport = 'abc'\n")
    assert cli.main(["config", "show", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "http.port" in err and "Traceback" not in err

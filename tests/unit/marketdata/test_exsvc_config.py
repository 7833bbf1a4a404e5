"""The exchange's configuration: working defaults, overrides, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError
from exchange.config import load_config, time_of_day_ns

REPO = Path(__file__).resolve().parents[3]


def test_embedded_defaults_are_a_working_exchange() -> None:
    cfg = load_config(None, env={})
    assert [i.symbol for i in cfg.instruments] == ["AMZN", "AAPL"]
    assert cfg.source.kind == "lobster"
    assert [(d.ticker, d.levels) for d in cfg.source.lobster] == [("AMZN", 5), ("AAPL", 1)]
    assert cfg.pacing.factor == 10.0
    assert (cfg.marketdata.port, cfg.marketdata.path, cfg.fix.port) == (8765, "/md", 9878)
    (session,) = cfg.fix.sessions
    assert (session.sender_comp_id, session.target_comp_id) == ("EXCHANGE", "RLEXEC")


def test_shipped_example_config_is_valid() -> None:
    cfg = load_config(REPO / "deploy" / "examples" / "exchange.toml", env={})
    assert cfg.source.kind == "lobster"


def test_environment_overrides(tmp_path: Path) -> None:
    cfg = load_config(None, env={"RLEXEC__PACING__MODE": "asap", "RLEXEC__MARKETDATA__PORT": "0"})
    assert cfg.pacing.factor is None and cfg.marketdata.port == 0


def test_listing_only_some_instruments_replays_only_theirs(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text('[[instruments]]\nsymbol = "AMZN"\n')
    assert [d.ticker for d in load_config(p, env={}).source.lobster] == ["AMZN"]


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[pacing]\nmode = "warp"\n', "pacing.mode"),
        ("[marketdata]\nport = 70000\n", "marketdata.port"),
        ("[marketdata]\nqueue = 5\n", "marketdata.queue: unknown key"),
        ('[source]\nkind = "paper"\n', "needs a [source.paper]"),
        ('[source]\nkind = "paper"\n[source.paper]\nupstream = "recording"\n', "needs files"),
        ('[source]\nkind = "paper"\n[source.paper]\nupstream = "rlexec"\n', "url"),
        ('[[source.lobster]]\nticker = "MSFT"\n', "MSFT is not among the instruments"),
        ('[[source.lobster]]\nticker = "AMZN"\nstart = "11:00"\nend = "10:00"\n', "must be after"),
        ('[[source.lobster]]\nticker = "AMZN"\nstart = "25:00"\n', "out of range"),
        ('[source]\nkind = "synthetic"\n', "at least one [[source.synthetic]]"),
        ('[source]\nkind = "synthetic"\n[[source.synthetic]]\nsymbol = "X"\n', "X is not among"),
        ('[source]\nimpact = "huge"\n', "source.impact"),
        ('[[instruments]]\nsymbol = "A"\n[[instruments]]\nsymbol = "A"\n', "listed twice"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, toml: str, words: str) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(p, env={})
    assert words in str(info.value)


def test_time_of_day() -> None:
    assert time_of_day_ns("09:30") == 34_200 * 10**9
    assert time_of_day_ns("16:00:00.5") == 57_600 * 10**9 + 500_000_000
    with pytest.raises(ValueError, match="HH:MM"):
        time_of_day_ns("9h30")

"""The exchange's configuration: working defaults, overrides, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError
from exchange.config import load_config, time_of_day_ns
from tests.unit.marketdata.lobster_folders import renamed_day

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
        (
            '[[instruments]]\nsymbol = "AMZN"\n[[source.lobster]]\nticker = "MSFT"\n',
            "MSFT is not among the instruments (AMZN)",
        ),
        ('[[source.lobster]]\nticker = "AMZN"\nstart = "11:00"\nend = "10:00"\n', "must be after"),
        ('[[source.lobster]]\nticker = "AMZN"\nstart = "25:00"\n', "out of range"),
        ('[source]\nkind = "synthetic"\n', "at least one [[source.synthetic]]"),
        (
            '[[instruments]]\nsymbol = "AMZN"\n[source]\nkind = "synthetic"\n'
            '[[source.synthetic]]\nsymbol = "X"\n',
            "X is not among",
        ),
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


# --------------------------------------------------------------- any ticker
def _write(tmp_path: Path, toml: str) -> Path:
    p = tmp_path / "exchange.toml"
    p.write_text(toml)
    return p


def test_a_lobster_folder_of_any_ticker_needs_nothing_else(tmp_path: Path) -> None:
    folder = renamed_day(tmp_path, "MSFT")
    cfg = load_config(_write(tmp_path, f'[[source.lobster]]\nfolder = "{folder}"\n'), env={})
    assert [i.symbol for i in cfg.instruments] == ["MSFT"]  # no AMZN / AAPL leaking in
    (day,) = cfg.source.lobster
    assert (day.symbol, day.day, day.ticker, day.levels) == ("MSFT", "2012-06-21", None, None)
    assert day.message_path() == folder / "MSFT_2012-06-21_34200000_57600000_message_1.csv.gz"


def test_listing_only_another_ticker_looks_for_its_day_under_the_data_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = _write(tmp_path, '[[instruments]]\nsymbol = "MSFT"\n')
    (day,) = load_config(p, env={}).source.lobster  # was: "ticker AMZN is not among ..."
    monkeypatch.setenv("RLEXEC_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"no single LOBSTER day for MSFT 2012-06-21"):
        day.message_path()
    folder = renamed_day(tmp_path / "lobster", "MSFT")
    assert day.message_path().parent == folder


def test_declared_levels_ticker_and_date_must_match_the_file(tmp_path: Path) -> None:
    name = "MSFT_2012-06-21_34200000_57600000_message_10.csv"
    for key, value, words in [
        ("levels", "5", "levels = 5 but " + name + " is levels 10"),
        ("ticker", '"AMZN"', "ticker = 'AMZN' but " + name + " is ticker 'MSFT'"),
        ("date", '"2012-06-22"', "date = '2012-06-22' but"),
    ]:
        toml = f'[[source.lobster]]\nmessage_file = "/data/{name}"\n{key} = {value}\n'
        with pytest.raises(ConfigError) as info:
            load_config(_write(tmp_path, toml), env={})
        assert "source.lobster.0: Value error, " + words in str(info.value)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ('folder = "{tmp}/nowhere"', "nowhere: no such file or folder"),
        ('folder = "{tmp}/two"', "2 message files here (A_2012-06-21_1_2_message_1.csv, B_"),
        ('folder = "{tmp}/two"\nmessage_file = "x"', "give folder or message_file, not both"),
        ('message_file = "{tmp}/A_2012-06-21_1_2_orderbook_1.csv"', "is an orderbook file"),
        ('message_file = "{tmp}/prices.csv"', "file name does not follow"),
        ('start = "10:00"', "name the day: folder"),
    ],
)
def test_a_day_that_cannot_be_found_says_why(tmp_path: Path, entry: str, words: str) -> None:
    two = tmp_path / "two"
    two.mkdir()
    for t in "AB":
        (two / f"{t}_2012-06-21_1_2_message_1.csv").write_text("")
    toml = "[[source.lobster]]\n" + entry.replace("{tmp}", str(tmp_path)) + "\n"
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, toml), env={})
    assert words in str(info.value)

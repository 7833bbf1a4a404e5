"""The result cache and its keys: a result is found again only under exactly the model,
settings, data and code that made it; the file survives reopening; a bad file is
refused with a message naming it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from exchange.replay.impact import LinearPermanentImpact, NoImpact, TransientPropagatorImpact
from policies.backtest.cache import ResultCache
from policies.backtest.errors import CacheError
from policies.backtest.fingerprint import PRESENTATION, code_fingerprint, describe, key_of


def _key(impact: object, **extra: object) -> str:
    return key_of({"run": {"impact": describe(impact), **extra}, "order": {"seed": 1}})


def test_impact_model_and_its_parameters_are_part_of_the_key() -> None:
    a = _key(LinearPermanentImpact(gamma=0.0066))
    assert a == _key(LinearPermanentImpact(gamma=0.0066))
    assert a != _key(LinearPermanentImpact(gamma=0.0067))
    assert a != _key(NoImpact())
    t1 = _key(TransientPropagatorImpact(kappa=0.4, decay_s=100.0, beta=0.5))
    t2 = _key(TransientPropagatorImpact(kappa=0.4, decay_s=101.0, beta=0.5))
    assert t1 != t2


def test_describe_names_the_type_and_public_parameters_only() -> None:
    d = describe(LinearPermanentImpact(gamma=0.5))
    assert d["type"].endswith("LinearPermanentImpact")
    assert d["params"] == {"gamma": "0.5"}  # the running state (_net) is not a parameter


def test_code_fingerprint_covers_the_order_path_not_the_presentation() -> None:
    fp = code_fingerprint()
    assert len(fp) == 64 and fp == code_fingerprint()
    here = Path(__file__).resolve().parents[4] / "policies" / "backtest"
    assert {p.name for p in here.glob("*.py")} >= PRESENTATION  # names that exist
    assert "episodes.py" not in PRESENTATION and "metrics.py" not in PRESENTATION


def test_outcomes_round_trip_exactly_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResultCache(path)
    value = {"is_bps": 0.1 + 0.2, "inventory": [1.0, 1 / 3], "actions": None}
    cache.put_many([("k1", "twap", "G", 0, value), ("k2", "twap", "G", 1, value)])
    cache.close()
    again = ResultCache(path)
    got = again.get_many(["k1", "k2", "missing"])
    assert got == {"k1": value, "k2": value}
    assert got["k1"]["is_bps"] == 0.1 + 0.2  # bit for bit
    assert len(again) == 2
    again.close()


def test_a_file_that_is_not_a_cache_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CacheError, match=r"junk\.sqlite.*--no-cache"):
        ResultCache(path)
    assert path.read_bytes() == b"this is not sqlite" * 100  # nothing lost


def test_a_cache_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT)")
    db.execute("INSERT INTO meta VALUES ('schema', '0')")
    db.commit()
    db.close()
    with pytest.raises(CacheError, match="schema 0"):
        ResultCache(path)

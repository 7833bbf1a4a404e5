"""Decimal strings onto the integer grid: exact, fast path and slow path agree."""

from __future__ import annotations

import time
from decimal import Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import PrecisionError
from gateways.marketdata.grid import GridParser


@pytest.mark.parametrize(
    ("step", "text", "units"),
    [
        ("0.01", "61837.63000000", 6183763),
        ("0.01", "61837.63", 6183763),
        ("0.01", "61837", 6183700),
        ("0.01", "0.00000000", 0),
        ("0.1", "61800.20", 618002),
        ("0.00000001", "25.426189", 2542618900),
        ("1", "1001", 1001),
        ("0.5", "10.5", 21),
        ("0.25", "3.75", 15),
        ("5", "105", 21),
    ],
)
def test_exact_values(step: str, text: str, units: int) -> None:
    assert GridParser(Decimal(step))(text) == units


@pytest.mark.parametrize(
    ("step", "text"),
    [
        ("0.01", "61837.635"),
        ("0.1", "61800.25"),
        ("0.5", "10.25"),
        ("5", "103"),
        ("1", "1.5"),
    ],
)
def test_off_grid_is_refused_not_rounded(step: str, text: str) -> None:
    with pytest.raises(PrecisionError, match="not a multiple"):
        GridParser(Decimal(step), "BTC price")(text)


@pytest.mark.parametrize(
    "bad", ["", "abc", "1.2.3", "NaN", "inf", "--1", "1e", 1.5, None, True, b"1"]
)
def test_garbage_is_a_precision_error(bad: object) -> None:
    with pytest.raises(PrecisionError):
        GridParser(Decimal("0.01"))(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["3.e0815000", "1E+1000000", 10**40])
def test_a_value_with_an_absurd_exponent_is_refused_at_once(text: object) -> None:
    """Found by the binance_lines fuzz target: "3.e0815000" in a depth level took 80 s
    of CPU to convert, stalling the feed."""
    t0 = time.perf_counter()
    with pytest.raises(PrecisionError, match="out of range"):
        GridParser(Decimal("0.01"), "BTC price")(text)  # type: ignore[arg-type]
    assert time.perf_counter() - t0 < 0.5


def test_unusual_spellings_take_the_exact_slow_path() -> None:
    parse = GridParser(Decimal("0.01"))
    assert parse("1.5E+2") == 15000
    assert parse("61837.") == 6183700
    assert parse(" 1.00") == 100
    assert parse("-1.00") == -100  # the book, not the parser, refuses negative sizes
    assert parse(7) == 700  # type: ignore[arg-type]


def test_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="> 0"):
        GridParser(Decimal(0))


@settings(max_examples=200, deadline=None)
@given(
    units=st.integers(min_value=0, max_value=10**15),
    step=st.sampled_from(["0.01", "0.1", "0.00000001", "1", "0.5", "0.25", "5", "0.001"]),
    pad=st.integers(min_value=0, max_value=6),
)
def test_fast_path_matches_decimal(units: int, step: str, pad: int) -> None:
    d = Decimal(step) * units
    text = format(d, "f")
    if pad and "." in text:
        text += "0" * pad
    elif pad:
        text += "." + "0" * pad
    assert GridParser(Decimal(step))(text) == units


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="0123456789.-+eE ", max_size=30))
def test_any_text_either_parses_exactly_or_raises_precision_error(text: str) -> None:
    parse = GridParser(Decimal("0.01"))
    try:
        value = parse(text)
    except PrecisionError:
        return
    with localcontext() as ctx:
        ctx.prec = 500  # exact for every value the strategy can produce
        assert Decimal(text.strip()) * 100 == value

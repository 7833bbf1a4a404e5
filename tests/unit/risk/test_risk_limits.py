"""Hard caps in code; the config may tighten them, never loosen; frozen at start."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
import structlog
from risk_harness import INSTRUMENTS, make_config

from core.config import ConfigError, Section, config_hash, validate
from core.instruments import Instrument
from risk import limits as caps
from risk.limits import LimitsError, RiskLimitsConfig, SymbolRiskOverride, build_limits

# (config key, hard cap, a value one step looser than the cap)
CAPPED = [
    ("max_order_qty", caps.HARD_MAX_ORDER_QTY, caps.HARD_MAX_ORDER_QTY + 1),
    (
        "max_order_notional",
        caps.HARD_MAX_ORDER_NOTIONAL,
        caps.HARD_MAX_ORDER_NOTIONAL + Decimal("0.01"),
    ),
    ("max_position", caps.HARD_MAX_POSITION, caps.HARD_MAX_POSITION + 1),
    ("max_open_orders", caps.HARD_MAX_OPEN_ORDERS, caps.HARD_MAX_OPEN_ORDERS + 1),
    (
        "max_open_orders_per_symbol",
        caps.HARD_MAX_OPEN_ORDERS_PER_SYMBOL,
        caps.HARD_MAX_OPEN_ORDERS_PER_SYMBOL + 1,
    ),
    ("collar_bps", caps.HARD_MAX_COLLAR_BPS, caps.HARD_MAX_COLLAR_BPS + 1),
    ("participation_bps", caps.HARD_MAX_PARTICIPATION_BPS, caps.HARD_MAX_PARTICIPATION_BPS + 1),
    ("orders_per_second", caps.HARD_MAX_ORDERS_PER_SECOND, caps.HARD_MAX_ORDERS_PER_SECOND + 1),
    ("orders_per_minute", caps.HARD_MAX_ORDERS_PER_MINUTE, caps.HARD_MAX_ORDERS_PER_MINUTE + 1),
    ("cancels_per_second", caps.HARD_MAX_CANCELS_PER_SECOND, caps.HARD_MAX_CANCELS_PER_SECOND + 1),
    ("cancels_per_minute", caps.HARD_MAX_CANCELS_PER_MINUTE, caps.HARD_MAX_CANCELS_PER_MINUTE + 1),
    ("max_daily_loss", caps.HARD_MAX_DAILY_LOSS, caps.HARD_MAX_DAILY_LOSS + 1),
    ("stale_after_ms", caps.HARD_MAX_STALE_MS, caps.HARD_MAX_STALE_MS + 1),
    (
        "rejects_before_kill",
        caps.HARD_MAX_REJECTS_BEFORE_KILL,
        caps.HARD_MAX_REJECTS_BEFORE_KILL + 1,
    ),
    ("reject_window_s", caps.HARD_MIN_REJECT_WINDOW_S, caps.HARD_MIN_REJECT_WINDOW_S - 1),
    ("reset_max_age_s", caps.HARD_MAX_RESET_AGE_S, caps.HARD_MAX_RESET_AGE_S + 1),
]


@pytest.mark.parametrize(("key", "cap", "looser"), CAPPED, ids=[c[0] for c in CAPPED])
def test_a_config_value_looser_than_the_hard_cap_is_refused_at_load_naming_key_value_cap(
    key: str, cap: Any, looser: Any
):
    with pytest.raises(ConfigError) as exc:
        validate(RiskLimitsConfig, {key: looser}, "risk.toml")
    [problem] = exc.value.problems
    assert problem.startswith(f"{key}:")
    assert str(cap) in problem
    assert str(looser) in problem


@pytest.mark.parametrize(("key", "cap", "looser"), CAPPED, ids=[c[0] for c in CAPPED])
def test_build_limits_refuses_a_looser_value_even_when_validation_was_bypassed(
    key: str, cap: Any, looser: Any
):
    cfg = make_config().model_copy(update={key: looser})
    with pytest.raises(LimitsError) as exc:
        build_limits(cfg, INSTRUMENTS, log=False)
    [problem] = exc.value.problems
    assert problem.startswith(f"risk.{key} = {looser} is looser than the hard")
    assert str(cap) in problem


@pytest.mark.parametrize(("key", "cap", "looser"), CAPPED, ids=[c[0] for c in CAPPED])
def test_a_config_value_at_the_hard_cap_is_accepted(key: str, cap: Any, looser: Any):
    build_limits(validate(RiskLimitsConfig, {key: cap}, "risk.toml"), INSTRUMENTS, log=False)


@pytest.mark.parametrize("value", [Decimal(5), 1.5, "10", None, True, -1, 0])
def test_build_limits_refuses_a_count_that_is_not_a_positive_int(value: object):
    cfg = make_config().model_copy(update={"max_position": value})
    with pytest.raises(LimitsError, match=r"risk\.max_position"):
        build_limits(cfg, INSTRUMENTS, log=False)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal(-1), 1000, 1e3])
def test_build_limits_refuses_a_currency_limit_that_is_not_a_positive_finite_decimal(
    value: object,
):
    cfg = make_config().model_copy(update={"max_daily_loss": value})
    with pytest.raises(LimitsError, match=r"risk\.max_daily_loss"):
        build_limits(cfg, INSTRUMENTS, log=False)


def test_every_problem_is_listed_at_once():
    cfg = make_config().model_copy(update={"max_order_qty": 10**9, "collar_bps": 10**6})
    with pytest.raises(LimitsError) as exc:
        build_limits(cfg, INSTRUMENTS, log=False)
    assert len(exc.value.problems) == 2


@pytest.mark.parametrize(
    ("key", "looser"),
    [
        ("max_order_qty", caps.HARD_MAX_ORDER_QTY + 1),
        ("max_order_notional", caps.HARD_MAX_ORDER_NOTIONAL + 1),
        ("max_position", caps.HARD_MAX_POSITION + 1),
        ("max_open_orders", caps.HARD_MAX_OPEN_ORDERS_PER_SYMBOL + 1),
        ("collar_bps", caps.HARD_MAX_COLLAR_BPS + 1),
        ("participation_bps", caps.HARD_MAX_PARTICIPATION_BPS + 1),
    ],
)
def test_a_symbol_override_looser_than_the_hard_cap_is_refused(key: str, looser: Any):
    with pytest.raises(ConfigError) as exc:
        validate(
            RiskLimitsConfig,
            {"allowed_symbols": ["AMZN"], "overrides": {"AMZN": {key: looser}}},
            "risk.toml",
        )
    assert exc.value.problems[0].startswith(f"overrides.AMZN.{key}:")
    override = SymbolRiskOverride.model_construct(**{key: looser})
    cfg = make_config().model_copy(update={"overrides": {"AMZN": override}})
    with pytest.raises(LimitsError, match=rf"risk\.overrides\.AMZN\.{key} = {looser} is looser"):
        build_limits(cfg, INSTRUMENTS, log=False)


def test_an_override_that_is_not_an_override_section_is_refused():
    cfg = make_config().model_copy(update={"overrides": {"AMZN": {"max_position": 10**12}}})
    with pytest.raises(LimitsError, match=r"risk\.overrides\.AMZN: not a"):
        build_limits(cfg, INSTRUMENTS, log=False)


def test_an_override_for_a_symbol_not_on_the_allow_list_is_refused():
    with pytest.raises(ConfigError, match="not in allowed_symbols"):
        validate(
            RiskLimitsConfig,
            {"allowed_symbols": ["AMZN"], "overrides": {"AMZM": {"max_position": 5}}},
            "risk.toml",
        )


def test_an_allowed_symbol_listed_twice_is_refused():
    with pytest.raises(ConfigError, match="twice"):
        validate(RiskLimitsConfig, {"allowed_symbols": ["AMZN", "AMZN"]}, "risk.toml")


def test_an_allowed_symbol_without_an_instrument_is_refused():
    with pytest.raises(LimitsError, match="'GOOG' has no instrument"):
        build_limits(make_config(allowed_symbols=("AMZN", "GOOG"), overrides={}), INSTRUMENTS)


def test_unknown_keys_in_the_risk_section_are_refused():
    with pytest.raises(ConfigError, match="max_ordr_qty: unknown key"):
        validate(RiskLimitsConfig, {"max_ordr_qty": 5}, "risk.toml")


def test_the_section_embeds_in_a_daemon_config_under_risk():
    import tomllib

    class Daemon(Section):
        risk: RiskLimitsConfig = RiskLimitsConfig()

    text = """
    [risk]
    allowed_symbols = ["AMZN"]
    max_order_qty = 500
    max_order_notional = "25000.50"
    [risk.overrides.AMZN]
    max_position = 300
    """
    cfg = validate(Daemon, tomllib.loads(text), "daemon.toml")
    limits = build_limits(cfg.risk, INSTRUMENTS, log=False)
    amzn = limits.symbols["AMZN"]
    assert (amzn.max_order_qty, amzn.max_position) == (500, 300)
    assert amzn.max_order_notional_tu == 2_500_050


def test_defaults_are_within_the_hard_caps():
    build_limits(RiskLimitsConfig(allowed_symbols=("AMZN",)), INSTRUMENTS, log=False)


# ------------------------------------------------------------ frozen at start


def test_the_frozen_limits_cannot_be_changed():
    limits = build_limits(make_config(), INSTRUMENTS, log=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_open_orders = 10**6  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.symbols["AMZN"].max_position = 10**9  # type: ignore[misc]
    with pytest.raises(TypeError):
        limits.symbols["AMZN"] = limits.symbols["LOTS"]  # type: ignore[index]


def test_the_config_section_is_frozen_too():
    cfg = make_config()
    with pytest.raises(Exception, match="frozen"):
        cfg.max_position = 10**9  # type: ignore[misc]


def test_the_config_hash_is_logged_when_limits_are_frozen():
    cfg = make_config()
    with structlog.testing.capture_logs() as logs:
        limits = build_limits(cfg, INSTRUMENTS)
    [line] = [e for e in logs if e["event"] == "risk_limits_frozen"]
    assert line["config_hash"] == config_hash(cfg) == limits.config_hash


def test_an_empty_allow_list_is_allowed_but_warned_about():
    with structlog.testing.capture_logs() as logs:
        limits = build_limits(RiskLimitsConfig(), INSTRUMENTS)
    assert not limits.symbols
    assert any(e["event"] == "risk_allow_list_empty" for e in logs)


# -------------------------------------------------- per-symbol precomputation


def test_notional_cap_is_converted_to_tick_units_rounding_down():
    inst = Instrument("X", tick_size=Decimal("0.03"))
    cfg = make_config(allowed_symbols=("X",), overrides={}, max_order_notional=Decimal("100"))
    sym = build_limits(cfg, [inst], log=False).symbols["X"]
    assert sym.max_order_notional_tu == 3_333  # 100 / 0.03 = 3333.33...


def test_instrument_max_qty_tightens_the_risk_max_order_qty():
    cfg = make_config()
    assert build_limits(cfg, INSTRUMENTS, log=False).symbols["TINY"].max_order_qty == 300


def test_per_symbol_open_orders_never_exceed_the_node_limit():
    cfg = make_config(max_open_orders=3, max_open_orders_per_symbol=50)
    assert build_limits(cfg, INSTRUMENTS, log=False).symbols["AMZN"].max_open_orders == 3

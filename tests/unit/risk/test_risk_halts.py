"""Typed halts: a closed set of reasons not to trade, the symbol as data, each documented;
they feed the overlay's trading state, so a denial names the halt behind it, and each
kind says what lifts it (and the overlay refuses anything else)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from risk_harness import Harness, approved, denied

from core.types import Side
from risk.command_auth import CommandRefused
from risk.events import HaltCleared, HaltRaised, RiskEvent
from risk.halts import Halt, HaltKind, HaltLift
from risk.reasons import DenyReason as R
from risk.reasons import StateBlock
from risk.trading_state import TradingState

DOC = Path(__file__).resolve().parents[3] / "docs" / "risk.md"
FIX_DOWN = Halt(HaltKind.FIX_DOWN)
MD_AMZN = Halt.market_data("AMZN")

# ------------------------------------------------------------ the values


def test_every_halt_kind_is_documented_with_its_label_scope_and_lift():
    section = DOC.read_text().split("\n## Halts\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `(\w+)` \| `([^`]+)` \| (\w+) \| [^|]+ \| `(\w+)`", line)
        if m:
            rows[m[1]] = (m[2], m[3], m[4])
    assert list(rows) == [k.name for k in HaltKind]  # all of them, in the enum's order
    for kind in HaltKind:
        label, scope, lift = rows[kind.name]
        assert label == (f"{kind.value}:<SYMBOL>" if kind.per_symbol else kind.value)
        assert scope == ("symbol" if kind.per_symbol else "node")
        assert lift == kind.lift.value


def test_halt_kind_values_are_prometheus_label_values():
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", k.value) for k in HaltKind)


def test_only_market_data_halts_name_a_symbol():
    assert MD_AMZN.symbol == "AMZN"
    with pytest.raises(ValueError, match="names its symbol"):
        Halt(HaltKind.MARKET_DATA)
    with pytest.raises(ValueError, match="node-wide"):
        Halt(HaltKind.FIX_DOWN, "AMZN")
    with pytest.raises(TypeError):
        Halt("fix_down")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "halt", [FIX_DOWN, MD_AMZN, Halt(HaltKind.RECONCILING), Halt(HaltKind.KILL_SWITCH)]
)
def test_a_halt_reads_back_from_the_label_the_node_has_always_used(halt: Halt):
    assert Halt.parse(halt.label) == halt
    assert str(halt) == halt.label


def test_labels_are_the_old_strings():
    assert FIX_DOWN.label == "fix_down"
    assert MD_AMZN.label == "md:AMZN"


@pytest.mark.parametrize("label", ["", "md", "md:", "fix_down:AMZN", "FIX_DOWN", "halted"])
def test_a_label_that_is_not_a_halt_is_refused(label: str):
    with pytest.raises(ValueError, match="not a halt"):
        Halt.parse(label)


# ------------------------------------------------ what a halt stops, and says


def test_a_node_halt_denies_new_orders_and_names_the_halt(h: Harness):
    assert h.ov.halt(FIX_DOWN, "FIX session lost: peer closed", h.now)
    d = denied(h.new())
    assert d.reason is R.TRADING_HALTED
    assert d.context == StateBlock(
        "node", "halted", "halt fix_down: FIX session lost: peer closed", FIX_DOWN
    )
    record = d.as_dict()
    assert record["halt"] == "fix_down"
    assert orjson.loads(orjson.dumps(record)) == record


def test_a_node_halt_denies_replaces_and_lets_cancels_through(h: Harness):
    a = approved(h.new(qty=100, price=9_990))
    h.ov.halt(FIX_DOWN, "down", h.now)
    assert denied(h.replace(a, 120, 9_990)).reason is R.TRADING_HALTED
    approved(h.cancel(a.request.cl_ord_id))


def test_a_market_data_halt_stops_only_its_symbol(h: Harness):
    h.ov.halt(MD_AMZN, "stale: no frame for 2.1 s", h.now)
    d = denied(h.new(symbol="AMZN"))
    assert d.context == StateBlock(
        "symbol", "halted", "halt md:AMZN: stale: no frame for 2.1 s", MD_AMZN
    )
    approved(h.new(symbol="TINY", qty=10))
    assert h.ov.trading_state("AMZN") is TradingState.HALTED
    assert h.ov.trading_state("TINY") is TradingState.ACTIVE
    assert h.ov.trading_state() is TradingState.ACTIVE


def test_halts_feed_the_trading_state_and_halted_by_names_the_first(h: Harness):
    assert h.ov.halted_by("AMZN") is None
    h.ov.halt(MD_AMZN, "stale", h.now)
    h.ov.halt(FIX_DOWN, "down", h.now)
    assert h.ov.halted_by("AMZN") == MD_AMZN
    assert h.ov.halted_by("TINY") == FIX_DOWN
    assert h.ov.halted_by() == FIX_DOWN
    assert h.ov.trading_state() is TradingState.HALTED


def test_the_kill_switch_is_listed_first_among_the_halts(h: Harness):
    h.ov.halt(MD_AMZN, "stale", h.now)
    h.ov.engage_kill_switch("operator says stop", h.now)
    assert h.ov.halts() == {
        Halt(HaltKind.KILL_SWITCH): "command operator says stop",
        MD_AMZN: "stale",
    }
    assert h.ov.halted_by("TINY") == Halt(HaltKind.KILL_SWITCH)
    assert denied(h.new()).context.halt == Halt(HaltKind.KILL_SWITCH)  # type: ignore[union-attr]


def test_the_snapshot_lists_the_halts_by_label(h: Harness):
    h.ov.halt(MD_AMZN, "stale", h.now)
    assert h.ov.snapshot()["halts"] == {"md:AMZN": "stale"}


def test_an_operator_halt_and_a_typed_halt_are_told_apart(h: Harness):
    h.ov.set_trading_state(TradingState.HALTED, now_ns=h.now, source="operator")
    h.ov.halt(FIX_DOWN, "down", h.now)
    assert denied(h.new()).context == StateBlock("node", "halted", "node trading state")


# -------------------------------------------------------- raising, lifting


def test_clearing_a_halt_lets_orders_through_again(h: Harness):
    h.ov.halt(MD_AMZN, "stale", h.now)
    assert h.ov.clear_halt(MD_AMZN, h.now)
    approved(h.new())
    assert h.ov.halts() == {}
    assert not h.ov.clear_halt(MD_AMZN, h.now)  # not raised: nothing to lift


def test_raising_a_halt_again_only_updates_its_detail(h: Harness):
    events: list[RiskEvent] = []
    h.ov.add_listener(events.append)
    assert h.ov.halt(FIX_DOWN, "first", h.now)
    assert not h.ov.halt(FIX_DOWN, "second", h.now)
    assert not h.ov.halt(FIX_DOWN, "second", h.now)
    assert h.ov.halts() == {FIX_DOWN: "second"}
    assert [e for e in events if isinstance(e, HaltRaised)] == [
        HaltRaised(FIX_DOWN, "first", h.now)
    ]


def test_listeners_hear_a_halt_raised_and_cleared(h: Harness, logs: list[dict[str, object]]):
    events: list[RiskEvent] = []
    h.ov.add_listener(events.append)
    h.ov.halt(MD_AMZN, "stale", h.now)
    h.ov.clear_halt(MD_AMZN, h.now)
    assert events == [HaltRaised(MD_AMZN, "stale", h.now), HaltCleared(MD_AMZN, h.now)]
    [raised] = [e for e in logs if e["event"] == "risk_halt"]
    assert raised["halt"] == "md:AMZN"
    assert raised["lift"] == "when_cleared"
    assert any(e["event"] == "risk_halt_cleared" for e in logs)


@pytest.mark.parametrize("kind", [k for k in HaltKind if k.lift is HaltLift.RESTART])
def test_a_halt_that_needs_a_restart_cannot_be_cleared(h: Harness, kind: HaltKind):
    halt = Halt(kind)
    h.ov.halt(halt, "books may be wrong", h.now)
    with pytest.raises(CommandRefused, match="restart") as exc:
        h.ov.clear_halt(halt, h.now)
    assert exc.value.failure == "needs_restart"
    assert denied(h.new()).reason is R.TRADING_HALTED


def test_the_kill_switch_is_neither_raised_nor_cleared_as_a_halt(h: Harness):
    with pytest.raises(ValueError, match="engage_kill_switch"):
        h.ov.halt(Halt(HaltKind.KILL_SWITCH), "stop", h.now)
    h.ov.engage_kill_switch("stop", h.now)
    with pytest.raises(CommandRefused) as exc:
        h.ov.clear_halt(Halt(HaltKind.KILL_SWITCH), h.now)
    assert exc.value.failure == "needs_signed_reset"
    assert h.ov.kill_switch.engaged


def test_a_halt_that_is_not_a_halt_value_is_refused(h: Harness):
    with pytest.raises(TypeError):
        h.ov.halt("fix_down", "down", h.now)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.ov.clear_halt("fix_down", h.now)  # type: ignore[arg-type]


def test_a_market_data_halt_for_a_symbol_risk_does_not_trade_is_listed_and_harmless(h: Harness):
    h.ov.halt(Halt.market_data("MSFT"), "stale", h.now)
    approved(h.new())
    assert Halt.market_data("MSFT") in h.ov.halts()


def test_halts_apply_to_sells_and_market_orders_alike(h: Harness):
    h.ov.halt(FIX_DOWN, "down", h.now)
    assert denied(h.new(side=Side.SELL, price=10_001)).reason is R.TRADING_HALTED
    assert denied(h.market(10)).reason is R.TRADING_HALTED

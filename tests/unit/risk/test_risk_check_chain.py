"""The check chain runs composed (risk/check_chain.py) and answers as the written one.

``check_new`` / ``check_replace`` are written as an ``or`` chain of one short method per
check and run with that chain inlined. These tests hold the two to each other: the same
requests, in the same order, against twin overlays, get the same answers and leave the
same state; the written source stays what a reader (and the checks-table test) sees;
replacing a check on the class runs the written chain with it; a check that cannot be
inlined safely is refused when the class is created.
"""

from __future__ import annotations

import inspect
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_harness import Harness

from core.requests import NewOrderRequest, ReplaceRequest
from core.types import ExecType, OrdStatus, OrdType, Side
from risk.approval import Approved
from risk.check_chain import ComposedChecks, composed_source
from risk.overlay import RiskOverlay
from risk.reasons import Denied, DenyReason, LimitBreach

WRITTEN = RiskOverlay.__dict__["_written_entries"]
COMPOSED = RiskOverlay.__dict__["_composed_fns"]

QTY = st.one_of(
    st.sampled_from([1, 50, 100, 300, 800, 5_000, 20_000]),
    st.sampled_from([0, -1, 10**18, 1.5, "100", None, True]),
)
OFFSET = st.integers(-3_000, 300)  # ticks away from the mid, passive when positive
SIDE = st.sampled_from([Side.BUY, Side.SELL, Side.BUY, Side.SELL, 2, None])
SYMBOL = st.sampled_from(["AMZN", "AMZN", "LOTS", "TINY", "MSFT", "", 7, "AMZN\x01"])
CL_ORD_ID = st.sampled_from(["", "A\x01", "x" * 200, "é"])  # odd ids; most are fresh
STEP = st.one_of(
    st.tuples(st.just("new"), QTY, OFFSET, SIDE, SYMBOL, st.booleans(), st.none() | CL_ORD_ID),
    st.tuples(st.just("replace"), st.integers(0, 40), QTY, OFFSET),
    st.tuples(st.just("fill"), st.integers(0, 40), st.integers(1, 300)),
    st.tuples(st.just("cancel"), st.integers(0, 40)),
    st.tuples(st.just("time"), st.sampled_from([0.001, 0.3, 1.0, 5.0])),
)


class _Twin:
    """One harness whose overlay answers through the written chain, or the composed one."""

    def __init__(self, path: Path, *, written: bool) -> None:
        self.h = Harness(path)
        self.written = written
        self.approved: list[Approved[Any]] = []

    def check(self, entry: str, req: object) -> object:
        fn = (WRITTEN if self.written else COMPOSED)[entry]
        return fn(self.h.ov, req, self.h.now)

    def step(self, step: tuple[Any, ...]) -> object:
        h = self.h
        kind = step[0]
        if kind == "new":
            _, qty, offset, side, symbol, market, cid = step
            px = 10_000 - offset if side is Side.BUY else 10_000 + offset
            req = NewOrderRequest(
                cid if cid is not None else h.next_id(),
                symbol,
                side,
                qty,
                None if market else px,
                OrdType.MARKET if market else OrdType.LIMIT,
            )
            out = self.check("check_new", req)
        elif kind == "replace":
            if not self.approved:
                return None
            o = self.approved[step[1] % len(self.approved)].request
            px = 10_000 - step[3] if o.side is Side.BUY else 10_000 + step[3]
            rep = ReplaceRequest(h.next_id("R"), o.cl_ord_id, o.symbol, o.side, step[2], px)
            out = self.check("check_replace", rep)
        elif kind == "fill":
            if not self.approved:
                return None
            a = self.approved[step[1] % len(self.approved)]
            h.fill(a, min(step[2], a.request.qty), a.request.price or 10_000)
            return None
        elif kind == "cancel":
            if not self.approved:
                return None
            o = self.approved[step[1] % len(self.approved)].request
            h.report(
                o.cl_ord_id, ExecType.CANCELED, OrdStatus.CANCELED, symbol=o.symbol, side=o.side
            )
            return None
        else:
            h.advance(step[1])
            h.refresh()
            return None
        if isinstance(out, Approved):
            self.approved.append(out)
        return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, Approved) and isinstance(b, Approved):
        return a.request == b.request and a.approved_ns == b.approved_ns
    return a == b


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(STEP, min_size=5, max_size=40))
def test_the_composed_chain_answers_every_request_as_the_written_one(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[Any, ...]]
) -> None:
    base = tmp_path_factory.mktemp("twins")
    written, composed = _Twin(base / "w.json", written=True), _Twin(base / "c.json", written=False)
    for step in steps:
        a, b = written.step(step), composed.step(step)
        assert _same(a, b), (step, a, b)
        assert written.h.ov.snapshot() == composed.h.ov.snapshot()
        assert written.h.ov.denials == composed.h.ov.denials


def test_the_written_chain_is_what_the_source_shows_and_the_composed_one_runs() -> None:
    for entry in ("check_new", "check_replace"):
        assert RiskOverlay.__dict__[entry] is COMPOSED[entry]
        assert inspect.unwrap(RiskOverlay.__dict__[entry]) is WRITTEN[entry]
        assert "or self._check_trading_state(o)" in inspect.getsource(RiskOverlay.__dict__[entry])
        source = composed_source(RiskOverlay, entry)
        assert "self._check_" not in source  # every link inlined: no call left
        assert "_trading_state_halt" in source  # a check's local, prefixed with its name


def test_replacing_a_check_runs_the_written_chain_with_it_until_the_original_is_back(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def deny_all(self: RiskOverlay, o: Any) -> Denied:
        return o.deny(DenyReason.MAX_POSITION, LimitBreach("max_position", 0, 1, "units"))

    with monkeypatch.context() as m:
        m.setattr(RiskOverlay, "_check_exposure", deny_all)
        assert RiskOverlay.__dict__["check_new"] is WRITTEN["check_new"]
        d = h.new()
        assert isinstance(d, Denied) and d.reason is DenyReason.MAX_POSITION
    assert RiskOverlay.__dict__["check_new"] is COMPOSED["check_new"]
    assert isinstance(h.new(), Approved)


def test_a_check_that_cannot_be_inlined_safely_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="_check_loop: cannot be inlined"):

        class _Looping(metaclass=ComposedChecks):
            _composed_entries = ("check",)

            def check(self, o: Any) -> Any:
                return self._check_loop(o) or self._check_loop(o)

            def _check_loop(self, o: Any) -> Any:
                for x in o:
                    return x
                return None


def test_a_check_that_returns_early_still_lets_the_next_one_run() -> None:
    class Chain(metaclass=ComposedChecks):
        _composed_entries = ("check",)

        def check(self, o: list[str]) -> object:
            return self._check_a(o) or self._check_b(o)

        def _check_a(self, o: list[str]) -> object:
            seen = len(o)
            o.append("a")
            if seen:
                return None
            return None

        def _check_b(self, o: list[str]) -> object:
            seen = Decimal(len(o))
            o.append("b")
            return f"b after {seen}"

    trail: list[str] = []
    assert Chain().check(trail) == "b after 1" and trail == ["a", "b"]
    assert "self._check_" not in composed_source(Chain, "check")

"""The kill switch: engaged by command, by the daily-loss check or by venue rejects; it
stops new orders, hands back every open order to cancel, survives a restart, and only
an authenticated reset lifts it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from risk_harness import KEY, Harness, approved, denied, make_config

from core.types import ExecType, OrdStatus, Side
from risk.command_auth import AuthFailure, CommandRefused, signed
from risk.events import KillCause, KillSwitchEngaged, KillSwitchReset, RiskEvent
from risk.halts import Halt, HaltKind
from risk.kill_switch import RESET_ACTION
from risk.reasons import DenyReason as R
from risk.reasons import LimitBreach, StateBlock
from risk.trading_state import TradingState

# ------------------------------------------------------------- by command


def test_engaging_by_command_returns_every_open_order_to_cancel(h: Harness):
    a = approved(h.new(qty=100, price=9_990))
    b = approved(h.new(qty=200, side=Side.SELL, price=10_010))
    orders = h.ov.engage_kill_switch("operator says stop", h.now)
    assert {o.cl_ord_id for o in orders} == {a.request.cl_ord_id, b.request.cl_ord_id}


def test_engaged_kill_switch_denies_new_orders_with_kill_switch_engaged(h: Harness):
    h.ov.engage_kill_switch("operator says stop", h.now)
    d = denied(h.new())
    assert d.reason is R.KILL_SWITCH_ENGAGED
    assert d.context == StateBlock(
        "node", "halted", "kill switch: command operator says stop", Halt(HaltKind.KILL_SWITCH)
    )
    assert h.ov.trading_state() is TradingState.HALTED
    assert h.ov.trading_state("AMZN") is TradingState.HALTED


def test_engaged_kill_switch_lets_every_cancel_through(h: Harness):
    approved(h.new(qty=100, price=9_990))
    approved(h.new(qty=100, price=9_980))
    for o in h.ov.engage_kill_switch("stop", h.now):
        approved(h.cancel(o.cl_ord_id, side=o.side))


def test_engaging_twice_keeps_the_first_cause_and_still_returns_open_orders(h: Harness):
    approved(h.new(qty=100))
    h.ov.engage_kill_switch("first", h.now)
    again = h.ov.engage_kill_switch("second", h.now)
    assert len(again) == 1
    assert h.ov.kill_switch.status.detail == "first"


def test_listeners_hear_the_engagement(h: Harness):
    events: list[RiskEvent] = []
    h.ov.add_listener(events.append)
    h.ov.engage_kill_switch("stop", h.now)
    [event] = [e for e in events if isinstance(e, KillSwitchEngaged)]
    assert event.cause is KillCause.COMMAND


# ------------------------------------------------------------ by daily loss


def _long_100_at_100(h: Harness) -> None:
    a = approved(h.new(qty=100, price=10_000))
    h.fill(a, 100, 10_000, status=OrdStatus.FILLED)


def test_loss_exactly_at_the_limit_does_not_engage(h: Harness):
    _long_100_at_100(h)
    event = h.ov.on_book("AMZN", h.book("AMZN", bids=((9_000, 10),), asks=((9_002, 10),)), h.now)
    assert event is None
    assert h.ov.daily_pnl() == Decimal("-1000.00")
    assert not h.ov.kill_switch.engaged


def test_marked_to_market_loss_beyond_the_limit_engages_the_kill_switch(h: Harness):
    _long_100_at_100(h)
    events: list[RiskEvent] = []
    h.ov.add_listener(events.append)
    h.book("AMZN", bids=((8_999, 10),), asks=((9_001, 10),))
    assert h.ov.kill_switch.engaged
    [event] = [e for e in events if isinstance(e, KillSwitchEngaged)]
    assert event.cause is KillCause.MAX_DAILY_LOSS
    assert denied(h.new(price=9_000)).reason is R.KILL_SWITCH_ENGAGED


def test_on_book_returns_the_engagement_it_caused(h: Harness):
    _long_100_at_100(h)
    book = h.book("AMZN", bids=((9_500, 10),), asks=((9_502, 10),))
    book.apply_snapshot([(8_999, 10)], [(9_001, 10)])
    event = h.ov.on_book("AMZN", book, h.now)
    assert isinstance(event, KillSwitchEngaged)


def test_realized_loss_beyond_the_limit_engages_the_kill_switch(h: Harness):
    _long_100_at_100(h)
    h.book("AMZN", bids=((9_010, 500),), asks=((9_012, 500),))
    s = approved(h.new(qty=100, side=Side.SELL, price=9_010))
    event = h.fill(s, 100, 8_999, status=OrdStatus.FILLED)  # a bad print below the bid
    assert isinstance(event, KillSwitchEngaged)
    assert event.cause is KillCause.MAX_DAILY_LOSS


def test_after_a_reset_the_loss_latch_still_allows_only_reducing_orders(h: Harness):
    _long_100_at_100(h)
    h.book("AMZN", bids=((8_999, 500),), asks=((9_001, 500),))
    h.ov.reset_kill_switch(h.reset_command(), h.now)
    d = denied(h.new(qty=1, price=9_000))
    assert d.reason is R.MAX_DAILY_LOSS
    assert d.context == LimitBreach("max_daily_loss", Decimal(1000), Decimal("1001.00"), "currency")
    approved(h.new(qty=100, side=Side.SELL, price=9_001))


def test_a_new_trading_day_clears_the_loss_latch(h: Harness):
    _long_100_at_100(h)
    h.book("AMZN", bids=((8_999, 500),), asks=((9_001, 500),))
    h.ov.reset_kill_switch(h.reset_command(), h.now)
    h.ov.roll_trading_day(h.now)
    assert h.ov.daily_pnl() == 0
    approved(h.new(qty=1, price=9_000))


def test_the_loss_latch_engages_the_kill_switch_once_not_on_every_tick(h: Harness):
    _long_100_at_100(h)
    h.book("AMZN", bids=((8_999, 500),), asks=((9_001, 500),))
    h.ov.reset_kill_switch(h.reset_command(), h.now)
    h.book("AMZN", bids=((8_000, 500),), asks=((8_002, 500),))
    assert not h.ov.kill_switch.engaged  # the operator may now work the position down


# --------------------------------------------------------- by venue rejects


def test_rejects_below_the_threshold_do_not_engage(h: Harness):
    for _ in range(2):
        a = approved(h.new(qty=1))
        assert h.rejected(a.request.cl_ord_id) is None
    assert not h.ov.kill_switch.engaged


def test_n_venue_rejects_within_the_window_engage_the_kill_switch(h: Harness):
    results = []
    for _ in range(3):
        a = approved(h.new(qty=1))
        results.append(h.rejected(a.request.cl_ord_id))
    assert isinstance(results[-1], KillSwitchEngaged)
    assert results[-1].cause is KillCause.VENUE_REJECTS


def test_rejects_spread_wider_than_the_window_do_not_engage(h: Harness):
    for _ in range(5):
        a = approved(h.new(qty=1))
        h.rejected(a.request.cl_ord_id)
        h.advance(31)
        h.refresh()
        h.trade("AMZN", 10_000)
    assert not h.ov.kill_switch.engaged


def test_a_resent_reject_counts_once(h: Harness):
    a = approved(h.new(qty=1))
    for _ in range(5):
        h.report(a.request.cl_ord_id, ExecType.REJECTED, OrdStatus.REJECTED, exec_id="REJ-1")
    assert not h.ov.kill_switch.engaged


# ----------------------------------------------------- persisted across restart


def test_an_engaged_kill_switch_is_still_engaged_after_a_restart(tmp_path: Path):
    path = tmp_path / "ks.json"
    h1 = Harness(path)
    h1.ov.engage_kill_switch("before restart", h1.now)
    h2 = Harness(path)
    assert h2.ov.kill_switch.engaged
    d = denied(h2.new())
    assert d.reason is R.KILL_SWITCH_ENGAGED
    assert "before restart" in d.context.cause  # type: ignore[union-attr]


def test_first_start_without_a_state_file_is_disengaged_and_creates_it(tmp_path: Path):
    path = tmp_path / "sub" / "ks.json"
    h = Harness(path)
    assert not h.ov.kill_switch.engaged
    assert orjson.loads(path.read_bytes())["engaged"] is False


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'{"engaged": false}', b"\xff\xfe"],
    ids=["empty", "garbage", "array", "no-checksum", "binary"],
)
def test_a_corrupt_state_file_starts_engaged_and_is_kept_aside(
    tmp_path: Path, content: bytes, logs: list[dict[str, object]]
):
    path = tmp_path / "ks.json"
    path.write_bytes(content)
    h = Harness(path)
    assert h.ov.kill_switch.engaged
    assert h.ov.kill_switch.status.cause is KillCause.STATE_FILE
    assert list(tmp_path.glob("ks.json.corrupt-*"))
    assert any(e["event"] == "kill_switch_engaged_at_start" for e in logs)
    assert denied(h.new()).reason is R.KILL_SWITCH_ENGAGED


def test_a_state_file_edited_to_disengaged_fails_its_checksum_and_starts_engaged(tmp_path: Path):
    path = tmp_path / "ks.json"
    Harness(path).ov.engage_kill_switch("x", 0)
    data = orjson.loads(path.read_bytes())
    data["engaged"] = False
    path.write_bytes(orjson.dumps(data))
    assert Harness(path).ov.kill_switch.engaged


def test_an_unreadable_state_file_starts_engaged(tmp_path: Path):
    path = tmp_path / "ks.json"
    path.mkdir()  # reading a directory fails like a permission error would
    h = Harness(path)
    assert h.ov.kill_switch.engaged
    assert "unreadable" in h.ov.kill_switch.status.detail


def test_a_state_file_that_cannot_be_created_starts_engaged(tmp_path: Path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    h = Harness(blocker / "ks.json")
    assert h.ov.kill_switch.engaged


def test_the_state_file_is_replaced_atomically_leaving_no_temp_files(tmp_path: Path):
    h = Harness(tmp_path / "ks.json")
    h.ov.engage_kill_switch("x", h.now)
    h.ov.reset_kill_switch(h.reset_command(), h.now)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ks.json"]


# ------------------------------------------------------- authenticated reset


def test_a_valid_signed_reset_disengages_and_persists(tmp_path: Path):
    path = tmp_path / "ks.json"
    h = Harness(path)
    h.ov.engage_kill_switch("stop", h.now)
    events: list[RiskEvent] = []
    h.ov.add_listener(events.append)
    assert h.ov.reset_kill_switch(h.reset_command(), h.now) is True
    assert not h.ov.kill_switch.engaged
    assert any(isinstance(e, KillSwitchReset) for e in events)
    approved(h.new())
    assert not Harness(path).ov.kill_switch.engaged


def test_reset_signed_with_the_wrong_key_is_refused(h: Harness):
    h.ov.engage_kill_switch("stop", h.now)
    cmd = signed(b"w" * 32, RESET_ACTION, h.now, "nonce-aaaaaaaaaaaa")
    with pytest.raises(CommandRefused) as exc:
        h.ov.reset_kill_switch(cmd, h.now)
    assert exc.value.failure is AuthFailure.BAD_SIGNATURE
    assert h.ov.kill_switch.engaged


def test_reset_older_than_the_max_age_is_refused(h: Harness):
    h.ov.engage_kill_switch("stop", h.now)
    cmd = h.reset_command(ts_ns=h.now - 60_000_000_001)
    with pytest.raises(CommandRefused) as exc:
        h.ov.reset_kill_switch(cmd, h.now)
    assert exc.value.failure is AuthFailure.EXPIRED


def test_reset_exactly_max_age_old_is_accepted(h: Harness):
    h.ov.engage_kill_switch("stop", h.now)
    h.ov.reset_kill_switch(h.reset_command(ts_ns=h.now - 60_000_000_000), h.now)
    assert not h.ov.kill_switch.engaged


def test_reset_from_the_future_is_refused(h: Harness):
    h.ov.engage_kill_switch("stop", h.now)
    with pytest.raises(CommandRefused) as exc:
        h.ov.reset_kill_switch(h.reset_command(ts_ns=h.now + 6_000_000_000), h.now)
    assert exc.value.failure is AuthFailure.FROM_THE_FUTURE


def test_a_replayed_reset_is_refused(h: Harness):
    cmd = h.reset_command()
    h.ov.engage_kill_switch("stop", h.now)
    h.ov.reset_kill_switch(cmd, h.now)
    h.ov.engage_kill_switch("stop again", h.now)
    with pytest.raises(CommandRefused) as exc:
        h.ov.reset_kill_switch(cmd, h.now)
    assert exc.value.failure is AuthFailure.REPLAYED
    assert h.ov.kill_switch.engaged


def test_a_replayed_reset_is_refused_even_after_a_restart(tmp_path: Path):
    path = tmp_path / "ks.json"
    h1 = Harness(path)
    cmd = h1.reset_command()
    h1.ov.engage_kill_switch("stop", h1.now)
    h1.ov.reset_kill_switch(cmd, h1.now)
    h1.ov.engage_kill_switch("stop again", h1.now)
    h2 = Harness(path)
    with pytest.raises(CommandRefused) as exc:
        h2.ov.reset_kill_switch(cmd, h2.now)
    assert exc.value.failure is AuthFailure.REPLAYED


def test_a_command_signed_for_another_action_is_refused(h: Harness):
    h.ov.engage_kill_switch("stop", h.now)
    cmd = signed(KEY, "symbol.resume", h.now, "nonce-bbbbbbbbbbbb")
    with pytest.raises(CommandRefused) as exc:
        h.ov.reset_kill_switch(cmd, h.now)
    assert exc.value.failure is AuthFailure.WRONG_ACTION


@pytest.mark.parametrize("cmd", [None, "reset", {"action": RESET_ACTION}])
def test_something_that_is_not_a_signed_command_is_refused(h: Harness, cmd: object):
    h.ov.engage_kill_switch("stop", h.now)
    with pytest.raises(CommandRefused) as exc:
        h.ov.reset_kill_switch(cmd, h.now)
    assert exc.value.failure is AuthFailure.MALFORMED


def test_refused_resets_are_logged_with_the_reason(h: Harness, logs: list[dict[str, object]]):
    h.ov.engage_kill_switch("stop", h.now)
    with pytest.raises(CommandRefused):
        h.ov.reset_kill_switch(signed(b"w" * 32, RESET_ACTION, h.now, "nonce-cccccccccccc"), h.now)
    [line] = [e for e in logs if e["event"] == "risk_kill_switch_reset_refused"]
    assert line["failure"] == "bad_signature"


def test_a_reset_that_cannot_be_persisted_is_refused_and_the_switch_stays_engaged(
    tmp_path: Path,
):
    path = tmp_path / "state" / "ks.json"
    h = Harness(path)
    h.ov.engage_kill_switch("stop", h.now)
    path.unlink()
    path.parent.rmdir()
    path.parent.write_text("now a file")  # the directory is gone: writes fail
    with pytest.raises(CommandRefused, match="persist"):
        h.ov.reset_kill_switch(h.reset_command(), h.now)
    assert h.ov.kill_switch.engaged


def test_engaging_when_the_state_file_cannot_be_written_still_engages(
    tmp_path: Path, logs: list[dict[str, object]]
):
    path = tmp_path / "state" / "ks.json"
    h = Harness(path)
    path.unlink()
    path.parent.rmdir()
    path.parent.write_text("now a file")
    h.ov.engage_kill_switch("stop", h.now)
    assert h.ov.kill_switch.engaged
    assert any(e["event"] == "kill_switch_not_persisted" for e in logs)


# ---------------------------------------------------- trading state and the switch


def test_tightening_the_trading_state_is_always_allowed(h: Harness):
    h.ov.engage_kill_switch("stop", h.now)
    h.ov.set_trading_state(TradingState.HALTED, now_ns=h.now, source="ops", symbol="AMZN")


def test_loosening_the_trading_state_under_the_kill_switch_is_refused(h: Harness):
    h.ov.set_trading_state(TradingState.REDUCING, now_ns=h.now, source="ops")
    h.ov.engage_kill_switch("stop", h.now)
    with pytest.raises(CommandRefused, match="reset it first"):
        h.ov.set_trading_state(TradingState.ACTIVE, now_ns=h.now, source="ops")


def test_loosening_is_allowed_again_after_the_authenticated_reset(h: Harness):
    h.ov.set_trading_state(TradingState.REDUCING, now_ns=h.now, source="ops")
    h.ov.engage_kill_switch("stop", h.now)
    h.ov.reset_kill_switch(h.reset_command(), h.now)
    assert h.ov.trading_state() is TradingState.REDUCING
    h.ov.set_trading_state(TradingState.ACTIVE, now_ns=h.now, source="ops")
    approved(h.new())


def test_a_kill_switch_that_starts_engaged_logs_why(tmp_path: Path, logs: list[dict[str, object]]):
    path = tmp_path / "ks.json"
    Harness(path).ov.engage_kill_switch("from yesterday", 0)
    Harness(path, make_config())
    [line] = [e for e in logs if e["event"] == "kill_switch_engaged_at_start"]
    assert line["detail"] == "from yesterday"


def test_the_control_plane_may_bind_its_own_command_name_into_the_signed_action(h: Harness):
    h.ov.engage_kill_switch("stop", h.now)
    action = "reset_kill:" + "a" * 40
    cmd = signed(KEY, action, h.now, "nonce-dddddddddddd")
    with pytest.raises(CommandRefused):
        h.ov.reset_kill_switch(cmd, h.now)  # not signed for the default action
    h.ov.reset_kill_switch(cmd, h.now, action=action)
    assert not h.ov.kill_switch.engaged

"""The participation window kept in the journal and handed back to risk after a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.instruments import Instrument
from daemon import volume_history
from daemon.journal import Journal
from risk.limits import RiskLimitsConfig
from risk.overlay import RiskOverlay

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def overlay(tmp: Path, name: str) -> RiskOverlay:
    return RiskOverlay.from_config(
        RiskLimitsConfig(allowed_symbols=("AMZN",), participation_window_s=60),
        [Instrument("AMZN")],
        state_path=str(tmp / f"{name}.json"),
        reset_key=b"k" * 32,
        now_ns=T0,
    )


def test_the_window_kept_is_summed_per_interval_and_never_ages_out_later(tmp_path: Path) -> None:
    risk = overlay(tmp_path, "a")
    for i in range(120):  # a print every 0.25 s for 30 s
        risk.on_market_trade("AMZN", 100, T0 + i * S // 4)
    journal = Journal(tmp_path / "journal.db")
    volume_history.keep(journal, risk, ["AMZN"])
    journal.close()

    fresh = overlay(tmp_path, "b")
    journal = Journal(tmp_path / "journal.db")  # a restart
    restored = volume_history.restore(journal, fresh, {"AMZN": [(T0 + 10 * S, 50)]})
    assert restored == {"AMZN": 12_000}
    prints = fresh.market_prints("AMZN")
    assert len(prints) == 60  # 0.5 s intervals (1/120 of the 60 s window)
    originals = risk.market_prints("AMZN")
    assert sum(q for _, q in prints) == sum(q for _, q in originals)
    # each interval is stamped no later than the prints it sums: it expires first
    for ts, _ in prints:
        assert any(o_ts >= ts for o_ts, _ in originals)
        assert ts % (S // 2) == 0
    # our fills came back too: the cap counts them again
    assert fresh._symbols["AMZN"].our_volume.total == 50


def test_a_missing_or_unreadable_snapshot_restores_our_fills_only(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.db")
    risk = overlay(tmp_path, "a")
    assert volume_history.restore(journal, risk, {}) == {}
    journal.save_snapshot(volume_history.KEY, {"AMZN": [[T0, 100]]})
    journal.close()
    db = sqlite3.connect(tmp_path / "journal.db")
    db.execute("UPDATE snapshots SET body = ? WHERE key = ?", (b"{not json", volume_history.KEY))
    db.commit()
    db.close()
    journal = Journal(tmp_path / "journal.db")
    assert volume_history.restore(journal, risk, {"AMZN": [(T0, 5)]}) == {"AMZN": 0}
    assert risk._symbols["AMZN"].our_volume.total == 5


def test_our_fills_after_the_last_print_seen_count_as_market_volume_too(tmp_path: Path) -> None:
    """Issue 13, the 100-kill drill: fills the venue made while the node was down reach
    the journal by the FIX resend, but their prints were never seen; counted as ours
    only, they made us more than the whole market after a restart and the cap denied.
    They were on the tape: the restored window counts them on the market's side too, and
    nothing else (a fill at or before the last print seen was already counted)."""
    risk = overlay(tmp_path, "a")
    for i in range(30):  # the tape seen: 100 a second for 30 s, ours among it
        risk.on_market_trade("AMZN", 100, T0 + i * S)
    journal = Journal(tmp_path / "journal.db")
    volume_history.keep(journal, risk, ["AMZN"])
    journal.close()

    fresh = overlay(tmp_path, "b")
    journal = Journal(tmp_path / "journal.db")  # the restart
    ours = {"AMZN": [(T0 + 10 * S, 100), (T0 + 29 * S, 100), (T0 + 35 * S, 700)]}
    restored = volume_history.restore(journal, fresh, ours)
    assert restored == {"AMZN": 3_000 + 700}  # the fill at +35 s, executed while down
    assert fresh._symbols["AMZN"].our_volume.total == 900
    # with the window as it really was, ours (900) is within 50 % of the market (3,700)
    assert fresh._symbols["AMZN"].market_volume.expire(T0 + 40 * S) == 3_700

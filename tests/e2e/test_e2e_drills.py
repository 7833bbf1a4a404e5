"""The quick fault drills of ``bench/drills.py`` in the test suite.

Each runs redis-server, the exchange and the daemon as real processes on loopback,
breaks one thing on purpose and checks every invariant from the exchange's audit log,
the daemon's journal and the FIX wire (``bench/drills_checks.py``). The full set, 100
kills included, is ``python bench/drills.py --full``.

Every drill of the set passes on this branch (docs/operations.md, "Drills", has the
counts of the full run). The ones here fit the suite's budget (the whole file in about
five minutes on two cores: 5 minutes at load average 11): the kills, the exchange
restart, the silent partition (no order while an ack is overdue, no stale resend, late
answers, a journal the restart replays), market-data faults and SIGTERM. With
``latency_500`` too the file took 6 minutes at that load, so it and the others
(``exchange_restart_cancel``, ``latency_0/50/150``, ``redis_kill``, ``redis_freeze``,
``control_garbage``, ``fix_garbage``, ``kill_switch``) run in the command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.drills import Settings, run_drill

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUICK = {
    # five kills here; the command does >= 20, the full set 100
    "kill9": Settings(kills=5),
    # the exchange killed with children resting and partially filled, then restarted
    "exchange_restart": Settings(),
    # deltas lost and bad frames injected into the daemon's market data
    "md_faults": Settings(),
    # a clean stop mid-parent leaves nothing resting; the restart finishes the parent
    "sigterm": Settings(),
    # the FIX link silent for 8 s, then cut: no order while an ack is overdue, no
    # stale resend, and a journal the restart can replay
    "fix_blackhole_cut": Settings(),
}


@pytest.mark.parametrize("name", sorted(QUICK))
async def test_the_drill_keeps_every_invariant(name: str, tmp_path: Path) -> None:
    result = await run_drill(name, QUICK[name], tmp_path, limit_s=240)
    assert result.passed, "\n".join(
        [f"{name} failed ({result.seconds:.0f} s):", result.error, *result.violations]
    )

"""The quick fault drills of ``bench/drills.py`` in the test suite.

Each runs redis-server, the exchange and the daemon as real processes on loopback,
breaks one thing on purpose and checks every invariant from the exchange's audit log,
the daemon's journal and the FIX wire (``bench/drills_checks.py``). The full set, 100
kills included, is ``python bench/drills.py --full``.

Left out here, because they fail on the daemon defects of issue 13 that are being
fixed on another branch (the drills command reports them):

- ``fix_blackhole_cut``: stale PossDup NewOrderSingles resent after the partition
  (item 4), a late status answer regressing a pending replace (item 1) and the
  journal replay raising IllegalTransition on restart (item 2);
- ``latency_150``, ``latency_500``: items 1 and 2 (ack timeout on the market clock, the
  status answer undoing a pending replace, then the restart crashes on replay);
- ``control_garbage``: ``"qty": true`` accepted as a parent of 1 (item 9);
- ``kill_switch``: a signed ``reset_kill`` refused as "from the future" under the
  replayed clock (item 7).

With those fixes merged (main at 23939ca, tried in a scratch copy) all five pass; add
them here after the merge if the suite can spare ~3 more minutes.
``latency_0``, ``latency_50``, ``redis_kill``, ``redis_freeze``, ``fix_garbage`` and
``exchange_restart_cancel`` pass too; they stay in the command to keep this file to a
few minutes on two cores.
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
}


@pytest.mark.parametrize("name", sorted(QUICK))
async def test_the_drill_keeps_every_invariant(name: str, tmp_path: Path) -> None:
    result = await run_drill(name, QUICK[name], tmp_path, limit_s=240)
    assert result.passed, "\n".join(
        [f"{name} failed ({result.seconds:.0f} s):", result.error, *result.violations]
    )

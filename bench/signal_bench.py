"""Decision-time cost of the signal models, per call, against the tick-to-order budget.

Replays AMZN 2012-06-21 (level 5, the held-out hours 14:15-16:00) through a
:class:`~signals.market.MarketTracker` exactly as the daemon would (every touch update,
every print) and, every ``--every`` updates, times each serving call the daemon will
make at a decision on the committed artifacts:

- ``tracker update``: one book update into the tracker (paid on every frame);
- ``signal``: ``SignalServer.predict`` (decay to now, features, the tree ensemble);
- ``volatility``: ``VolatilityModel.sigma_bps`` (HAR on the per-second history);
- ``regime``: ``RegimeModel.classify`` (the mixture's posterior);
- ``posture``: ``PostureController.assess`` (anomaly checks plus the two above);
- ``all at a decision``: signal + posture (what a decision adds in total).

It also prints how often each posture source fired over those assessments (with the
default rules): the false-alarm side of the thresholds, on hours that were calm by and
large.

On a shared, loaded machine the p99 of the longer calls is the scheduler's time slice
(~4 ms, whole multiples of it): a call of ``d`` microseconds is preempted with
probability about ``d / 4000`` per call; the load average is written with the results.

The budget: the daemon's tick-to-order is ~400-450 us p50 on this class of machine
(docs/operations.md); the models should add well under a tenth of it.

Run: python bench/signal_bench.py [--every 20] [--max-calls 20000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import percentiles, pin_one_core, report

from exchange.replay.prepared import load_day
from signals.data import default_splits
from signals.market import MarketTracker
from signals.posture import SOURCES, PostureController
from signals.regime import RegimeModel
from signals.short_horizon import SignalModel, SignalServer
from signals.train import ARTIFACTS, REGIME_DIR, SIGNAL_DIR, VOLATILITY_DIR
from signals.volatility import VolatilityModel

BUDGET_US = 400.0  # tick-to-order p50, docs/operations.md
START_S = 14 * 3600 + 15 * 60
NS = 1_000_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=int, default=20, help="time the models every N updates")
    ap.add_argument("--max-calls", type=int, default=20_000)
    args = ap.parse_args()
    pinned = pin_one_core()
    signal = SignalServer(SignalModel.load(ARTIFACTS / SIGNAL_DIR))
    vol = VolatilityModel.load(ARTIFACTS / VOLATILITY_DIR)
    regime = RegimeModel.load(ARTIFACTS / REGIME_DIR).for_ticker("AMZN")
    posture = PostureController("AMZN", vol, regime)
    day = load_day(default_splits()[0].message_file).day
    m, b = day.messages, day.book
    ts, ev, px, sz, side = (a.tolist() for a in (m.ts_ns, m.event, m.price, m.size, m.direction))
    bp, bs, ap_, as_ = (a[:, 0].tolist() for a in (b.bid_px, b.bid_sz, b.ask_px, b.ask_sz))
    names = ("tracker update", "signal", "volatility", "regime", "posture", "all at a decision")
    samples: dict[str, list[int]] = {n: [] for n in names}
    tracker = MarketTracker()
    clock = time.perf_counter_ns
    start = day.day_start_ns + START_S * NS
    calls = 0
    fired = dict.fromkeys(SOURCES, 0)
    for i in range(len(ts)):
        if ev[i] in (4, 5):
            tracker.on_trade(ts[i], px[i], sz[i], side[i] < 0)
        if ev[i] == 7 or bp[i] <= 0 or ap_[i] <= bp[i]:
            continue
        t0 = clock()
        tracker.on_quote(ts[i], bp[i], bs[i], ap_[i], as_[i])
        t1 = clock()
        if ts[i] < start:
            continue
        samples["tracker update"].append(t1 - t0)
        if i % args.every:
            continue
        now = ts[i] + 1_000
        t0 = clock()
        signal.predict(tracker, now)
        t1 = clock()
        vol.sigma_bps(tracker, 5.0)
        t2 = clock()
        regime.classify(tracker)
        t3 = clock()
        assessment = posture.assess(tracker, now)
        t4 = clock()
        for req in assessment.requests:
            fired[req.source] += 1
        signal.predict(tracker, now)
        posture.assess(tracker, now)
        t5 = clock()
        for name, dt in zip(names[1:], (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            samples[name].append(dt)
        calls += 1
        if calls >= args.max_calls:
            break
    rows = []
    for name in names:
        p = percentiles(samples[name], (50, 99))
        rows.append({"call": name, "n": len(samples[name]), "p50_us": p["p50_us"],
                     "p99_us": p["p99_us"], "max_us": p["max_us"],
                     "p50_share_of_budget_pct": 100 * p["p50_us"] / BUDGET_US})  # fmt: skip
    firing = {src: 100 * n / max(calls, 1) for src, n in fired.items()}
    print("\nposture sources firing, % of assessments on these held-out hours:")
    print(", ".join(f"{src} {pct:.1f}" for src, pct in firing.items()))
    report("signal_bench", rows, {"pinning": pinned, "load_average_1m": os.getloadavg()[0], "budget_us": BUDGET_US, "assessments": calls,
                                  "posture_firing_pct": firing,
                                  "data": "AMZN_2012-06-21_5 14:15-16:00", "every": args.every})  # fmt: skip


if __name__ == "__main__":
    main()

"""Feature builder: values in transferable units, side symmetry, queue estimate, normaliser."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.book import L2Book
from core.orders import ChildOrder
from core.parent import ParentOrder
from core.types import OrdStatus, Side
from policies.features import (
    FEATURE_NAMES,
    FEATURES_V1,
    FeatureBuilder,
    FeatureSpec,
    Normaliser,
)
from policies.queue_estimate import QueueEstimator

S = 1_000_000_000
IX = {n: i for i, n in enumerate(FEATURE_NAMES)}
N = len(FEATURE_NAMES)
IX1 = {n: i for i, n in enumerate(FEATURES_V1)}


def book(bid: int = 100, bsz: int = 300, ask: int = 110, asz: int = 100) -> L2Book:
    b = L2Book("X")
    b.apply_snapshot([(bid, bsz), (bid - 1, 500)], [(ask, asz), (ask + 1, 500)])
    return b


def parent(side: Side, qty: int = 1000, filled: int = 0) -> ParentOrder:
    p = ParentOrder("P", "X", side, qty, 0, 100 * S)
    p.start(105.0)
    p.filled_qty = filled
    return p


def resting(cid: str, side: Side, price: int, qty: int) -> ChildOrder:
    o = ChildOrder(cid, "X", side, qty, price, parent_id="P")
    o.status = OrdStatus.NEW
    return o


def test_time_inventory_and_schedule_gap() -> None:
    fb = FeatureBuilder()
    f = fb.raw(book(), parent(Side.BUY, filled=250), [], 50 * S)
    assert f[IX["time_left"]] == pytest.approx(0.5)
    assert f[IX["inventory_left"]] == pytest.approx(0.75)
    assert f[IX["schedule_gap"]] == pytest.approx(0.25)
    assert f[IX["spread_rel"]] == pytest.approx(1.0)  # no history: the spread is its own mean


def test_version_1_is_still_computed_for_artifacts_trained_on_it() -> None:
    fb = FeatureBuilder(FeatureSpec.of_version(1))
    f = fb.raw(book(bsz=300, asz=100), parent(Side.BUY, filled=250), [], 50 * S)
    assert f.shape == (len(FEATURES_V1),)
    assert f[IX1["spread_ticks_log"]] == pytest.approx(math.log(10))
    assert f[IX1["imbalance_5"]] == pytest.approx((800 - 600) / 1400)


def scaled_book(k: int, m: int, bid: int = 100, ask: int = 110) -> L2Book:
    """The same market with prices k times as many ticks away and sizes m times larger."""
    b = L2Book("X")
    b.apply_snapshot(
        [(bid * k, 300 * m), ((bid - 1) * k, 500 * m)],
        [(ask * k, 100 * m), ((ask + 1) * k, 500 * m)],
    )
    return b


def test_version_2_features_do_not_change_with_tick_size_or_share_count() -> None:
    """A market that is the same one in finer ticks and smaller shares looks identical."""
    out = []
    for k, m in ((1, 1), (3, 10)):
        fb = FeatureBuilder(FeatureSpec(lookback=4))
        p = ParentOrder("P", "X", Side.BUY, 1000 * m, 0, 100 * S)
        p.start(105.0 * k)
        p.filled_qty = 250 * m
        ms = fb.market
        ms.on_trade(110 * k, 30 * m, Side.BUY)
        ms.sample(scaled_book(k, m))
        ms.on_trade(100 * k, 10 * m, Side.SELL)
        ms.sample(scaled_book(k, m, bid=102, ask=112))
        o = resting("C1", Side.BUY, 101 * k, 50 * m)
        fb.queue.update(scaled_book(k, m, 101, 111), [o], {}, 0)
        out.append(fb.raw(scaled_book(k, m, 101, 111), p, [o], 50 * S))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)
    v1 = [FeatureBuilder(FeatureSpec.of_version(1)) for _ in range(2)]
    f1 = [
        fb.raw(scaled_book(k, 1), parent(Side.BUY), [], 0) for fb, k in zip(v1, (1, 3), strict=True)
    ]
    assert f1[0][IX1["spread_ticks_log"]] != f1[1][IX1["spread_ticks_log"]]  # why v2 exists


def test_sizes_in_units_of_the_touch_depth() -> None:
    fb = FeatureBuilder()
    # touch depth (300 + 100) / 2 = 200
    f = fb.raw(book(bsz=300, asz=100), parent(Side.BUY), [], 0)
    assert f[IX["remaining_depth_log"]] == pytest.approx(math.log1p(1000 / 200))
    assert f[IX["far_depth_log"]] == pytest.approx(math.log1p(100 / 200))  # a buyer takes the ask
    f_sell = FeatureBuilder().raw(book(bsz=300, asz=100), parent(Side.SELL), [], 0)
    assert f_sell[IX["far_depth_log"]] == pytest.approx(math.log1p(300 / 200))


def test_directional_features_flip_with_the_side() -> None:
    b = book(bsz=300, asz=100)  # bid-heavy: buying pressure
    fb_buy = FeatureBuilder().raw(b, parent(Side.BUY), [], 0)
    fb_sell = FeatureBuilder().raw(b, parent(Side.SELL), [], 0)
    for name in ("imbalance_1", "microprice_offset", "drift_spreads_log"):
        assert fb_buy[IX[name]] == pytest.approx(-fb_sell[IX[name]])
    assert fb_buy[IX["imbalance_1"]] == pytest.approx(0.5)  # adverse for a buyer: positive
    assert fb_buy[IX["microprice_offset"]] > 0


def test_signed_volume_and_realised_vol_from_samples() -> None:
    fb = FeatureBuilder(FeatureSpec(lookback=4))
    m = fb.market
    m.on_trade(110, 30, Side.BUY)
    m.on_trade(100, 10, Side.SELL)
    m.sample(book())
    m.sample(book(bid=102, ask=112))  # mid moves up 2 ticks
    f = fb.raw(book(bid=102, ask=112), parent(Side.BUY), [], 0)
    assert f[IX["signed_volume"]] == pytest.approx(0.5)
    # moves 0 then 2 ticks... rms over the 2 intervals incl. now: sqrt((4 + 0) / 2), in mean spreads (10)
    assert f[IX["realized_vol"]] == pytest.approx(math.sqrt(2) / 10)


def test_queue_estimate_starts_behind_displayed_size_and_advances_on_trades() -> None:
    q = QueueEstimator()
    b = book(bsz=300)
    o = resting("C1", Side.BUY, 100, 50)
    # the book shows our 50 inside the 300 at the level: 250 others are ahead
    q.update(b, [o], {}, 0)
    assert q.best_resting(Side.BUY) == (100, 250, 0)
    q.update(b, [o], {(Side.BUY, 100): 100}, 5 * S)
    assert q.best_resting(Side.BUY) == (100, 150, 0)
    # displayed others shrink below the estimate: cancellations ahead must have happened
    b2 = book(bsz=120)
    q.update(b2, [o], {}, 10 * S)
    assert q.best_resting(Side.BUY) == (100, 70, 0)


def test_queue_estimate_resets_when_the_order_moves() -> None:
    q = QueueEstimator()
    o = resting("C1", Side.BUY, 100, 50)
    q.update(book(bsz=300), [o], {(Side.BUY, 100): 400}, 0)
    moved = resting("C2", Side.BUY, 99, 50)
    moved.orig_cl_ord_id = "C1"
    q.update(book(bsz=300), [moved], {}, 5 * S)
    assert q.best_resting(Side.BUY) == (99, 450, 5 * S)  # the 500 shown includes our 50


def test_resting_features_present_only_with_a_resting_child() -> None:
    fb = FeatureBuilder()
    p = parent(Side.BUY)
    assert fb.raw(book(), p, [], 0)[IX["has_resting"]] == 0
    o = resting("C1", Side.BUY, 100, 50)
    obs = fb.observe(book(), p, [o], 0, market_volume=0, time_of_day_s=36_000.0)
    raw = fb.last_raw
    assert raw[IX["has_resting"]] == 1 and raw[IX["resting_offset_spreads"]] == 0
    assert raw[IX["resting_frac"]] == pytest.approx(50 / 1000)
    assert obs.features.dtype == np.float32 and obs.features.shape == (len(FEATURE_NAMES),)


def test_normaliser_fit_apply_clip_and_json() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(3.0, 2.0, size=(500, len(FEATURE_NAMES))).astype(np.float32)
    raw[:, 0] = 1.0  # constant column keeps std 1
    n = Normaliser.fit(raw)
    z = n(raw[0])
    assert z.dtype == np.float32
    assert n.std[0] == 1.0
    assert np.abs(n(np.full(len(FEATURE_NAMES), 1e6, np.float32))).max() == n.clip
    assert Normaliser.from_json(n.to_json(), len(FEATURE_NAMES)).mean.tolist() == n.mean.tolist()


@pytest.mark.parametrize(
    "data",
    [
        {"mean": [0.0] * 3, "std": [1.0] * 3, "clip": 5},
        {"mean": [0.0] * N, "std": [0.0] * N, "clip": 5},
        {"mean": [float("nan")] * N, "std": [1.0] * N, "clip": 5},
        {"std": [1.0] * N},
    ],
)
def test_normaliser_refuses_bad_statistics(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Normaliser.from_json(data, len(FEATURE_NAMES))


def test_builder_refuses_a_foreign_feature_spec() -> None:
    with pytest.raises(ValueError, match="differs from this code"):
        FeatureBuilder(FeatureSpec(names=("a", "b")))

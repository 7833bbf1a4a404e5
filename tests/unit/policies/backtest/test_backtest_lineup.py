"""The backtest's passive yardstick is the tactic its manifest tuned: the line it works
(urgency) as well as its tolerance, and a cached result is keyed on both."""

from __future__ import annotations

import json

from policies.backtest.lineup import PASSIVE, PolicySpec, build_policy
from policies.baselines import PassiveCatchUp, TwapSchedule
from policies.baselines.schedules import FrontLoadedSchedule
from policies.estimation import AlmgrenChrissParams, VolumeProfile
from policies.evaluate import BaselineParams

PARAMS = BaselineParams(
    VolumeProfile.flat(),
    AlmgrenChrissParams(
        sigma_bps_sqrt_s=1.0, eps_bps=2.5, eta_bps=8.0, gamma_bps_per_u=0.1, volume_rate=80.0
    ),
)


def spec(settings: dict[str, float]) -> PolicySpec:
    return PolicySpec(PASSIVE, PASSIVE, params=json.dumps(settings))


def test_the_passive_yardstick_works_the_front_loaded_line_its_manifest_tuned() -> None:
    pol = build_policy(spec({"tolerance": 0.3, "urgency": 2.0}), PARAMS)
    assert isinstance(pol, PassiveCatchUp) and pol.tolerance == 0.3
    assert isinstance(pol.schedule, FrontLoadedSchedule) and pol.schedule.urgency == 2.0


def test_a_yardstick_tuned_before_urgency_existed_is_the_straight_line() -> None:
    pol = build_policy(spec({"tolerance": 0.2}), PARAMS)
    assert isinstance(pol, PassiveCatchUp) and pol.tolerance == 0.2
    assert pol.schedule.name == TwapSchedule().name


def test_a_cached_result_is_keyed_on_the_line() -> None:
    straight = spec({"tolerance": 0.3, "urgency": 0.0}).fingerprint(PARAMS)
    front = spec({"tolerance": 0.3, "urgency": 2.0}).fingerprint(PARAMS)
    assert straight != front and front["params"]["urgency"] == 2.0

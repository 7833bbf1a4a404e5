"""Which impact model an environment runs: the square-root model by default, and a
policy manifest from before the setting existed keeps the model it was measured under."""

from __future__ import annotations

import json
from pathlib import Path

from policies.env import EnvConfig

MANIFEST = (
    Path(__file__).resolve().parents[3] / "policies" / "artifacts" / "ppo_amzn" / "manifest.json"
)


def test_new_environments_use_the_square_root_model() -> None:
    assert EnvConfig().impact == "sqrt"
    assert EnvConfig.from_json(EnvConfig().to_json()).impact == "sqrt"


def test_the_committed_policy_is_evaluated_under_the_model_it_was_measured_under() -> None:
    env = json.loads(MANIFEST.read_text())["env"]
    assert "impact" not in env  # written when linear permanent impact was the default
    assert EnvConfig.from_json(env).impact == "permanent"


def test_a_manifest_that_names_its_model_keeps_it() -> None:
    assert EnvConfig.from_json({**EnvConfig().to_json(), "impact": "none"}).impact == "none"

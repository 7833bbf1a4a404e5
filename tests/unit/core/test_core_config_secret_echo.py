"""A configuration error never repeats a secret (found by the config_toml fuzz target:
``password = ["..."]`` was echoed in the message, which goes to the journal and the
terminal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load
from daemon.config import DaemonConfig

SECRET = "Cfg-Secret-Never-Echoed-31"


@pytest.mark.parametrize(
    "toml",
    [
        f'[redis]\npassword = ["{SECRET}"]\n',
        f'[control]\nhmac_key = ["{SECRET}"]\n',
        f'[fix.session]\nsender_comp_id = "A"\ntarget_comp_id = "B"\npassword = {{ v = "{SECRET}" }}\n',
    ],
)
def test_a_secret_of_the_wrong_type_is_named_but_not_shown(tmp_path: Path, toml: str) -> None:
    path = tmp_path / "rlexec.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load(DaemonConfig, path, env={})
    assert SECRET not in str(err.value)
    assert "value not shown" in str(err.value) or "password" in str(err.value)


def test_from_the_environment_too() -> None:
    with pytest.raises(ConfigError) as err:
        load(DaemonConfig, None, env={"RLEXEC__REDIS__PASSWORD": f'["{SECRET}"]'})
    assert SECRET not in str(err.value) and "RLEXEC__REDIS__PASSWORD" in str(err.value)


def test_other_values_are_still_shown(tmp_path: Path) -> None:
    path = tmp_path / "rlexec.toml"
    path.write_text("[http]\nport = -5\n")
    with pytest.raises(ConfigError) as err:
        load(DaemonConfig, path, env={})
    assert "(got -5)" in str(err.value)

"""Load a service's configuration exactly as its container or unit would, without running it.

A compose service or a systemd unit runs ``rlexec run|exchange --config FILE`` with some
``RLEXEC__`` variables set by the image, the compose file or the unit. If one of those
names a key that does not exist, or a value that does not validate, the process exits
at start, on a machine we never see. Loading the same file with the same variables
through the same loader (``core.config.load``) finds that here.

``RLEXEC__X__FILE`` secrets are replaced the way rlexec-secret-env replaces them
(deploy/bin/secret_env.py), with a placeholder value.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from pydantic import BaseModel

from core.config import ConfigError, load

PLACEHOLDER_SECRET = "placeholder-secret-0123456789abcdef"


def _secret_env() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bin" / "secret_env.py"
    spec = importlib.util.spec_from_file_location("rlexec_secret_env", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("rlexec_secret_env", module)
    spec.loader.exec_module(module)
    return module


def settings_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` as the rlexec process sees it after rlexec-secret-env."""
    secret_env = _secret_env()
    out = dict(env)
    for key in [
        k for k in out if k.startswith(secret_env.PREFIX) and k.endswith(secret_env.SUFFIX)
    ]:
        out[key[: -len(secret_env.SUFFIX)]] = secret_env.toml_string(PLACEHOLDER_SECRET)
        del out[key]
    return out


@dataclass(frozen=True)
class Invocation:
    """``rlexec <subcommand> --config <path>`` pulled out of a command line."""

    subcommand: str
    config: str | None


def invocation(argv: list[str]) -> Invocation | None:
    """The rlexec invocation in ``argv`` (after wrappers such as rlexec-secret-env)."""
    words = list(argv)
    while words and Path(words[0]).name != "rlexec":
        words.pop(0)
    if not words:
        return None
    rest = words[1:]
    if not rest:
        return None
    config = None
    if "--config" in rest:
        i = rest.index("--config")
        config = rest[i + 1] if i + 1 < len(rest) else None
    return Invocation(rest[0], config)


def model_for(subcommand: str) -> type[BaseModel] | None:
    if subcommand == "run":
        from daemon.config import DaemonConfig

        return DaemonConfig
    if subcommand == "exchange":
        from exchange.config import ExchangeConfig

        return ExchangeConfig
    return None


def load_service(
    where: str, inv: Invocation, config_file: Path | None, env: Mapping[str, str]
) -> tuple[BaseModel | None, list[str]]:
    """The validated config of one service, or the problems that would stop it."""
    model = model_for(inv.subcommand)
    if model is None:
        return None, [] if inv.subcommand == "config" else [
            f"{where}: unknown rlexec command {inv.subcommand!r}"
        ]
    if inv.config is not None and (config_file is None or not config_file.exists()):
        return None, [f"{where}: config file {inv.config} is not provided by the image/install"]
    try:
        cfg = load(model, config_file, env=settings_env(env))
    except ConfigError as exc:
        return None, [f"{where}: {line.strip()}" for line in str(exc).splitlines()]
    return cfg, []

"""TOML into the configuration loader: the daemon's file and the exchange's.

Each input is one TOML file, read by :func:`core.config.load` as the daemon's or the
exchange's configuration with no environment. The loader either returns a validated
configuration or raises a :class:`ConfigError` that names the file and lists the
problems, and never repeats a secret the file held (a password, a key) in it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable

from core.config import ConfigError, load
from daemon.config import DaemonConfig
from exchange.config import ExchangeConfig
from tests.fuzz.harness import Choices, assert_clear_error
from tests.fuzz.targets._files import REPO, scratch_dir

SECRETS = ("Redis-Pw-fuzz-0815", "Hmac-Key-fuzz-0123456789abcdef0123456789", "Fix-Pw-fuzz-42")
SECRET_TOML = f"""
[redis]
password = "{SECRETS[0]}"
[control]
hmac_key = "{SECRETS[1]}"
[fix.session]
sender_comp_id = "RLEXEC"
target_comp_id = "EXCHANGE"
password = "{SECRETS[2]}"
""".encode()


def _secret_values(text: bytes) -> list[str]:
    """The known secrets the file holds as values only. A mutation that also makes one a
    key or table name has made it a (misspelt) key, which the error rightly names."""
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return [s for s in SECRETS if s.encode() in text]  # no value is ever echoed then
    values: list[str] = []
    keys: list[str] = []

    def walk(v: object) -> None:
        if isinstance(v, dict):
            keys.extend(str(k) for k in v)
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)
        else:
            values.append(str(v))

    walk(data)
    return [s for s in SECRETS if any(s in v for v in values) and not any(s in k for k in keys)]


class ConfigTomlTarget:
    name = "config_toml"
    surface = "TOML file -> core.config.load (DaemonConfig, ExchangeConfig)"

    def __init__(self) -> None:
        self.path = scratch_dir(self.name) / "config.toml"

    def seeds(self) -> Iterable[bytes]:
        examples = REPO / "deploy" / "examples"
        yield bytes([0]) + (examples / "rlexec.toml").read_bytes()
        yield bytes([1]) + (examples / "exchange.toml").read_bytes()
        yield bytes([0]) + SECRET_TOML
        yield bytes([0]) + SECRET_TOML.replace(b'"Redis', b'["Redis').replace(b'15"', b'15"]')
        yield bytes([0]) + SECRET_TOML.replace(b'password = "Fix', b"password = 4")

    def one_input(self, data: bytes) -> None:
        c = Choices(data)
        model = (DaemonConfig, ExchangeConfig)[c.int(0, 1)]
        text = c.rest()
        self.path.write_bytes(text)
        try:
            load(model, self.path, env={})
        except ConfigError as exc:
            msg = assert_clear_error(exc, secrets=_secret_values(text))
            assert str(self.path) in msg, f"the error does not name the file: {msg}"
            assert exc.problems, "a ConfigError without a problem"


def make() -> ConfigTomlTarget:
    return ConfigTomlTarget()

"""Configuration loading: one TOML file, environment overrides, strict validation.

Every package declares its own section as a pydantic model; this module only loads,
overlays and validates, and turns validation failures into one message per bad key
(``risk.max_order_qty: must be greater than 0 (got -5) [from env RLEXEC__RISK__...]``)
so the operator knows exactly what to fix.

Environment overrides use ``RLEXEC__SECTION__KEY=value`` (double underscores nest);
values are parsed as TOML scalars/arrays when they parse, else taken as strings.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.instruments import Instrument

ENV_PREFIX = "RLEXEC__"

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """The configuration cannot be used; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid configuration\n  " + "\n  ".join(problems))


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(str(p), ["file not found"]) from exc
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read: {exc.strerror}"]) from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), [f"not UTF-8 text (byte {exc.start})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [f"TOML syntax error: {exc}"]) from exc


def _parse_env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def env_overrides(
    env: Mapping[str, str], prefix: str = ENV_PREFIX
) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested overrides from the environment and, per dotted key, the variable it came from."""
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, text in env.items():
        if not name.startswith(prefix):
            continue
        parts = [p.lower() for p in name[len(prefix) :].split("__") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = _parse_env_value(text)
        origin[".".join(parts)] = name
    return out, origin


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validate(
    model: type[M], data: Mapping[str, Any], source: str, origin: Mapping[str, str] | None = None
) -> M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (typo? not a setting of this section)"
            got = err.get("input")
            detail = ""
            if err["type"] not in ("missing", "extra_forbidden") and not isinstance(got, dict):
                detail = " (value not shown: a secret)" if is_secret_key(key) else f" (got {got!r})"
            where = env_origin_note(key, origin or {})
            problems.append(f"{key}: {msg}{detail}{where}")
        raise ConfigError(source, problems) from None


_SECRET_WORDS = ("password", "secret", "token", "key")


def is_secret_key(dotted: str) -> bool:
    """Keys whose value is never echoed in an error: a password given as a list is still
    a password (the config fuzz target found one repeated in the message)."""
    return any(w in part.lower() for part in dotted.split(".") for w in _SECRET_WORDS)


def env_origin_note(key: str, origin: Mapping[str, str]) -> str:
    """`` [from env NAME]`` when the environment set ``key``, a section above it (an
    array or table given whole) or keys below it (an unknown section that only the
    environment created); empty when the value came from the file or a default."""
    names = sorted(
        name
        for dotted, name in origin.items()
        if dotted == key or key.startswith(dotted + ".") or dotted.startswith(key + ".")
    )
    return f" [from env {', '.join(names)}]" if names else ""


def load(
    model: type[M],
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    prefix: str = ENV_PREFIX,
) -> M:
    """Load ``path`` (or embedded defaults when None), overlay the environment, validate."""
    data = load_toml(path) if path is not None else {}
    over, origin = env_overrides(os.environ if env is None else env, prefix)
    source = str(path) if path is not None else "(embedded defaults)"
    return validate(model, deep_merge(data, over), source, origin)


def config_hash(cfg: BaseModel) -> str:
    """Stable sha256 of a validated configuration, logged at start for audit."""
    blob = orjson.dumps(cfg.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


# --------------------------------------------------------------- shared sections
# Sections used by more than one process (daemon and exchange) live here so neither
# has to import the other.


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen."""

    # a string right below a field is its description (`rlexec config show` prints it)
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ReconnectSection(Section):
    """A connection that reconnects when lost: every one backs off the same way
    (core/backoff.py) and is configured by these three keys."""

    reconnect_min_s: float = Field(default=0.1, gt=0)
    """First wait before reconnecting (then doubling per failed attempt)."""
    reconnect_max_s: float = Field(default=5.0, gt=0)
    """Longest wait between reconnect attempts."""
    reconnect_jitter: float = Field(default=0.5, ge=0, lt=1)
    """Each wait is cut by up to this share at random, spreading many clients' retries."""

    @model_validator(mode="after")
    def _backoff_order(self) -> ReconnectSection:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class LoggingSection(Section):
    format: Literal["json", "console"] = "console"
    """json: one JSON object a line (production); console: readable, for a terminal."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """The lowest level logged."""


class InstrumentSection(Section):
    symbol: str = Field(min_length=1, max_length=32)
    """The instrument's symbol as the venue names it."""
    tick_size: Decimal = Field(default=Decimal("0.01"), gt=0)
    """Price grid: one tick in the currency (prices are integer ticks on the order path)."""
    lot_size: int = Field(default=1, gt=0)
    """Quantity grid: orders are whole multiples of this many units."""
    qty_unit: Decimal = Field(default=Decimal(1), gt=0)
    """What one quantity unit is in the venue's terms (e.g. 0.001 BTC)."""
    min_qty: int = Field(default=1, gt=0)
    """Smallest order, in units."""
    max_qty: int = Field(default=10_000_000, gt=0)
    """Largest order the venue takes, in units."""
    currency: str = "USD"
    """Currency prices and notionals are in."""

    @field_validator("symbol")
    @classmethod
    def _symbol_chars(cls, v: str) -> str:
        if not all(c.isalnum() or c in "._-/" for c in v):
            raise ValueError("symbol may only contain letters, digits and . _ - /")
        return v

    def instrument(self) -> Instrument:
        return Instrument(
            symbol=self.symbol,
            tick_size=self.tick_size,
            lot_size=self.lot_size,
            qty_unit=self.qty_unit,
            min_qty=self.min_qty,
            max_qty=self.max_qty,
            currency=self.currency,
        )

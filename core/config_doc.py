"""Every setting explained: key, type, default, description, current value and its source.

The descriptions are the docstrings under each field of the config models (pydantic's
``use_attribute_docstrings``, on in :class:`core.config.Section`), the defaults are the
models' own: one source for each, so what ``rlexec config show`` prints cannot drift
from what the code does. Secrets are never printed, only whether they are set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, SecretStr
from pydantic_core import to_jsonable_python

from core.config import (
    ENV_PREFIX,
    deep_merge,
    env_origin_note,
    env_overrides,
    is_secret_key,
    load_toml,
    validate,
)

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Setting:
    key: str  # dotted, as in the file ("fix.session.heartbeat_interval_s")
    type: str
    default: str
    description: str
    value: str
    source: str  # "default", "file", or "env RLEXEC__..."


def explain(
    model: type[BaseModel],
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    prefix: str = ENV_PREFIX,
) -> list[Setting]:
    """Every leaf setting of ``model`` as loaded from ``path`` and the environment (the
    same loading as :func:`core.config.load`; ConfigError when it does not validate)."""
    data = load_toml(path) if path is not None else {}
    over, origin = env_overrides(os.environ if env is None else env, prefix)
    source = str(path) if path is not None else "(embedded defaults)"
    cfg = validate(model, deep_merge(data, over), source, origin)
    defaults = model.model_validate({})
    return list(_walk(cfg, defaults, "", data, origin))


def _walk(
    obj: BaseModel, defaults: object, pre: str, data: object, origin: Mapping[str, str]
) -> Iterator[Setting]:
    for name, field in type(obj).model_fields.items():
        key = f"{pre}{name}"
        value = getattr(obj, name)
        if defaults is not _MISSING:  # the default configuration has this table
            default = getattr(defaults, name, _MISSING)
        else:  # a table only the file has: the field's own default
            default = (
                _MISSING if field.is_required() else field.get_default(call_default_factory=True)
            )
        given = data.get(name, _MISSING) if isinstance(data, dict) else _MISSING
        if isinstance(value, BaseModel):
            yield from _walk(value, default, f"{key}.", given, origin)
            continue
        items = _tables(value)
        if items:  # an array of tables, or tables by name: each one's keys
            for label, item in items:
                yield from _walk(
                    item, _item(default, label), f"{key}{label}.", _item(given, label), origin
                )
            continue
        env = env_origin_note(key, origin)  # " [from env NAME]" or ""
        if env:
            source = env.strip(" []").removeprefix("from ")
        else:
            source = "file" if given is not _MISSING else "default"
        yield Setting(
            key=key,
            type=_type_name(field.annotation),
            default="(required)" if default is _MISSING else _render(key, default),
            description=field.description or "",
            value=_render(key, value),
            source=source,
        )


def _tables(value: object) -> list[tuple[str, BaseModel]]:
    """``[[instruments]]`` as ("[0]", model), ...; ``[risk.overrides.X]`` as (".X", model)."""
    if isinstance(value, tuple | list) and value and all(isinstance(v, BaseModel) for v in value):
        return [(f"[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
        return [(f".{k}", v) for k, v in value.items()]
    return []


def _item(container: object, label: str) -> object:
    """The element ``label`` names in a default or the file's data, if it has one."""
    if label.startswith("["):
        i = int(label[1:-1])
        ok = isinstance(container, tuple | list) and i < len(container)
        return container[i] if ok else _MISSING  # type: ignore[index]
    if isinstance(container, dict):
        return container.get(label[1:], _MISSING)
    return _MISSING


def _type_name(annotation: object) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else repr(annotation)
    return re.sub(r"\b(?:[a-z_][a-z0-9_]*\.)+", "", text)  # typing.Literal -> Literal


def _render(key: str, value: object) -> str:
    if isinstance(value, SecretStr) or (is_secret_key(key) and value):
        secret = value.get_secret_value() if isinstance(value, SecretStr) else value
        return "(set)" if secret else "(empty)"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


def format_settings(rows: list[Setting]) -> str:
    """One block per setting: ``key = value  [source]``, then type, default and why."""
    out = []
    for r in rows:
        out.append(f"{r.key} = {r.value}  [{r.source}]")
        out.append(f"    {r.type}, default {r.default}")
        for line in _wrap(r.description, 84):
            out.append(f"    {line}")
    return "\n".join(out)


def _wrap(text: str, width: int) -> Iterator[str]:
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            yield line
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        yield line


def as_json(rows: list[Setting]) -> str:
    return json.dumps([dataclasses.asdict(r) for r in rows], indent=1)

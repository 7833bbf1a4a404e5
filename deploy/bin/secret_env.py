#!/usr/bin/env python3
"""rlexec-secret-env: read secrets from files into RLEXEC__ settings, then exec the command.

Why: secrets belong in files (Docker/compose secrets under /run/secrets, systemd
credentials under $CREDENTIALS_DIRECTORY), not in unit files, compose files or
``docker inspect`` output. rlexec reads its settings from TOML plus ``RLEXEC__SECTION__KEY``
variables, so this wrapper turns every ``RLEXEC__SECTION__KEY__FILE=/path`` into
``RLEXEC__SECTION__KEY=<contents>`` and removes the ``__FILE`` variable (which the strict
config loader would reject as an unknown key). The suffix is ``__FILE`` with two
underscores, as Grafana's ``GF_..._PASSWORD__FILE``: it can never be mistaken for a real
setting whose name ends in ``_file`` (such as ``control.hmac_key_file``, which the daemon
reads itself and which this wrapper leaves alone).

The value is written as a TOML basic string (quoted and escaped) because the config
loader parses override values as TOML: an unquoted password such as ``12345`` or ``true``
would otherwise arrive as a number or a boolean. Trailing newlines of the file are
dropped, as the shell's ``$(cat file)`` drops them (``deploy/redis/make-users-acl.sh``
hashes the same bytes). The command is exec'd, not spawned: under systemd
``Type=notify`` the notifying process must stay the unit's main PID.

Exit 78 (EX_CONFIG) on any problem, naming the variable and the path, never the secret.

Usage: rlexec-secret-env COMMAND [ARG...]
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, MutableMapping

PREFIX = "RLEXEC__"
SUFFIX = "__FILE"
EX_USAGE = 64
EX_CONFIG = 78


class SecretFileError(Exception):
    """A ``__FILE`` variable that cannot be turned into a setting."""


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string literal that parses back to exactly ``value``."""
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def read_secret(variable: str, path: str) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise SecretFileError(f"{variable}={path}: cannot read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecretFileError(f"{variable}={path}: not UTF-8 text") from exc
    text = text.rstrip("\n")
    if not text:
        raise SecretFileError(f"{variable}={path}: file is empty")
    return text


def resolve(env: MutableMapping[str, str]) -> dict[str, str]:
    """Replace each ``RLEXEC__...__FILE`` in ``env`` by its setting; return setting -> secret."""
    done: dict[str, str] = {}
    for variable in sorted(k for k in env if k.startswith(PREFIX) and k.endswith(SUFFIX)):
        target = variable[: -len(SUFFIX)]
        if len(target) <= len(PREFIX):
            raise SecretFileError(f"{variable}: names no setting")
        if target in env:
            raise SecretFileError(f"{variable}: {target} is also set; use one or the other")
        secret = read_secret(variable, env[variable])
        env[target] = toml_string(secret)
        del env[variable]
        done[target] = secret
    return done


def check_round_trip(env: Mapping[str, str], secrets: Mapping[str, str]) -> None:
    """Belt and braces: each setting parses back (as the config loader will) to the secret."""
    for target, secret in secrets.items():
        if tomllib.loads(f"v = {env[target]}")["v"] != secret:
            raise SecretFileError(f"{target}: value does not survive TOML parsing")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: rlexec-secret-env COMMAND [ARG...]", file=sys.stderr)
        return EX_USAGE
    env = dict(os.environ)
    try:
        check_round_trip(env, resolve(env))
    except SecretFileError as exc:
        print(f"rlexec-secret-env: {exc}", file=sys.stderr)
        return EX_CONFIG
    try:
        os.execvpe(argv[1], argv[1:], env)
    except OSError as exc:
        print(f"rlexec-secret-env: cannot run {argv[1]}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv))

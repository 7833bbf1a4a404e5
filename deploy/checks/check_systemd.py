#!/usr/bin/env python3
"""What systemd-analyze cannot know about rlexec's units, checked on an installed tree.

scripts/check_deploy.sh installs the units into a scratch root with
deploy/systemd/install.sh, runs ``systemd-analyze verify`` and ``security`` there,
and then this, with ``--installed-root`` pointing at that tree:

- the daemon unit is Type=notify with a watchdog and NotifyAccess=main, restarts on
  failure only, runs as the dedicated user that the sysusers.d entry creates;
- the hardening the issue asks for is there (NoNewPrivileges, ProtectSystem=strict,
  no capabilities, private /tmp, no home), and ReadWritePaths covers exactly where
  the service writes: the daemon's data_dir (journal, FIX store, kill-switch state),
  the exchange's FIX store and audit log, as read from their real configuration;
- the configuration each unit starts with (its Environment= plus the config file
  install.sh put in /etc/rlexec) loads and validates;
- every ``RLEXEC__*__FILE`` secret comes from a systemd credential (``%d/NAME``) that
  the unit loads with LoadCredential= from a file that install.sh created.

Usage: check_systemd.py --installed-root DIR; exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import defaultdict
from pathlib import Path, PurePosixPath

import service_configs as sc
from report import report

UNITS = {"rlexec.service": "run", "rlexec-exchange.service": "exchange"}
USER = "rlexec"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
}

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections -> key -> every value given (systemd keys may repeat)."""
    unit: Unit = defaultdict(lambda: defaultdict(list))
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep:
            unit[section][key.strip()].append(value.strip())
    return unit


def last(unit: Unit, key: str, section: str = "Service") -> str | None:
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


def environment(unit: Unit, name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in unit.get("Service", {}).get("Environment", []):
        for word in shlex.split(value):
            key, _, val = word.partition("=")
            env[key] = val.replace("%d", f"/run/credentials/{name}")
    return env


def seconds(text: str | None) -> float:
    if not text:
        return 0.0
    units = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def covered(path: Path | PurePosixPath, writable: list[str]) -> bool:
    p = PurePosixPath(str(path))
    return any(p == PurePosixPath(w) or PurePosixPath(w) in p.parents for w in writable)


def check_unit(root: Path, name: str, subcommand: str) -> list[str]:
    where = f"{name}"
    path = root / "etc/systemd/system" / name
    if not path.exists():
        return [f"{where}: not installed by install.sh"]
    unit = parse_unit(path.read_text())
    problems: list[str] = []
    svc_type = last(unit, "Type")
    if subcommand == "run":
        if svc_type != "notify":
            problems.append(f"{where}: Type=notify expected (READY=1 after FIX logon + recovery)")
        if last(unit, "NotifyAccess") != "main":
            problems.append(f"{where}: NotifyAccess=main expected")
        if seconds(last(unit, "WatchdogSec")) <= 0:
            problems.append(f"{where}: WatchdogSec must be set (the daemon pets it via sd_notify)")
        if seconds(last(unit, "TimeoutStopSec")) < 30:
            problems.append(f"{where}: TimeoutStopSec >= 30s needed to cancel resting orders")
    elif svc_type not in ("exec", "simple", "notify"):
        problems.append(f"{where}: unexpected Type={svc_type}")
    if last(unit, "Restart") != "on-failure":
        problems.append(f"{where}: Restart=on-failure expected")
    if last(unit, "User") != USER or last(unit, "Group") != USER:
        problems.append(f"{where}: User= and Group= must be the dedicated {USER} user")
    sysusers = root / "usr/lib/sysusers.d/rlexec.conf"
    if not sysusers.exists() or not any(
        line.split()[:2] == ["u", USER]
        for line in sysusers.read_text().splitlines()
        if line.strip()
    ):
        problems.append(f"{where}: user {USER} is not created by usr/lib/sysusers.d/rlexec.conf")
    for key, want in HARDENING.items():
        got = last(unit, key)
        if got != want:
            problems.append(f"{where}: {key}={want} expected (got {got!r})")
    writable = [w for v in unit["Service"].get("ReadWritePaths", []) for w in v.split()]

    credentials = {}
    for value in unit["Service"].get("LoadCredential", []):
        cred, _, source = value.partition(":")
        credentials[cred] = source
        if not (root / source.lstrip("/")).exists():
            problems.append(f"{where}: LoadCredential source {source} is not created by install.sh")
    env = environment(unit, name)
    for key, value in env.items():
        if key.endswith("__FILE"):
            prefix = f"/run/credentials/{name}/"
            if not value.startswith(prefix) or value[len(prefix) :] not in credentials:
                problems.append(f"{where}: {key} must name a LoadCredential= credential (%d/NAME)")

    execs = unit["Service"].get("ExecStart", [])
    if len(execs) != 1:
        return [*problems, f"{where}: exactly one ExecStart expected"]
    inv = sc.invocation(shlex.split(execs[0]))
    if inv is None or inv.subcommand != subcommand:
        return [*problems, f"{where}: ExecStart must run rlexec {subcommand}"]
    file = root / inv.config.lstrip("/") if inv.config else None
    cfg, errors = sc.load_service(where, inv, file, env)
    problems += errors
    if cfg is not None:
        state = (
            [cfg.node.data_dir]  # type: ignore[attr-defined]
            if subcommand == "run"
            else [s.store_dir for s in cfg.fix.sessions if s.store_dir] + [cfg.audit.path]  # type: ignore[attr-defined]
        )
        for p in state:
            if not PurePosixPath(str(p)).is_absolute():
                problems.append(
                    f"{where}: {p} is relative; a service has no useful working directory"
                )
            elif not covered(p, writable):
                problems.append(
                    f"{where}: writes {p} but ReadWritePaths={' '.join(writable)} does not cover it"
                )
    for pre in unit["Service"].get("ExecStartPre", []):
        pre_inv = sc.invocation(shlex.split(pre.lstrip("-+!@:")))
        if pre_inv is not None and pre_inv.config and pre_inv.config != inv.config:
            problems.append(
                f"{where}: ExecStartPre checks {pre_inv.config}, ExecStart runs {inv.config}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--installed-root", type=Path, required=True)
    args = parser.parse_args(argv)
    problems = []
    for name, subcommand in UNITS.items():
        problems += check_unit(args.installed_root, name, subcommand)
    return report("systemd units", problems)


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the deploy checks: run scripts/check_deploy.sh, on the repo or on a copy.

Every check is exercised twice: on the real files (must pass) and on a scratch copy of
the tree with one thing broken (must fail, saying what). The copy holds real copies of
the files under test and symlinks to the big read-only parts (packages, data).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tests import system_packages

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "check_deploy.sh"
CHECKS_DIR = REPO / "deploy" / "checks"
COPIED = [
    "Dockerfile",
    ".dockerignore",
    "docker-compose.yml",
    "pyproject.toml",
    "README.md",
    "deploy",
    "docs",
]
LINKED = ["core", "gateways", "exchange", "risk", "policies", "daemon", "data"]


@dataclass(frozen=True)
class CheckResult:
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


# What each check of scripts/check_deploy.sh runs, as (the script's variable naming the
# tool, the requirement in tests/system_packages.py). Keep in step with the script's table.
CHECK_TOOLS: dict[str, tuple[tuple[str, str], ...]] = {
    "prometheus": (("PROMTOOL", "promtool"),),
    "dashboard": (("PROMTOOL", "promtool"),),
    "systemd": (("SYSTEMD_ANALYZE", "systemd-analyze"), ("SYSTEMD_SYSUSERS", "systemd-sysusers")),
    "compose": (("DOCKER_COMPOSE", "docker-compose"),),
    "redis": (("REDIS_SERVER", "redis-server >= 7"),),
    "shell": (("SHELLCHECK", "shellcheck"),),
}


def _tools_for(checks: tuple[str, ...], env: dict[str, str]) -> dict[str, str]:
    """The system programs the checks need, found (or the test skipped, saying what to install).

    A variable the test sets itself (to prove a missing tool fails) is left as it is.
    """
    wanted = {
        var: label
        for check in checks
        for var, label in CHECK_TOOLS.get(check, ())
        if var not in env
    }
    found = system_packages.require(*wanted.values())
    return {var: found[label] for var, label in wanted.items()}


def run_check(
    *checks: str, root: Path | None = None, env: dict[str, str] | None = None
) -> CheckResult:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RLEXEC__")}
    full_env["PYTHON"] = sys.executable
    if root is not None:
        full_env["RLEXEC_DEPLOY_ROOT"] = str(root)
    full_env.update(_tools_for(checks, env or {}))
    full_env.update(env or {})
    res = subprocess.run(
        ["bash", str(SCRIPT), *checks],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=240,
        check=False,
    )
    return CheckResult(res.returncode, res.stdout + res.stderr)


def load_module(name: str, path: Path) -> ModuleType:
    """Import a deploy script (not a package module) by path."""
    if str(CHECKS_DIR) not in sys.path:
        sys.path.insert(0, str(CHECKS_DIR))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Tree:
    """A scratch copy of the repository's deployment files, for breaking on purpose."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        for name in COPIED:
            src = REPO / name
            if src.is_dir():
                shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, root / name)
        for name in LINKED:
            (root / name).symlink_to(REPO / name, target_is_directory=True)
        secrets = root / "deploy/compose/secrets"
        for f in secrets.iterdir():
            if f.name != ".gitignore":
                f.unlink()

    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.path(rel).read_text()

    def write(self, rel: str, text: str) -> None:
        self.path(rel).write_text(text)

    def replace(self, rel: str, old: str, new: str, count: int = 1) -> None:
        text = self.read(rel)
        assert old in text, f"{old!r} not in {rel}: the test no longer matches the file"
        self.write(rel, text.replace(old, new, count))

    def check(self, *checks: str, env: dict[str, str] | None = None) -> CheckResult:
        return run_check(*checks, root=self.root, env=env)

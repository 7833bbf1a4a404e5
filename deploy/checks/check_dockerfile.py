#!/usr/bin/env python3
"""Rules for the Dockerfile that a linter cannot know, checked without a Docker engine.

hadolint (run by scripts/check_deploy.sh) catches general mistakes. These are ours,
from the issue and from what would break a build nobody can run here:

- multi-stage: a builder and a runtime stage; the runtime copies the venv from it;
- torch comes from the CPU wheel index, pinned;
- the runtime runs as a non-root user and has a HEALTHCHECK with an exec-form command;
- ENTRYPOINT/CMD in exec form (signals reach the process, PID stays the same);
- every first-party package of pyproject.toml is copied into the builder;
- every COPY source exists in the repository and is not cut by .dockerignore, and
  nothing under deploy/compose/secrets can reach the build context;
- one image for both processes: the entrypoint is ``rlexec`` (behind the secret
  wrapper) and the scripts it names are copied in.

Usage: check_dockerfile.py [--root DIR]; exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import dockerfile_reader as df
from report import report

SECRETS_DIR = "deploy/compose/secrets"


def first_party_packages(root: Path) -> list[str]:
    """The project's top-level packages, as mypy and the wheel know them."""
    with (root / "pyproject.toml").open("rb") as f:
        packages: list[str] = tomllib.load(f)["tool"]["mypy"]["packages"]
    return packages


def check(root: Path) -> list[str]:
    problems: list[str] = []
    try:
        _args, stages, ignore = df.load(root)
    except (OSError, df.DockerfileError) as exc:
        return [f"Dockerfile: {exc}"]

    if len(stages) < 2:
        problems.append("Dockerfile: expected a multi-stage build (builder + runtime)")
    names = {s.name for s in stages if s.name}
    final = stages[-1]

    # ---- the builder and torch
    runs = [i for s in stages[:-1] for i in s.all("RUN")]
    torch_runs = [i for i in runs if "torch" in i.args and "pip install" in i.args]
    if not torch_runs:
        problems.append("Dockerfile: no builder RUN installs torch")
    for ins in torch_runs:
        if "--index-url" not in ins.args or "TORCH_INDEX_URL" not in ins.args:
            problems.append(
                f"Dockerfile:{ins.line}: torch must come from the CPU index (--index-url)"
            )
        if "torch==" not in ins.args:
            problems.append(f"Dockerfile:{ins.line}: torch must be pinned (torch==VERSION)")
    cpu_index = [i for s in stages for i in s.all("ARG") if i.args.startswith("TORCH_INDEX_URL=")]
    if not cpu_index or not cpu_index[0].args.rstrip("/").endswith("/whl/cpu"):
        problems.append(
            "Dockerfile: ARG TORCH_INDEX_URL must default to PyTorch's CPU index (.../whl/cpu)"
        )

    # ---- the runtime stage
    copies_from = [i for i in final.all("COPY") if i.flags_and_words()[0].get("from") in names]
    if not any("/opt/rlexec/.venv" in i.args for i in copies_from):
        problems.append("Dockerfile: the runtime stage must COPY --from=<builder> the venv")
    users = final.all("USER")
    if not users:
        problems.append("Dockerfile: the runtime stage sets no USER (it would run as root)")
    else:
        user = users[-1].args.split(":")[0].strip()
        if user in ("root", "0"):
            problems.append(f"Dockerfile:{users[-1].line}: the runtime runs as root")
    checks = final.all("HEALTHCHECK")
    if not checks:
        problems.append("Dockerfile: the runtime stage has no HEALTHCHECK")
    else:
        hc = checks[-1]
        flags, words = hc.flags_and_words()
        if not words or words[0].upper() != "CMD":
            problems.append(f"Dockerfile:{hc.line}: HEALTHCHECK must run a command (CMD ...)")
        for flag in ("interval", "timeout", "start-period", "retries"):
            if flag not in flags:
                problems.append(f"Dockerfile:{hc.line}: HEALTHCHECK should set --{flag}")
    for keyword in ("ENTRYPOINT", "CMD"):
        found = final.all(keyword)
        if not found:
            problems.append(f"Dockerfile: the runtime stage has no {keyword}")
        elif found[-1].exec_form() is None:
            problems.append(f"Dockerfile:{found[-1].line}: {keyword} must use the exec (JSON) form")
    entry = final.all("ENTRYPOINT")
    if entry and (form := entry[-1].exec_form()) and "rlexec" not in form:
        problems.append(f"Dockerfile:{entry[-1].line}: ENTRYPOINT must run rlexec")

    # ---- what the build context holds
    for stage in stages:
        for ins in stage.all("COPY") + stage.all("ADD"):
            flags, words = ins.flags_and_words()
            if "from" in flags:
                continue
            if ins.keyword == "ADD":
                problems.append(
                    f"Dockerfile:{ins.line}: use COPY, not ADD (no remote or archive magic)"
                )
            for src in words[:-1]:
                if not (root / src).exists():
                    problems.append(f"Dockerfile:{ins.line}: COPY source {src} does not exist")
                elif not df.context_files(root, ignore, src):
                    problems.append(
                        f"Dockerfile:{ins.line}: COPY source {src} is excluded by .dockerignore"
                    )
    # every first-party package reaches the wheel the image installs (a package added to
    # pyproject.toml but not copied builds fine and fails on its first import)
    copied = {
        src.strip("/")
        for stage in stages[:-1]
        for ins in stage.all("COPY")
        if "from" not in ins.flags_and_words()[0]
        for src in ins.flags_and_words()[1][:-1]
    }
    for pkg in first_party_packages(root):
        if pkg not in copied:
            problems.append(
                f"Dockerfile: package {pkg}/ (pyproject.toml) is not copied into the builder"
            )
    probe = f"{SECRETS_DIR}/redis_rlexec_password"
    if not df.excluded(ignore, probe):
        problems.append(f".dockerignore: {SECRETS_DIR} must never reach the build context")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args(argv)
    problems = check(args.root)
    return report("Dockerfile", problems)


if __name__ == "__main__":
    sys.exit(main())

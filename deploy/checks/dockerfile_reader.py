"""A small Dockerfile reader and .dockerignore matcher, for the static checks.

No Docker engine runs in CI, so nothing ever builds the image there. hadolint lints
the instructions; this reader lets check_dockerfile.py and check_configs.py ask the
questions hadolint does not: does every COPY source exist and survive .dockerignore,
which environment does the final stage set, where do the example configs land.

It understands what our Dockerfile uses: comments, parser directives, line
continuations, ARG/ENV (``KEY=VALUE`` pairs, quoted or not) and JSON (exec) form.
Heredocs are refused rather than misread.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


class DockerfileError(Exception):
    """The Dockerfile uses something this reader does not understand."""


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str  # upper case
    args: str  # everything after the keyword, continuations joined

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN, or None (shell form)."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        return None

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """``--flag=value`` options and the remaining words (COPY, ADD, HEALTHCHECK, FROM)."""
        flags: dict[str, str] = {}
        words = shlex.split(self.args, posix=True)
        rest: list[str] = []
        it = iter(words)
        for w in it:
            if not rest and w.startswith("--"):
                key, sep, value = w[2:].partition("=")
                flags[key] = value if sep else ""
            else:
                rest.append(w)
        return flags, rest


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """Environment set by ENV in this stage (later values win)."""
        out: dict[str, str] = {}
        for ins in self.all("ENV"):
            out.update(parse_env(ins.args))
        return out


def parse_env(args: str) -> dict[str, str]:
    words = shlex.split(args, posix=True)
    if words and "=" not in words[0]:
        # Legacy form: ENV KEY value with spaces
        return {words[0]: " ".join(words[1:])}
    out = {}
    for w in words:
        key, sep, value = w.partition("=")
        if not sep:
            raise DockerfileError(f"ENV {args!r}: {w!r} is not KEY=VALUE")
        out[key] = value
    return out


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction text) with comments dropped, continuations joined."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are skipped
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf.append(raw.rstrip()[:-1])
            continue
        buf.append(raw)
        out.append((start, " ".join(part.strip() for part in buf)))
        buf = []
    if buf:
        raise DockerfileError(f"line {start}: continuation runs past the end of the file")
    return out


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs (before the first FROM) and the stages."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, body in logical_lines(text):
        keyword, _, args = body.partition(" ")
        keyword = keyword.upper()
        if "<<" in args and keyword in ("RUN", "COPY", "ADD"):
            raise DockerfileError(f"line {line}: heredocs are not supported by this reader")
        ins = Instruction(line, keyword, args.strip())
        if keyword == "FROM":
            _, words = ins.flags_and_words()
            base = words[0] if words else ""
            for k, v in global_args.items():
                base = base.replace("${" + k + "}", v).replace("$" + k, v)
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), base, name, [ins]))
        elif not stages:
            if keyword != "ARG":
                raise DockerfileError(f"line {line}: {keyword} before the first FROM")
            key, _, value = args.strip().partition("=")
            global_args[key] = value.strip('"')
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError("no FROM instruction")
    return global_args, stages


# ------------------------------------------------------------------ .dockerignore


@dataclass(frozen=True)
class IgnoreRule:
    pattern: str
    negated: bool


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = pattern.strip("/")
        if pattern.startswith("./"):
            pattern = pattern[2:]
        rules.append(IgnoreRule(pattern, negated))
    return rules


def _matches(pattern: str, path: str) -> bool:
    """Docker's matching: a pattern matching a directory excludes everything under it."""
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if _glob(pattern, prefix):
            return True
    return False


def _glob(pattern: str, path: str) -> bool:
    if "**" in pattern:
        # '**' matches any number of directories (including none)
        head, _, tail = pattern.partition("**")
        head = head.rstrip("/")
        tail = tail.lstrip("/")
        if head and not (path == head or path.startswith(head + "/")):
            return False
        rest = path[len(head) + 1 :] if head else path
        segments = rest.split("/")
        return any(_glob(tail, "/".join(segments[j:])) for j in range(len(segments)))
    pat_parts = pattern.split("/")
    path_parts = path.split("/")
    if len(pat_parts) != len(path_parts):
        return False
    return all(fnmatch.fnmatchcase(p, q) for q, p in zip(pat_parts, path_parts, strict=True))


def excluded(rules: list[IgnoreRule], path: str) -> bool:
    """Whether ``path`` (relative to the build context) is left out of the context."""
    path = path.strip("/")
    result = False
    for rule in rules:
        if _matches(rule.pattern, path):
            result = not rule.negated
    return result


def context_files(root: Path, rules: list[IgnoreRule], source: str) -> list[str]:
    """Files of ``source`` (file or directory, relative to root) that reach the builder."""
    target = root / source
    if target.is_file():
        candidates = [target]
    elif target.is_dir():
        candidates = [p for p in target.rglob("*") if p.is_file()]
    else:
        return []
    rels = [p.relative_to(root).as_posix() for p in candidates]
    return [r for r in rels if not excluded(rules, r)]


def load(root: Path) -> tuple[dict[str, str], list[Stage], list[IgnoreRule]]:
    text = (root / "Dockerfile").read_text()
    ignore_path = root / ".dockerignore"
    rules = parse_dockerignore(ignore_path.read_text()) if ignore_path.exists() else []
    args, stages = parse(text)
    return args, stages, rules

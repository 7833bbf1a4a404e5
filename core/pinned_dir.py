"""A directory whose every byte one hash pins: the shape of every model artifact.

The policy (``policies/artifact.py``) and the signal, volatility and regime models
(``signals/artifact.py``) are each a folder of a payload, a ``manifest.json`` and a
``SHA256SUMS`` in ``sha256sum`` format; the sha256 of SHA256SUMS is the *digest* an
operator pins. What they hold differs; how they are written (atomically: a temp folder
renamed into place, every file fsynced, readable by the service user) and verified
(sizes capped before anything is read, every listed sum checked, the digest or the
manifest's own sum matched against what the caller expects) must not, so it is here
once. Each caller passes its own ``refuse(path, problem)`` so the error names what
kind of artifact was refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
_SUM_LINE = re.compile(r"^([0-9a-f]{64})  ([A-Za-z0-9_.\-]+)$")

Refuse = Callable[[Path, str], Exception]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version(root: Path, *pathspec: str) -> str:
    """The git commit of the code under ``root`` (plus '-dirty' when ``pathspec`` has
    uncommitted changes), or 'unknown' outside a checkout: what an artifact records of
    the code that wrote it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()

    try:
        rev = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--", *pathspec) if pathspec else ""
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def write_manifest(folder: Path, manifest: Mapping[str, Any], *, allow_nan: bool = False) -> None:
    """``allow_nan``: a policy's manifest may carry a NaN figure (a run too short to
    evaluate) as JSON's non-standard NaN, which Python reads back; the signal models'
    never do."""
    (folder / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True, allow_nan=allow_nan) + "\n"
    )


def save(dest: str | Path, write: Callable[[Path], None], files: tuple[str, ...]) -> str:
    """Write a pinned folder atomically and return its digest.

    ``write(folder)`` puts ``files`` into a fresh temp folder beside ``dest``; the sums
    file is added, everything fsynced, and the folder renamed over ``dest`` (the old one
    moved aside first), so a reader sees the old artifact or the new, never a mix.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        write(tmp)
        sums = "".join(f"{sha256_file(tmp / n)}  {n}\n" for n in files)
        (tmp / SUMS).write_text(sums)
        for name in (*files, SUMS):
            (tmp / name).chmod(0o644)  # readable by the daemon's service user
            with (tmp / name).open("rb") as f:
                os.fsync(f.fileno())
        tmp.chmod(0o755)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return hashlib.sha256(sums.encode()).hexdigest()


def digest(folder: str | Path) -> str:
    """sha256 of the folder's SHA256SUMS (what ``expected_sha256`` pins)."""
    return sha256_file(Path(folder) / SUMS)


@dataclass(frozen=True, slots=True)
class Verified:
    digest: str  # sha256 of SHA256SUMS
    sums: dict[str, str]  # file name -> sha256, as listed
    manifest: dict[str, Any]

    @property
    def manifest_sha256(self) -> str:
        return self.sums[MANIFEST]


def verify(
    folder: str | Path,
    payload: tuple[str, ...],
    max_bytes: Mapping[str, int],
    refuse: Refuse,
    expected_sha256: str | None = None,
) -> Verified:
    """Check a pinned folder before any of it is used; ``refuse`` otherwise.

    Every file's size against ``max_bytes`` (files it does not name: the largest cap)
    before a byte of it is read, so a huge or sparse file cannot exhaust memory; every
    listed sum; ``payload`` and the manifest listed; the digest (or the manifest's own
    sum) equal to ``expected_sha256`` when given; the manifest a JSON object.
    """
    p = Path(folder)

    def no(problem: str) -> NoReturn:
        raise refuse(p, problem)

    if not p.is_dir():
        no("not a directory")
    if not (p / SUMS).is_file():
        no(f"{SUMS} is missing")
    _check_size(p, SUMS, max_bytes, no)
    raw = (p / SUMS).read_bytes()
    listed = _parse_sums(raw, no)
    for name in (*payload, MANIFEST):
        if name not in listed:
            no(f"{SUMS} does not list {name}")
    for name, want in listed.items():
        if not (p / name).is_file():
            no(f"{name} is missing")
        _check_size(p, name, max_bytes, no)
        got = sha256_file(p / name)
        if got != want:
            no(f"{name} sha256 {got} does not match {SUMS} ({want}): corrupt or altered")
    pinned = hashlib.sha256(raw).hexdigest()
    if expected_sha256 is not None:
        want = expected_sha256.strip().lower()
        if want not in (pinned, listed[MANIFEST]):
            no(
                f"digest {pinned} is not the expected sha256 {want} "
                f"(nor is the manifest's, {listed[MANIFEST]})"
            )
    try:
        manifest = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        no(f"{MANIFEST} is not valid JSON: {exc}")
    if not isinstance(manifest, dict):
        no(f"{MANIFEST} is not a JSON object")
    return Verified(pinned, listed, manifest)


def check_format(
    folder: Path, manifest: Mapping[str, Any], fmt: str, version: int, refuse: Refuse
) -> None:
    """The manifest names the format and version this code reads, or ``refuse``."""
    got = (manifest.get("format"), manifest.get("format_version"))
    if got != (fmt, version):
        raise refuse(folder, f"format {got[0]!r} v{got[1]!r}, this code reads {fmt!r} v{version}")


def _check_size(
    p: Path, name: str, max_bytes: Mapping[str, int], no: Callable[[str], NoReturn]
) -> None:
    cap = max_bytes.get(name, max(max_bytes.values()))
    size = (p / name).stat().st_size
    if size > cap:
        no(f"{name} is {size:,} bytes, more than the {cap:,} this loader reads")


def _parse_sums(raw: bytes, no: Callable[[str], NoReturn]) -> dict[str, str]:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        no(f"{SUMS} is not ASCII")
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        m = _SUM_LINE.match(line)
        if m is None:
            no(f"{SUMS} line {n} is not '<sha256>  <file name>': {line[:80]!r}")
        if m[2] in out:
            no(f"{SUMS} lists {m[2]} twice")
        out[m[2]] = m[1]
    return out

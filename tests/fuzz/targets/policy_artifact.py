"""Policy artifacts into the loader: corrupt, truncated, wrong shapes, hostile pickles,
huge files.

Each input alters a copy of the committed policy: one of its three files replaced by
the input, truncated, overwritten in place, swapped for a pickle that would run code
when unpickled (plain, and as ``torch.save`` writes it), or grown to a huge sparse
file, and then SHA256SUMS is rewritten to match or left as it was. The loader either
returns a policy whose network answers every observation with finite scores or raises
an :class:`ArtifactError` naming the directory and the problem; the pickle's code
never runs; a huge file is refused by its size.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from policies.artifact import MANIFEST, SUMS, WEIGHTS, ArtifactError, load_artifact
from tests.fuzz.harness import Choices, assert_clear_error
from tests.fuzz.targets._files import REPO, scratch_dir

FILES = (WEIGHTS, MANIFEST, SUMS)
POLICY = REPO / "policies" / "artifacts" / "ppo_amzn"


class _Payload:
    """Unpickling this runs code: it touches ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class PolicyArtifactTarget:
    name = "policy_artifact"
    surface = "artifact directory (weights, manifest, SHA256SUMS) -> load_artifact"

    def __init__(self) -> None:
        base = scratch_dir(self.name)
        self.dir = base / "policy"
        self.marker = base / "pickle-ran"
        self.original = {f: (POLICY / f).read_bytes() for f in FILES}
        payload = _Payload(self.marker)
        buf = io.BytesIO()
        torch.save({"net.0.weight": payload}, buf)
        self.pickles = (pickle.dumps(payload), buf.getvalue())

    def seeds(self) -> Iterable[bytes]:
        for f in range(len(FILES)):
            for op in range(6):
                yield bytes([f, op, 1, 7, 0, 3]) + self.original[FILES[f]][:64]

    def _write(self, files: dict[str, bytes], fix_sums: bool) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir()
        for name, body in files.items():
            (self.dir / name).write_bytes(body)
        if fix_sums:
            sums = "".join(
                f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in (MANIFEST, WEIGHTS)
            )
            (self.dir / SUMS).write_text(sums)

    def one_input(self, data: bytes) -> None:
        c = Choices(data)
        target = FILES[c.int(0, 2)]
        op = c.int(0, 5)
        fix_sums = c.int(0, 1) == 1 and target != SUMS
        files = dict(self.original)
        body = files[target]
        huge = False
        if op == 0:
            body = c.rest()
        elif op == 1:
            body = body[: c.int(0, len(body))]
        elif op == 2:
            at = c.int(0, len(body) - 1)
            patch = c.bytes(c.int(1, 16))
            body = body[:at] + patch + body[at + len(patch) :]
        elif op == 3:
            body = self.pickles[c.int(0, 1)]
        elif op == 4:
            body = body + c.rest()
        else:
            huge = True
        files[target] = body
        self._write(files, fix_sums)
        if huge:
            with open(self.dir / target, "r+b") as f:  # sparse: costs no memory or disk
                f.truncate(c.int(600, 4096) * 1024 * 1024)
        t0 = time.monotonic()
        try:
            art = load_artifact(self.dir)
        except ArtifactError as exc:
            text = assert_clear_error(exc)
            assert str(self.dir) in text, f"the error does not name the artifact: {text}"
            if huge:
                assert "this loader reads" in text and time.monotonic() - t0 < 1.0, text
        else:
            assert not huge, "a huge file was loaded"
            with torch.no_grad():  # the shapes agree; finiteness of scores is the
                out = art.net(torch.zeros(1, art.net.n_in))  # policy guard's job at act()
            assert tuple(out.shape) == (1, art.net.n_out)
        assert not os.path.exists(self.marker), "a pickle in the artifact was unpickled"


def make() -> PolicyArtifactTarget:
    return PolicyArtifactTarget()

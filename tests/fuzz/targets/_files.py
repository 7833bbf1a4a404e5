"""Scratch files for targets whose surface is a file: in /dev/shm where it exists."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_dir(name: str) -> Path:
    """A fresh directory, removed when the process exits."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    d = Path(tempfile.mkdtemp(prefix=f"rlexec-fuzz-{name}-", dir=base))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    return d


REPO = Path(__file__).resolve().parents[3]

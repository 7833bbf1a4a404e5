"""How every deploy check ends: each problem on its own line, or one OK line.

The same shape for all checks, so scripts/check_deploy.sh and a reader of CI logs see
one verdict per check, and the exit code says it too.
"""

from __future__ import annotations


def report(what: str, problems: list[str]) -> int:
    for p in problems:
        print(p)
    if not problems:
        print(f"{what}: OK")
    return 1 if problems else 0

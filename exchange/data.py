"""Where the shipped market data lives: ``data/`` at the repository root.

The simulator and the tests read LOBSTER samples from the repository itself, never
from a machine-wide share, so a fresh clone (CI, a container) runs as-is. Set
``RLEXEC_DATA_DIR`` to point at another data root with the same layout
(``lobster/<TICKER>_<DATE>_<LEVELS>/*.csv.gz``).
"""

from __future__ import annotations

import os
from pathlib import Path

from gateways.marketdata.lobster import LobsterFormatError, message_file_in

__all__ = [
    "ENV_VAR",
    "SHIPPED_DATA",
    "LobsterFormatError",
    "data_dir",
    "lobster_dir",
    "lobster_message_file",
    "lobster_message_files",
    "message_file_in",
]

ENV_VAR = "RLEXEC_DATA_DIR"
# The data shipped with the repository, whatever RLEXEC_DATA_DIR says: what the
# committed policy was trained and evaluated on.
SHIPPED_DATA = Path(__file__).resolve().parent.parent / "data"


def data_dir() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    return SHIPPED_DATA


def lobster_dir() -> Path:
    return data_dir() / "lobster"


def lobster_message_file(ticker: str, date: str, levels: int | None) -> Path:
    """The message file of one LOBSTER day under the data root, e.g. ``("AMZN",
    "2012-06-21", 5)``; ``levels`` None: the one level count the root holds for it."""
    root = lobster_dir()
    if levels is None:
        folders = sorted(root.glob(f"{ticker}_{date}_*"))
        if len(folders) != 1:
            found = ", ".join(f.name for f in folders) or "none"
            raise FileNotFoundError(
                f"no single LOBSTER day for {ticker} {date} under {root} (found: {found}); "
                f"name it with folder = ... or message_file = ..., or set levels"
            )
        folder = folders[0]
        levels_glob = "*"
    else:
        folder = root / f"{ticker}_{date}_{levels}"
        levels_glob = str(levels)
    matches = sorted(folder.glob(f"{ticker}_{date}_*_message_{levels_glob}.csv*"))
    if not matches:
        raise FileNotFoundError(
            f"no LOBSTER message file for {ticker} {date}"
            + (f" level {levels}" if levels is not None else "")
            + f" in {folder} (name it with folder = ... or message_file = ..., or set "
            f"{ENV_VAR} to another data root)"
        )
    return matches[0]


def lobster_message_files() -> list[Path]:
    """Every shipped LOBSTER message file, sorted."""
    return sorted(lobster_dir().glob("*/*_message_*.csv*"))

"""Where the shipped market data lives: ``data/`` at the repository root.

The simulator and the tests read LOBSTER samples from the repository itself, never
from a machine-wide share, so a fresh clone (CI, a container) runs as-is. Set
``RLEXEC_DATA_DIR`` to point at another data root with the same layout
(``lobster/<TICKER>_<DATE>_<LEVELS>/*.csv.gz``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "RLEXEC_DATA_DIR"


def data_dir() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "data"


def lobster_dir() -> Path:
    return data_dir() / "lobster"


def lobster_message_file(ticker: str, date: str, levels: int) -> Path:
    """The message file of one shipped LOBSTER day, e.g. ``("AMZN", "2012-06-21", 5)``."""
    folder = lobster_dir() / f"{ticker}_{date}_{levels}"
    matches = sorted(folder.glob(f"{ticker}_{date}_*_message_{levels}.csv*"))
    if not matches:
        raise FileNotFoundError(
            f"no LOBSTER message file for {ticker} {date} level {levels} in {folder} "
            f"(set {ENV_VAR} to another data root if the data lives elsewhere)"
        )
    return matches[0]


def lobster_message_files() -> list[Path]:
    """Every shipped LOBSTER message file, sorted."""
    return sorted(lobster_dir().glob("*/*_message_*.csv*"))

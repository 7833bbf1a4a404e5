"""LOBSTER folders for tickers the project never shipped, made from the shipped files.

The content is a real day (AMZN level 1 by default); only the ticker in the folder and
file names changes, which is all the code reads a ticker from. So a test can serve or
evaluate "MSFT" without the shipped defaults having any say.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "data" / "lobster"


def renamed_day(root: Path, ticker: str, source: str = "AMZN_2012-06-21_1") -> Path:
    """``root/<ticker>_<date>_<levels>/`` holding the shipped ``source`` day's files,
    renamed to ``ticker``; returns the folder."""
    old = source.split("_", 1)[0]
    folder = root / source.replace(old, ticker, 1)
    folder.mkdir(parents=True, exist_ok=True)
    for f in (SHIPPED / source).iterdir():
        shutil.copy(f, folder / f.name.replace(old, ticker, 1))
    return folder

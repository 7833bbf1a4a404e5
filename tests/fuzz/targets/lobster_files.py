"""LOBSTER message and orderbook files into the reader (level 1 and level 2 pairs).

Each input is split into a message file and an orderbook file (at a ``---`` line;
without one, the real orderbook rows are used) and optionally gzipped, then read as a
pair. The reader either returns a day whose columns agree (equal row counts, time in
order, sizes positive, no crossed or out-of-order book) or raises a
:class:`LobsterFormatError` naming one of the two files.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from itertools import islice

import numpy as np

from gateways.marketdata.lobster import LobsterFormatError, read_day
from tests.fuzz.harness import Choices, assert_clear_error
from tests.fuzz.targets._files import REPO, scratch_dir

DATA = REPO / "data" / "lobster"
STEM = "AMZN_2012-06-21_34200000_57600000"
SPLIT = b"---\n"


def _head(path: str, n: int) -> bytes:
    with gzip.open(DATA / path, "rb") as f:
        return b"".join(islice(f, n))


class LobsterFilesTarget:
    name = "lobster_files"
    surface = "message + orderbook CSV (plain or gzip) -> lobster.read_day"

    def __init__(self) -> None:
        self.dir = scratch_dir(self.name)
        self.real = {
            levels: (
                _head(f"AMZN_2012-06-21_{levels}/{STEM}_message_{levels}.csv.gz", 12),
                _head(f"AMZN_2012-06-21_{levels}/{STEM}_orderbook_{levels}.csv.gz", 12),
            )
            for levels in (1, 5)
        }

    def seeds(self) -> Iterable[bytes]:
        for levels, (msgs, book) in self.real.items():
            for gz in (0, 1):
                yield bytes([levels == 5, gz]) + msgs + SPLIT + book
                yield bytes([levels == 5, gz]) + msgs[: len(msgs) // 2] + SPLIT + book

    def one_input(self, data: bytes) -> None:
        c = Choices(data)
        levels = 5 if c.int(0, 1) else 1
        gz = c.int(0, 1) == 1
        msgs, sep, book = c.rest().partition(SPLIT)
        if not sep:
            book = self.real[levels][1]
        suffix = ".csv.gz" if gz else ".csv"
        mp = self.dir / f"{STEM}_message_{levels}{suffix}"
        op = self.dir / f"{STEM}_orderbook_{levels}{suffix}"
        for other in self.dir.iterdir():
            other.unlink()
        mp.write_bytes(gzip.compress(msgs, compresslevel=1) if gz else msgs)
        op.write_bytes(gzip.compress(book, compresslevel=1) if gz else book)
        try:
            day = read_day(mp)
        except LobsterFormatError as exc:
            text = assert_clear_error(exc)
            assert exc.path in (str(mp), str(op)), f"error names neither file: {text}"
            return
        m, b = day.messages, day.book
        assert len(m) == len(b) > 0
        assert b.levels == levels
        assert (np.diff(m.ts_ns) >= 0).all(), "time goes backwards"
        book_rows = m.event != 7
        assert (m.size[book_rows] > 0).all() and (m.price[book_rows] > 0).all()
        both = (b.ask_px[:, 0] > 0) & (b.bid_px[:, 0] > 0)
        assert (b.bid_px[both, 0] < b.ask_px[both, 0]).all(), "crossed book accepted"
        assert ((b.ask_sz >= 0) & (b.bid_sz >= 0)).all()


def make() -> LobsterFilesTarget:
    return LobsterFilesTarget()

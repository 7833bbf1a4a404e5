"""Which market data the signal models learn from, are chosen on and are judged on.

The split is the committed policy's (docs/policies.md, "Data and generalisation"), so
no model here has seen an hour the policy is tested on:

* AMZN 2012-06-21, level 5: train 09:30-13:00, validation 13:00-14:15, test 14:15-16:00;
* AAPL 2012-06-21, level 1: test only, the whole day (a ticker never seen).

Only the touch (level 1) is used, so a model fitted on AMZN's five-level file runs on
a one-level feed unchanged. Every trading window starts with :data:`WARMUP_S` of
history, during which nothing is sampled: the trackers' statistics need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exchange.data import SHIPPED_DATA, LobsterFormatError, message_file_in

OPEN_S = 34_200  # 09:30
CLOSE_S = 57_600  # 16:00
WARMUP_S = 300  # nothing is sampled in the first 5 minutes after the open


class SignalDataError(ValueError):
    """Data a model cannot use; the message names the folder or window."""


Window = tuple[int, int]  # seconds after midnight, [start, end)


@dataclass(frozen=True, slots=True)
class DaySplit:
    """One LOBSTER ticker-day and its train / validation / test windows."""

    folder: Path
    train: tuple[Window, ...] = ()
    validation: tuple[Window, ...] = ()
    test: tuple[Window, ...] = ()

    @property
    def message_file(self) -> Path:
        try:
            return message_file_in(self.folder)
        except LobsterFormatError as exc:
            raise SignalDataError(str(exc)) from None

    def windows(self, part: str) -> tuple[Window, ...]:
        if part not in ("train", "validation", "test"):
            raise SignalDataError(f"no split part {part!r}; use train, validation or test")
        out: tuple[Window, ...] = getattr(self, part)
        return out

    def describe(self) -> dict[str, object]:
        return {
            "folder": self.folder.name,
            **{part: [fmt_window(w) for w in self.windows(part)] for part in _PARTS},
        }


_PARTS = ("train", "validation", "test")


def hhmm(text: str) -> int:
    """'13:00' -> seconds after midnight."""
    try:
        h, m = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60
    except ValueError:
        raise SignalDataError(f"bad time of day {text!r}; use HH:MM") from None


def window(text: str) -> Window:
    """'09:30-13:00' -> (34200, 46800)."""
    try:
        a, b = text.split("-")
    except ValueError:
        raise SignalDataError(f"bad window {text!r}; use HH:MM-HH:MM") from None
    lo, hi = hhmm(a), hhmm(b)
    if not OPEN_S <= lo < hi <= CLOSE_S:
        raise SignalDataError(f"window {text!r} is empty or outside 09:30-16:00")
    return lo, hi


def fmt_window(w: Window) -> str:
    return "-".join(f"{s // 3600:02d}:{s % 3600 // 60:02d}" for s in w)


def default_splits(root: Path | None = None) -> tuple[DaySplit, ...]:
    """The committed policy's split over the shipped data (``root`` to move it)."""
    lob = (root or SHIPPED_DATA) / "lobster"
    return (
        DaySplit(
            lob / "AMZN_2012-06-21_5",
            train=(window("09:30-13:00"),),
            validation=(window("13:00-14:15"),),
            test=(window("14:15-16:00"),),
        ),
        DaySplit(lob / "AAPL_2012-06-21_1", test=(window("09:30-16:00"),)),
    )

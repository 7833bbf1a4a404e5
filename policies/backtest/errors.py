"""What can stop a backtest, each with a message an operator can act on."""

from __future__ import annotations


class BacktestError(Exception):
    """A run that cannot go on; the message names what and where."""


class JobFailed(BacktestError):
    """A job raised where it ran; ``detail`` holds the worker's traceback."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class MissingDependency(BacktestError):
    """An optional extra this run needs is not installed (the message says which)."""


class CacheError(BacktestError):
    """The cache file cannot be used; the message says which file and what to do."""

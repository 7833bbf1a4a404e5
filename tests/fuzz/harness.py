"""What every fuzz target shares: how input bytes become choices, and what a clear error is.

A target is a module in ``tests/fuzz/targets`` with a ``make()`` returning a
:class:`Target`. The same object is driven three ways: by atheris (coverage-guided,
``bench/fuzz.py``, a subprocess per target), by the suite's short budget (the same
runner, a few seconds each) and by the regression tests, which replay the inputs that
once broke something. ``one_input`` must return normally for every input: an exception
escaping it is a crash, an ``AssertionError`` a broken promise (no clear error, state
not intact), and anything slower than the runner's timeout a hang.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class Target(Protocol):
    name: str
    surface: str  # what is fed where, in one line (the bench prints it)

    def seeds(self) -> Iterable[bytes]:
        """Valid and near-valid inputs to start from (coverage-guided mutation needs them)."""
        ...

    def one_input(self, data: bytes) -> None: ...


class Choices:
    """Read decisions off the fuzzer's bytes: a fixed input always makes the same choices.

    Running out of bytes yields the lowest choice, so every input is usable.
    """

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def int(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi], from as many bytes as the range needs."""
        span = hi - lo
        if span <= 0:
            return lo
        width = (span.bit_length() + 7) // 8
        chunk = self._data[self._pos : self._pos + width]
        self._pos += width
        return lo + int.from_bytes(chunk.ljust(width, b"\0"), "little") % (span + 1)

    def pick(self, options: tuple[object, ...] | list[object]) -> object:
        return options[self.int(0, len(options) - 1)]

    def bytes(self, n: int) -> bytes:
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def rest(self) -> bytes:
        out = self._data[self._pos :]
        self._pos = len(self._data)
        return out

    @property
    def left(self) -> int:
        return len(self._data) - self._pos


def assert_clear_error(exc: BaseException, *, secrets: Iterable[str] = ()) -> str:
    """An error an operator can act on: a message, on one screen, naming no secret."""
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} raised without a message"
    assert "Traceback (most recent call last)" not in text, f"traceback in the error: {text!r}"
    assert len(text) < 20_000, f"error message of {len(text)} characters"
    for s in secrets:
        assert s not in text, f"the error repeats a secret: {text!r}"
    return text


def quiet() -> None:
    """Logs off: a fuzzer feeds millions of bad inputs, each logged by the code under test."""
    from core import log as logs

    logs.configure("console", "CRITICAL")

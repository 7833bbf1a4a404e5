"""Command-line help that shows every option's default.

Every ``rlexec`` command and tool uses :class:`DefaultsHelpFormatter`, so ``--help``
answers "what happens if I leave this out" for each option: argparse's own
``ArgumentDefaultsHelpFormatter`` appends ``(default: X)``, except where the help text
already says what the default is in words ("default: embedded defaults"), which reads
better than ``(default: None)``. Descriptions keep their own line breaks (they are
docstrings, already wrapped).
"""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(
    argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter
):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text.lower():
            return text
        return super()._get_help_string(action)


def positive_int(text: str) -> int:
    """An argparse type: a whole number > 0 (argparse turns the error into one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not > 0")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number > 0")
    return value

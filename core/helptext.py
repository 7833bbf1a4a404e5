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

"""The ``rlexec`` command line: one entry point for every process and tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.config import ConfigError, config_hash, load


def _config_check(args: argparse.Namespace) -> int:
    from daemon.config import DaemonConfig

    try:
        cfg = load(DaemonConfig, args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: OK (sha256 {config_hash(cfg)[:16]})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlexec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = cfg_sub.add_parser("check", help="validate a config file (and RLEXEC__ env overrides)")
    check.add_argument("file")
    check.set_defaults(func=_config_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())

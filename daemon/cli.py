"""The rlexec command line: one entry point for every process and tool.

Exit status, for every command: 0 done; 1 it ran and reports a failure (ctl: the
daemon refused the command; demo: the run failed); 2 unusable input (arguments,
configuration, data, artifact), nothing started; 3 ctl only: Redis cannot be
reached or refused us, or no reply came within --timeout. A user error is one line
on stderr naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.config import ConfigError, config_hash, load, load_toml
from core.helptext import DefaultsHelpFormatter

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

# Top-level sections only one of the two processes has: how `config check` tells a
# daemon config from an exchange config.
DAEMON_ONLY = frozenset(
    {"node", "http", "redis", "control", "clock", "policy", "execution", "journal", "risk"}
)
EXCHANGE_ONLY = frozenset({"source", "pacing", "audit", "engine"})


# ------------------------------------------------------------------ config check
def config_kind(file: str) -> str:
    """``daemon`` or ``exchange``, from the sections the file has (ConfigError if both)."""
    sections = set(load_toml(file))
    daemon, exchange = sorted(sections & DAEMON_ONLY), sorted(sections & EXCHANGE_ONLY)
    if daemon and exchange:
        raise ConfigError(
            file,
            [
                f"has daemon sections ({', '.join(daemon)}) and exchange sections "
                f"({', '.join(exchange)}); one file configures one process "
                "(or say which with --kind)"
            ],
        )
    return "exchange" if exchange else "daemon"


def _config_check(args: argparse.Namespace) -> int:
    try:
        kind = config_kind(args.file) if args.kind == "auto" else args.kind
        if kind == "exchange":
            from exchange.config import ExchangeConfig, data_problems

            cfg: Any = load(ExchangeConfig, args.file)
            problems = data_problems(cfg)
            if problems:
                raise ConfigError(args.file, problems)
        else:
            from daemon.config import DaemonConfig

            cfg = load(DaemonConfig, args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    how = "" if args.kind != "auto" else " (told by its sections; --kind to choose)"
    print(f"{args.file}: OK as the {kind}'s config{how}, sha256 {config_hash(cfg)[:16]}")
    return EXIT_OK


def _config_show(args: argparse.Namespace) -> int:
    from core.config_doc import as_json, explain, format_settings

    if args.kind == "exchange":
        from exchange.config import ExchangeConfig

        model: Any = ExchangeConfig
    else:
        from daemon.config import DaemonConfig

        model = DaemonConfig
    try:
        rows = explain(model, args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    print(as_json(rows) if args.json else format_settings(rows))
    return EXIT_OK


# ----------------------------------------------------------------------- ctl
class _UsageError(Exception):
    """A ctl command refused before anything is sent."""


def _parse_kv(pairs: Sequence[str]) -> dict[str, object]:
    """``key=value`` pairs; values parse as JSON when they can (numbers, true), else strings."""
    import orjson

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _UsageError(f"argument {pair!r} is not key=value")
        try:
            out[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[key] = value
    return out


def _checked_command(cmd: str, kv: dict[str, object], key: bytes | None) -> None:
    """The daemon's own parser, run here: an unknown command or bad arguments are refused
    before connecting, with the daemon's words."""
    from daemon.control.commands import SIGNED_COMMANDS, CommandError, envelope, parse

    if cmd in SIGNED_COMMANDS and key is None:
        raise _UsageError(
            f"{cmd} loosens safety and must be signed: give --key-file (or set "
            "RLEXEC_CONTROL_KEY_FILE)"
        )
    try:
        parse(envelope("local-check", cmd, kv, key=key, nonce="local-check"))
    except CommandError as exc:
        raise _UsageError(exc.message) from None


CTL_HELP = """Send one control command over Redis and print the daemon's reply.

commands:
  submit_parent symbol=AMZN side=sell qty=40000 duration_s=1800 [algo=ALGO]
                                   ALGO: policy (default), twap, vwap, pov, ac, catchup
                                   (catchup needs a tolerance: docs/operations.md)
  cancel_parent parent_id=P        pause [parent_id=P]        resume [parent_id=P]
  kill reason=...                  status
  reset_kill reason=...            (signed: --key-file)
  load_policy path=... sha256=...  (signed: --key-file)

A command or argument the daemon would refuse is refused here, before connecting.
Exit status: 0 the daemon applied it, 1 it refused it, 2 bad command, arguments or
config, 3 Redis unreachable or refusing us, or no reply within --timeout.
"""


def _ctl(args: argparse.Namespace) -> int:
    import asyncio
    import os

    import orjson
    from redis.exceptions import RedisError

    from daemon.config import DaemonConfig
    from daemon.control.client import ControlTimeout, public_url, send_command
    from daemon.control.redis_plane import RedisPlaneSettings

    try:
        cfg = load(DaemonConfig, args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    key = None
    key_file = args.key_file or os.environ.get("RLEXEC_CONTROL_KEY_FILE")
    try:
        if key_file:
            try:
                key = Path(key_file).read_bytes().strip()
            except OSError as exc:
                raise _UsageError(f"cannot read the key file {key_file}: {exc.strerror}") from None
        kv = _parse_kv(args.args)
        _checked_command(args.cmd, kv, key)
    except _UsageError as exc:
        print(f"rlexec ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    url = args.redis_url or cfg.redis.url
    try:
        reply = asyncio.run(
            send_command(
                url,
                args.cmd,
                kv,
                command_stream=cfg.redis.command_stream,
                reply_stream=cfg.redis.reply_stream,
                key=key,
                timeout_s=args.timeout,
                username=cfg.redis.username or None,
                password=cfg.redis.password.get_secret_value() or None,
                tls=RedisPlaneSettings(
                    url=url,
                    tls_ca_file=str(cfg.redis.tls_ca_file) if cfg.redis.tls_ca_file else None,
                    tls_cert_file=str(cfg.redis.tls_cert_file) if cfg.redis.tls_cert_file else None,
                    tls_key_file=str(cfg.redis.tls_key_file) if cfg.redis.tls_key_file else None,
                ).tls_kwargs(),
            )
        )
    except ControlTimeout as exc:
        print(f"rlexec ctl: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (RedisError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        print(f"rlexec ctl: cannot reach Redis at {public_url(url)}: {reason}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode())
    return EXIT_OK if reply.get("ok") else EXIT_FAILED


# ------------------------------------------------------------------ processes
def _run(args: argparse.Namespace) -> int:
    from daemon.main import main as run_main

    return run_main(["--config", args.config] if args.config else [])


def _exchange(args: argparse.Namespace) -> int:
    from exchange.main import main as exchange_main

    return exchange_main(["--config", args.config] if args.config else [])


def _subparser(sub: Any, name: str, text: str, **kw: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=text, description=kw.pop("description", text), **kw
    )
    parser.formatter_class = DefaultsHelpFormatter
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlexec",
        description=__doc__,
        formatter_class=DefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cfg = _subparser(sub, "config", "configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = _subparser(
        cfg_sub,
        "check",
        "validate a daemon or exchange config file without starting anything",
        description="Validate a daemon or exchange config file, with the RLEXEC__ environment\n"
        "overrides, without starting anything; for the exchange, also that its data files\n"
        "exist. Exit status: 0 valid, 2 not (one line per problem, naming the key).",
    )
    check.add_argument("file", help="the TOML file")
    check.add_argument(
        "--kind",
        choices=("auto", "daemon", "exchange"),
        default="auto",
        help="which process the file configures (auto: told by its sections)",
    )
    check.set_defaults(func=_config_check)
    show = _subparser(
        cfg_sub,
        "show",
        "every setting: type, default, description, current value and where it came from",
        description="Every setting of the daemon's (or the exchange's) configuration: its\n"
        "type, default and description, and its current value with where that came from\n"
        "(the file, an RLEXEC__ environment variable, or the default). Secrets show only\n"
        "whether they are set. Exit status: 0 shown, 2 the configuration is not valid.",
    )
    show.add_argument(
        "--kind", choices=("daemon", "exchange"), default="daemon", help="which process"
    )
    show.add_argument(
        "--config", metavar="FILE", default=None, help="TOML config (default: embedded defaults)"
    )
    show.add_argument("--json", action="store_true", help="a JSON list instead of text")
    show.set_defaults(func=_config_show)

    # listed for --help; main() hands their arguments over untouched
    for name, (_, _, text) in _PASSTHROUGH.items():
        _subparser(sub, name, f"{text} (see rlexec {name} --help)", add_help=False)

    run = _subparser(sub, "run", "run the execution daemon")
    run.add_argument(
        "--config", metavar="FILE", default=None, help="TOML config (default: embedded defaults)"
    )
    run.set_defaults(func=_run)

    ex = _subparser(sub, "exchange", "run the simulated / paper exchange (FIX + market data)")
    ex.add_argument(
        "--config", metavar="FILE", default=None, help="TOML config (default: embedded defaults)"
    )
    ex.set_defaults(func=_exchange)

    ctl = _subparser(
        sub,
        "ctl",
        "send one control command over Redis and print the reply",
        description=CTL_HELP,
    )
    ctl.add_argument("cmd", metavar="COMMAND", help="the command (see above)")
    ctl.add_argument("args", nargs="*", metavar="KEY=VALUE", help="its arguments (default: none)")
    ctl.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="daemon or rlexec-ctl config for the Redis url, user and streams "
        "(default: embedded defaults)",
    )
    ctl.add_argument(
        "--redis-url", default=None, help="overrides the config's redis.url (default: none)"
    )
    ctl.add_argument(
        "--key-file",
        metavar="FILE",
        default=None,
        help="HMAC key for signed commands (default: $RLEXEC_CONTROL_KEY_FILE)",
    )
    ctl.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the reply")
    ctl.set_defaults(func=_ctl)
    return parser


# Subcommands that own their whole argument list (their own --help, their own flags):
# name -> (module, function, one-line help). A new one is one line here.
_PASSTHROUGH = {
    "demo": (
        "daemon.demo",
        "main",
        "the whole product on one machine: exchange + daemon + policy",
    ),
    "train": ("policies.train", "main", "train a policy (PPO or DQN) and write an artifact"),
    "evaluate": (
        "policies.evaluate",
        "main",
        "compare a policy with TWAP/VWAP/POV/AC on held-out data",
    ),
    "backtest": (
        "policies.backtest.cli",
        "main",
        "execution-quality report: IS split, intervals, plots",
    ),
    "gate": ("policies.backtest.gate_cli", "main", "promotion gate for a candidate policy"),
    "retrain": (
        "policies.retrain",
        "main",
        "fine-tune a policy from recorded decisions, then gate the candidate",
    ),
}


def _user_error(exc: BaseException) -> bool:
    """Errors that mean "your input cannot be used": one line, exit 2, no traceback."""
    from exchange.data import LobsterFormatError
    from gateways.marketdata.recording import RecordingFormatError
    from policies.artifact import ArtifactError
    from policies.data import DataError

    return isinstance(
        exc, ConfigError | ArtifactError | DataError | LobsterFormatError | RecordingFormatError
    )


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _PASSTHROUGH:
        import importlib

        name = args_list[0]
        module, func, _ = _PASSTHROUGH[name]
        try:
            rc: int = getattr(importlib.import_module(module), func)(args_list[1:])
        except Exception as exc:
            if not _user_error(exc):
                raise
            print(f"rlexec {name}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        return rc
    parser = build_parser()
    args = parser.parse_args(args_list)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

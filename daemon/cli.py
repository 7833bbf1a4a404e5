"""The ``rlexec`` command line: one entry point for every process and tool."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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


def _parse_kv(pairs: Sequence[str]) -> dict[str, object]:
    """``key=value`` pairs; values parse as JSON when they can (numbers, true), else strings."""
    import orjson

    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"rlexec ctl: argument {pair!r} is not key=value")
        try:
            out[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[key] = value
    return out


def _ctl(args: argparse.Namespace) -> int:
    import asyncio
    import os

    import orjson

    from daemon.config import DaemonConfig
    from daemon.control.client import ControlTimeout, send_command
    from daemon.control.redis_plane import RedisPlaneSettings

    try:
        cfg = load(DaemonConfig, args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    key = None
    key_file = args.key_file or os.environ.get("RLEXEC_CONTROL_KEY_FILE")
    if key_file:
        key = Path(key_file).read_bytes().strip()
    url = args.redis_url or cfg.redis.url
    try:
        reply = asyncio.run(
            send_command(
                url,
                args.cmd,
                _parse_kv(args.args),
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
        return 3
    except OSError as exc:
        print(f"rlexec ctl: cannot reach Redis at {url}: {exc}", file=sys.stderr)
        return 3
    print(orjson.dumps(reply, option=orjson.OPT_INDENT_2).decode())
    return 0 if reply.get("ok") else 1


def _run(args: argparse.Namespace) -> int:
    from daemon.main import main as run_main

    return run_main(["--config", args.config] if args.config else [])


def _exchange(args: argparse.Namespace) -> int:
    from exchange.main import main as exchange_main

    return exchange_main(["--config", args.config] if args.config else [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlexec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = cfg_sub.add_parser("check", help="validate a config file (and RLEXEC__ env overrides)")
    check.add_argument("file")
    check.set_defaults(func=_config_check)

    # listed for --help; main() hands their arguments over untouched
    sub.add_parser("demo", help="the whole product on one machine: exchange + daemon + policy")
    sub.add_parser("train", help="train a policy (PPO or DQN) and write an artifact")
    sub.add_parser("evaluate", help="compare a policy with TWAP/VWAP/POV/AC on held-out data")
    sub.add_parser("backtest", help="execution-quality report: IS split, intervals, plots")

    run = sub.add_parser("run", help="run the execution daemon")
    run.add_argument("--config", metavar="FILE", default=None, help="omit for embedded defaults")
    run.set_defaults(func=_run)

    ex = sub.add_parser("exchange", help="run the simulated / paper exchange (FIX + market data)")
    ex.add_argument("--config", metavar="FILE", default=None, help="omit for embedded defaults")
    ex.set_defaults(func=_exchange)

    ctl = sub.add_parser(
        "ctl",
        help="send one control command over Redis and print the reply",
        description="Commands: submit_parent symbol=AMZN side=sell qty=40000 duration_s=1800 | "
        "cancel_parent parent_id=P | pause [parent_id=P] | resume [parent_id=P] | "
        "kill reason=... | reset_kill (signed) | load_policy path=... sha256=... (signed) | status",
    )
    ctl.add_argument("cmd")
    ctl.add_argument("args", nargs="*", help="key=value arguments")
    ctl.add_argument("--config", default=None, help="daemon config (for Redis url and streams)")
    ctl.add_argument("--redis-url", default=None)
    ctl.add_argument("--key-file", default=None, help="HMAC key for signed commands")
    ctl.add_argument("--timeout", type=float, default=10.0)
    ctl.set_defaults(func=_ctl)
    return parser


# Subcommands that own their whole argument list (their own --help, their own flags).
_PASSTHROUGH = {
    "demo": ("daemon.demo", "main"),
    "train": ("policies.train", "main"),
    "evaluate": ("policies.evaluate", "main"),
    "backtest": ("policies.backtest.cli", "main"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _PASSTHROUGH:
        import importlib

        module, func = _PASSTHROUGH[args_list[0]]
        rc: int = getattr(importlib.import_module(module), func)(args_list[1:])
        return rc
    parser = build_parser()
    args = parser.parse_args(args_list)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""rlexec-healthcheck: the container HEALTHCHECK, for the daemon and the exchange alike.

One image runs both processes, so the probe takes its target as an argument (or
``$RLEXEC_HEALTHCHECK_URL``): ``http://host:port/path`` must answer 200 within the
timeout (the daemon's ``/healthz``); ``tcp://host:port`` must accept a connection (the
exchange's FIX acceptor). It uses only the standard library: the slim image has no curl,
and a probe that needs its own dependencies is one more thing to break.

Exit 0 healthy, 1 unhealthy (Docker's convention), 2 bad usage; one line says why.

Usage: rlexec-healthcheck [URL] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:9464/healthz"
HEALTHY, UNHEALTHY, USAGE = 0, 1, 2


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A health endpoint that redirects is misconfigured: report it, do not follow it."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe_http(url: str, timeout_s: float) -> tuple[bool, str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=timeout_s) as resp:
            status: int = resp.status
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url}: {reason}"
    if status != 200:
        return False, f"{url}: HTTP {status}"
    return True, f"{url}: HTTP 200"


def probe_tcp(host: str, port: int, timeout_s: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        return False, f"tcp://{host}:{port}: {exc.strerror or exc}"
    return True, f"tcp://{host}:{port}: accepting"


def probe(url: str, timeout_s: float) -> tuple[bool, str]:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return probe_http(url, timeout_s)
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ValueError(f"{url!r}: expected tcp://host:port")
        return probe_tcp(parts.hostname, port, timeout_s)
    raise ValueError(f"{url!r}: expected an http://, https:// or tcp:// URL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rlexec-healthcheck", description=__doc__.split("\n")[0])
    parser.add_argument(
        "url", nargs="?", default=os.environ.get("RLEXEC_HEALTHCHECK_URL", DEFAULT_URL)
    )
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        print("rlexec-healthcheck: --timeout must be positive", file=sys.stderr)
        return USAGE
    try:
        ok, why = probe(args.url, args.timeout)
    except ValueError as exc:
        print(f"rlexec-healthcheck: {exc}", file=sys.stderr)
        return USAGE
    print(("healthy: " if ok else "unhealthy: ") + why)
    return HEALTHY if ok else UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())

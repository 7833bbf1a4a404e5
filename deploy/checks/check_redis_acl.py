#!/usr/bin/env python3
"""Run a real redis-server with our configs and ACL, and try what each user may and may not do.

An ACL file is easy to get subtly wrong (a category that also grants FLUSHALL, a key
pattern one character too wide), and a Redis config that does not load only shows on
the production host. So: generate users.acl with deploy/redis/make-users-acl.sh from
two password files, start redis-server (the Debian package) once with
deploy/redis/redis.conf (compose) and once with deploy/redis/rlexec-redis.conf
(systemd host), on a private unix socket, and check:

- the default user can do nothing; wrong passwords are refused;
- ``rlexec`` (the daemon) can run its control plane: consumer group on the command
  stream, replies, state hash, events channel, transactions; and nothing outside
  ``rlexec:*`` or anything dangerous (FLUSHALL, CONFIG, KEYS, ACL, SHUTDOWN, DEBUG);
- ``rlexec-ops`` (rlexec ctl) can append commands and read replies and state, and
  can write nothing else.

Usage: check_redis_acl.py [--root DIR] [--redis-server PATH]; exit 1 with one line per problem.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from redis.retry import Retry
from report import report

DAEMON_PASSWORD = "daemon-password-ÿ with spaces $(x) 'q' \"dq\""
OPS_PASSWORD = "ops-password-0123456789"
CONFIGS = ("deploy/redis/redis.conf", "deploy/redis/rlexec-redis.conf")


def start_redis(
    redis_server: str, conf: Path, tmp: Path, acl: Path
) -> tuple[subprocess.Popen[bytes], Path]:
    sock = tmp / "redis.sock"
    main_conf = tmp / "main.conf"
    # Include the file as Debian's redis.conf would include ours; then override where it
    # listens and writes, so the test touches nothing outside its scratch directory.
    main_conf.write_text(f"include {conf}\n")
    proc = subprocess.Popen(
        [
            redis_server, str(main_conf),
            "--port", "0", "--bind", "127.0.0.1",
            "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--dir", str(tmp), "--aclfile", str(acl),
            "--daemonize", "no", "--logfile", "", "--save", "", "--appendonly", "no",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"redis-server exited with {proc.returncode}: {out.strip()[-2000:]}")
        if sock.exists():
            return proc, sock
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not open its socket within 10 s")


def client(sock: Path, user: str | None = None, password: str | None = None) -> redis.Redis:
    # No retries: a refused login must show at once, not after redis-py's backoff.
    return redis.Redis(
        unix_socket_path=str(sock),
        username=user,
        password=password,
        socket_timeout=5,
        retry=Retry(NoBackoff(), 0),
    )


Probe = tuple[str, Callable[[redis.Redis], Any], bool]


def raw(r: redis.Redis, *args: str) -> Any:
    """A command redis-py has no typed method for."""
    return r.execute_command(*args)  # type: ignore[no-untyped-call]


def transaction(r: redis.Redis) -> Any:
    pipe = r.pipeline(transaction=True)
    pipe.set("rlexec:x", "1")
    pipe.get("rlexec:x")
    return pipe.execute()


DAEMON_PROBES: list[Probe] = [
    ("PING", lambda r: r.ping(), True),
    (
        "XGROUP CREATE rlexec:commands",
        lambda r: r.xgroup_create("rlexec:commands", "rlexec", id="0", mkstream=True),
        True,
    ),
    (
        "XREADGROUP rlexec:commands",
        lambda r: r.xreadgroup("rlexec", "rlexec-1", {"rlexec:commands": ">"}, count=10),
        True,
    ),
    ("XACK rlexec:commands", lambda r: r.xack("rlexec:commands", "rlexec", "0-1"), True),
    (
        "XADD rlexec:replies",
        lambda r: r.xadd("rlexec:replies", {"id": "1", "body": "{}"}, maxlen=10000),
        True,
    ),
    ("HSET rlexec:state", lambda r: r.hset("rlexec:state", mapping={"kill": "0"}), True),
    ("PUBLISH rlexec:events", lambda r: r.publish("rlexec:events", "x"), True),
    ("MULTI/EXEC", transaction, True),
    ("SET outside rlexec:*", lambda r: r.set("other:key", "1"), False),
    ("PUBLISH outside rlexec:*", lambda r: r.publish("other", "x"), False),
    ("FLUSHALL", lambda r: r.flushall(), False),
    ("FLUSHDB", lambda r: r.flushdb(), False),
    ("KEYS *", lambda r: r.keys("*"), False),
    ("CONFIG GET", lambda r: r.config_get("*"), False),
    ("ACL LIST", lambda r: r.acl_list(), False),
    ("DEBUG SLEEP", lambda r: raw(r, "DEBUG", "SLEEP", "0"), False),
    ("SHUTDOWN", lambda r: r.shutdown(nosave=True), False),
    ("EVAL", lambda r: r.eval("return 1", 0), False),
]

OPS_PROBES: list[Probe] = [
    ("PING", lambda r: r.ping(), True),
    ("XADD rlexec:commands", lambda r: r.xadd("rlexec:commands", {"body": "{}"}), True),
    ("XREVRANGE rlexec:replies", lambda r: r.xrevrange("rlexec:replies", count=1), True),
    ("XREAD rlexec:replies", lambda r: r.xread({"rlexec:replies": "0"}, count=1), True),
    ("HGETALL rlexec:state", lambda r: r.hgetall("rlexec:state"), True),
    ("XADD rlexec:replies", lambda r: r.xadd("rlexec:replies", {"body": "forged"}), False),
    ("HSET rlexec:state", lambda r: r.hset("rlexec:state", "kill", "0"), False),
    ("DEL rlexec:commands", lambda r: r.delete("rlexec:commands"), False),
    ("XTRIM rlexec:commands", lambda r: r.xtrim("rlexec:commands", maxlen=0), False),
    ("XGROUP DESTROY", lambda r: r.xgroup_destroy("rlexec:commands", "rlexec"), False),
    ("SET rlexec:x", lambda r: r.set("rlexec:x", "2"), False),
    ("GET outside rlexec:*", lambda r: r.get("other:key"), False),
    ("FLUSHALL", lambda r: r.flushall(), False),
    ("CONFIG GET", lambda r: r.config_get("*"), False),
]


def run_probes(label: str, r: redis.Redis, probes: list[Probe]) -> list[str]:
    problems = []
    for what, call, allowed in probes:
        try:
            call(r)
            ok = True
            error = ""
        except NoPermissionError as exc:
            ok, error = False, str(exc)
        except ResponseError as exc:
            # A refusal by ACL or by configuration (DEBUG is off unless enabled) is a
            # refusal; any other error means the command ran and failed on its own terms.
            text = str(exc)
            ok, error = not ("NOPERM" in text or "not allowed" in text), text
        if ok != allowed:
            verdict = "allowed" if ok else f"refused ({error})"
            problems.append(
                f"{label}: {what} was {verdict}; expected {'allowed' if allowed else 'refused'}"
            )
    return problems


def check_config(root: Path, conf: str, redis_server: str) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="rlexec-redis-") as d:
        tmp = Path(d)
        (tmp / "daemon.pw").write_text(DAEMON_PASSWORD + "\n")
        (tmp / "ops.pw").write_text(OPS_PASSWORD)
        acl = tmp / "users.acl"
        gen = subprocess.run(
            [
                "sh",
                str(root / "deploy/redis/make-users-acl.sh"),
                str(tmp / "daemon.pw"),
                str(tmp / "ops.pw"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if gen.returncode != 0:
            return [f"make-users-acl.sh failed: {gen.stderr.strip()}"]
        acl.write_text(gen.stdout)
        if DAEMON_PASSWORD in gen.stdout or OPS_PASSWORD in gen.stdout:
            return ["make-users-acl.sh: a password appears in clear in the ACL file"]
        try:
            proc, sock = start_redis(redis_server, root / conf, tmp, acl)
        except RuntimeError as exc:
            return [f"{conf}: {exc}"]
        problems: list[str] = []
        try:
            try:
                client(sock).ping()
                problems.append(
                    f"{conf}: an unauthenticated client can run PING (default user must be off)"
                )
            except AuthenticationError:
                pass
            for user, pw in (("rlexec", "wrong"), ("rlexec-ops", DAEMON_PASSWORD), ("default", "")):
                try:
                    client(sock, user, pw).ping()
                    problems.append(f"{conf}: user {user} accepted a wrong password")
                except AuthenticationError:
                    pass
            problems += run_probes(
                f"{conf}: rlexec", client(sock, "rlexec", DAEMON_PASSWORD), DAEMON_PROBES
            )
            problems += run_probes(
                f"{conf}: rlexec-ops", client(sock, "rlexec-ops", OPS_PASSWORD), OPS_PROBES
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout:
                proc.stdout.close()
        return problems


def check(root: Path, redis_server: str) -> list[str]:
    problems: list[str] = []
    for conf in CONFIGS:
        problems += check_config(root, conf, redis_server)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--redis-server", default="redis-server")
    args = parser.parse_args(argv)
    problems = check(args.root.resolve(), args.redis_server)
    return report("redis ACL", problems)


if __name__ == "__main__":
    sys.exit(main())

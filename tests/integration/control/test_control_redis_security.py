"""The control plane against a real redis-server with an ACL user, a password and TLS."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from core.clock import WallClock
from daemon.control.client import send_command
from daemon.control.handler import CommandHandler
from daemon.control.redis_plane import RedisControlPlane, RedisPlaneSettings
from daemon.journal import Journal
from tests.conftest import free_port, start_redis
from tests.integration.control.test_control_redis import RecordingTarget

ACL = [
    "--user",
    "default",
    "off",
    "--user",
    "rlexec",
    "on",
    ">s3cret-pass",
    "~rlexec:*",
    "&rlexec:*",
    "+@all",
]


def make_certs(d: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1, with the openssl CLI."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=rlexec-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    )
    return {"ca": d / "ca.crt", "cert": d / "server.crt", "key": d / "server.key"}


async def serve_one_command(
    settings: RedisPlaneSettings, tmp: Path
) -> tuple[dict[str, object], bool]:
    target = RecordingTarget()
    handler = CommandHandler(target, Journal(tmp / "journal.db"), WallClock(), None)
    plane = RedisControlPlane(settings, handler.handle)
    task = asyncio.create_task(plane.run())
    try:
        reply = await send_command(
            settings.url,
            "kill",
            {"reason": "acl"},
            username=settings.username,
            password=settings.password,
            tls=settings.tls_kwargs(),
            timeout_s=10,
        )
        return reply, plane.up
    finally:
        plane.stop()
        await asyncio.wait_for(task, 10)


@pytest.mark.system_package("redis-server >= 7")
async def test_an_acl_user_with_its_password_is_served(tmp_path: Path) -> None:
    server = start_redis(tmp_path, extra=ACL)
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        settings = RedisPlaneSettings(
            url=url, username="rlexec", password="s3cret-pass", block_ms=50
        )
        reply, up = await serve_one_command(settings, tmp_path)
        assert reply["ok"] is True and up
    finally:
        server.stop()


@pytest.mark.system_package("redis-server >= 7")
async def test_a_wrong_password_never_gets_in_and_the_plane_says_redis_is_down(
    tmp_path: Path,
) -> None:
    server = start_redis(tmp_path, extra=ACL)
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        target = RecordingTarget()
        handler = CommandHandler(target, Journal(tmp_path / "j.db"), WallClock(), None)
        plane = RedisControlPlane(
            RedisPlaneSettings(url=url, username="rlexec", password="wrong", block_ms=50),
            handler.handle,
        )
        task = asyncio.create_task(plane.run())
        await asyncio.sleep(1.0)
        assert not plane.up and plane.reconnects >= 1
        assert target.calls == []
        plane.stop()
        await asyncio.wait_for(task, 10)
    finally:
        server.stop()


@pytest.mark.system_package("redis-server >= 7", "openssl")
async def test_commands_travel_over_tls(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    tls_port = free_port()
    server = start_redis(
        tmp_path,
        port=tls_port,
        extra=[
            "--port",
            "0",
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(certs["cert"]),
            "--tls-key-file",
            str(certs["key"]),
            "--tls-ca-cert-file",
            str(certs["ca"]),
            "--tls-auth-clients",
            "no",
            *ACL,
        ],
    )
    try:
        settings = RedisPlaneSettings(
            url=f"rediss://127.0.0.1:{tls_port}/0",
            username="rlexec",
            password="s3cret-pass",
            tls_ca_file=str(certs["ca"]),
            block_ms=50,
        )
        reply, up = await serve_one_command(settings, tmp_path)
        assert reply["ok"] is True and up
    finally:
        server.stop()

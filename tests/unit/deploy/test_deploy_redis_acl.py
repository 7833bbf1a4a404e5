"""The Redis ACL check against a real redis-server, and proof that it catches loose ACLs."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from deploy_tree import REPO, Tree

ACL_SCRIPT = "deploy/redis/make-users-acl.sh"


def test_a_user_granted_everything_fails_the_probes(tree: Tree) -> None:
    tree.replace(
        ACL_SCRIPT, "%W~rlexec:commands resetchannels &rlexec:* -@all", "~* resetchannels &* +@all"
    )
    result = tree.check("redis")
    assert not result.passed
    assert "rlexec-ops: XADD rlexec:replies was allowed; expected refused" in result.output
    assert "rlexec-ops: GET outside rlexec:* was allowed" in result.output


def test_a_daemon_user_without_stream_rights_fails(tree: Tree) -> None:
    tree.replace(ACL_SCRIPT, "+@connection +@stream +@string", "+@connection +@string")
    result = tree.check("redis")
    assert not result.passed
    assert "rlexec: XGROUP CREATE rlexec:commands was refused" in result.output


def test_an_open_default_user_fails(tree: Tree) -> None:
    tree.replace(
        ACL_SCRIPT, "user default off resetpass nocommands", "user default on nopass ~* +@all"
    )
    result = tree.check("redis")
    assert not result.passed
    assert "an unauthenticated client can run PING" in result.output


def test_a_redis_config_that_does_not_load_fails(tree: Tree) -> None:
    tree.replace(
        "deploy/redis/redis.conf", "maxmemory-policy noeviction", "maxmemory-policy never-evict"
    )
    result = tree.check("redis")
    assert not result.passed
    assert "redis.conf: redis-server exited" in result.output


def test_acl_file_holds_hashes_and_newlines_do_not_matter(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("daemon-pw\n")
    (tmp_path / "o").write_text("ops-pw")
    res = subprocess.run(
        ["sh", str(REPO / ACL_SCRIPT), str(tmp_path / "d"), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "daemon-pw" not in res.stdout and "ops-pw" not in res.stdout
    assert f"#{hashlib.sha256(b'daemon-pw').hexdigest()}" in res.stdout
    assert f"#{hashlib.sha256(b'ops-pw').hexdigest()}" in res.stdout
    assert res.stdout.splitlines()[0].startswith("user default off")


def test_acl_script_refuses_missing_or_empty_password_files(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    (tmp_path / "ok").write_text("x")
    for args, message in (
        ([tmp_path / "missing", tmp_path / "ok"], "cannot read password file"),
        ([tmp_path / "empty", tmp_path / "ok"], "is empty"),
        ([tmp_path / "ok"], "usage:"),
    ):
        res = subprocess.run(
            ["sh", str(REPO / ACL_SCRIPT), *map(str, args)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode != 0
        assert message in res.stderr
        assert res.stdout == ""  # never half an ACL file

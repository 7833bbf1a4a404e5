"""sd_notify against real AF_UNIX datagram sockets bound here, like systemd's own.

The receiving side is the kernel's, not a fake: filesystem and abstract-namespace
sockets, and the bytes systemd's reference client (``systemd-notify``) sends for the
same fields, so the wire format is checked against systemd rather than against itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.sd_notify import (
    NOTIFY_SOCKET,
    Notifier,
    SdNotifyError,
    encode,
    one_line,
    socket_address,
    watchdog_timeout_s,
)
from tests import system_packages


class Receiver:
    """A bound datagram socket standing in for systemd's notify socket."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(5.0)

    def recv(self) -> bytes:
        return self.sock.recv(65536)

    def pending(self) -> bool:
        self.sock.setblocking(False)
        try:
            self.sock.recv(65536)
        except BlockingIOError:
            return False
        finally:
            self.sock.settimeout(5.0)
        return True


@pytest.fixture
def fs_socket() -> Iterator[tuple[str, Receiver]]:
    # A short directory: sun_path is only 108 bytes and pytest's tmp_path can be long.
    with tempfile.TemporaryDirectory(prefix="sdn") as d:
        path = os.path.join(d, "notify.sock")
        rx = Receiver(path)
        yield path, rx
        rx.sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, Receiver]]:
    name = f"rlexec-test-{uuid.uuid4().hex}"
    rx = Receiver(b"\0" + name.encode())
    yield "@" + name, rx
    rx.sock.close()


# ------------------------------------------------------------------ no systemd


def test_unset_notify_socket_is_a_silent_no_op() -> None:
    n = Notifier.from_env({}, pid=1234)
    assert not n.enabled
    assert n.watchdog_timeout_s is None
    assert n.watchdog_ping_interval_s is None
    assert n.ready("up") is False
    assert n.watchdog() is False
    assert n.stopping() is False
    assert n.status("x") is False


def test_watchdog_without_notify_socket_is_disabled() -> None:
    # Nothing to pet it through: the daemon must not run a pointless pet task.
    n = Notifier.from_env({"WATCHDOG_USEC": "10000000"}, pid=1)
    assert n.watchdog_ping_interval_s is None


def test_no_op_still_refuses_malformed_fields() -> None:
    # A bug in a caller shows up in tests, which run without systemd.
    with pytest.raises(ValueError, match="upper-case"):
        Notifier.from_env({}).notify({"ready": "1"})


# ------------------------------------------------------------------ real sockets


def test_ready_status_watchdog_stopping_over_a_filesystem_socket(
    fs_socket: tuple[str, Receiver],
) -> None:
    path, rx = fs_socket
    n = Notifier.from_env({NOTIFY_SOCKET: path}, pid=os.getpid())
    assert n.enabled
    assert n.ready("FIX logged on, journal recovered") is True
    assert rx.recv() == b"READY=1\nSTATUS=FIX logged on, journal recovered"
    assert n.watchdog() is True
    assert rx.recv() == b"WATCHDOG=1"
    assert n.status("working 2 parents") is True
    assert rx.recv() == b"STATUS=working 2 parents"
    assert n.stopping("cancelling 3 resting orders") is True
    assert rx.recv() == b"STOPPING=1\nSTATUS=cancelling 3 resting orders"
    assert n.extend_timeout(90) is True
    assert rx.recv() == b"EXTEND_TIMEOUT_USEC=90000000"
    n.close()


def test_abstract_namespace_socket(abstract_socket: tuple[str, Receiver]) -> None:
    name, rx = abstract_socket
    n = Notifier.from_env({NOTIFY_SOCKET: name})
    assert n.ready() is True
    assert rx.recv() == b"READY=1"
    n.close()


def test_many_pings_reuse_one_socket(fs_socket: tuple[str, Receiver]) -> None:
    path, rx = fs_socket
    n = Notifier.from_env({NOTIFY_SOCKET: path})
    n.watchdog()
    rx.recv()
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        assert n.watchdog() is True
        assert rx.recv() == b"WATCHDOG=1"
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert not rx.pending()
    n.close()
    n.close()  # idempotent


def test_status_text_cannot_inject_another_assignment(fs_socket: tuple[str, Receiver]) -> None:
    path, rx = fs_socket
    n = Notifier.from_env({NOTIFY_SOCKET: path})
    n.status("halted\nREADY=1\x00")
    assert rx.recv() == b"STATUS=halted READY=1"
    n.close()


def test_send_to_a_vanished_socket_raises_with_the_path() -> None:
    with tempfile.TemporaryDirectory(prefix="sdn") as d:
        path = os.path.join(d, "gone.sock")
        n = Notifier.from_env({NOTIFY_SOCKET: path})
        with pytest.raises(SdNotifyError, match=r"gone\.sock"):
            n.watchdog()
        n.close()


def test_socket_recreated_by_systemd_is_found_again() -> None:
    # systemd re-creates its notify socket on daemon-reexec; sendto per message copes.
    with tempfile.TemporaryDirectory(prefix="sdn") as d:
        path = os.path.join(d, "notify.sock")
        rx = Receiver(path)
        n = Notifier.from_env({NOTIFY_SOCKET: path})
        n.watchdog()
        assert rx.recv() == b"WATCHDOG=1"
        rx.sock.close()
        os.unlink(path)
        with pytest.raises(SdNotifyError):
            n.watchdog()
        rx2 = Receiver(path)
        n.watchdog()
        assert rx2.recv() == b"WATCHDOG=1"
        rx2.sock.close()
        n.close()


def test_full_receive_queue_raises_instead_of_blocking_the_loop() -> None:
    with tempfile.TemporaryDirectory(prefix="sdn") as d:
        path = os.path.join(d, "notify.sock")
        rx = Receiver(path)  # never read: the queue fills
        n = Notifier.from_env({NOTIFY_SOCKET: path})
        with pytest.raises(SdNotifyError, match="notify to"):
            for _ in range(100_000):
                n.status("x" * 512)
        rx.sock.close()
        n.close()


# ------------------------------------------------------------------ systemd's client


def _systemd_notify_bytes(rx: Receiver, address: str, args: list[str]) -> bytes:
    exe = system_packages.require("systemd-notify")["systemd-notify"]
    env = {**os.environ, NOTIFY_SOCKET: address}
    subprocess.run([exe, "--no-block", *args], env=env, check=True, timeout=10)
    return rx.recv()


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ({"READY": "1", "STATUS": "up and trading"}, ["READY=1", "STATUS=up and trading"]),
        ({"WATCHDOG": "1"}, ["WATCHDOG=1"]),
        ({"STOPPING": "1"}, ["STOPPING=1"]),
        ({"EXTEND_TIMEOUT_USEC": "5000000"}, ["EXTEND_TIMEOUT_USEC=5000000"]),
    ],
)
def test_datagrams_match_systemds_reference_client(
    abstract_socket: tuple[str, Receiver], ours: dict[str, str], theirs: list[str]
) -> None:
    name, rx = abstract_socket
    n = Notifier.from_env({NOTIFY_SOCKET: name})
    n.notify(ours)
    mine = rx.recv()
    assert mine == _systemd_notify_bytes(rx, name, theirs)
    n.close()


# ------------------------------------------------------------------ parsing


def test_socket_address_forms() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abc") == b"\0abc"


@pytest.mark.parametrize("bad", ["", "/", "@", "relative/path", "vsock:2:1234", " /x"])
def test_socket_address_refuses_what_systemd_refuses(bad: str) -> None:
    with pytest.raises(SdNotifyError, match="NOTIFY_SOCKET"):
        socket_address(bad)


def test_socket_address_too_long() -> None:
    with pytest.raises(SdNotifyError, match="longer than"):
        socket_address("/" + "x" * 120)


def test_watchdog_usec_parsing() -> None:
    assert watchdog_timeout_s({}, pid=7) is None
    assert watchdog_timeout_s({"WATCHDOG_USEC": "10000000"}, pid=7) == 10.0
    assert watchdog_timeout_s({"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": "7"}, pid=7) == 2.5
    # Inherited by a child: not ours to pet.
    assert watchdog_timeout_s({"WATCHDOG_USEC": "2500000", "WATCHDOG_PID": "8"}, pid=7) is None


def test_ping_interval_is_half_the_timeout(fs_socket: tuple[str, Receiver]) -> None:
    path, _ = fs_socket
    env = {NOTIFY_SOCKET: path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    n = Notifier.from_env(env)
    assert n.watchdog_timeout_s == 10.0
    assert n.watchdog_ping_interval_s == 5.0


@pytest.mark.parametrize("bad", ["", "0", "-1", "1e6", "ten", " 5", "5.0"])
def test_bad_watchdog_usec_is_an_error_not_a_silent_kill(bad: str) -> None:
    # Ignoring it would let systemd kill the daemon WatchdogSec after start, unexplained.
    with pytest.raises(SdNotifyError, match="WATCHDOG_USEC"):
        watchdog_timeout_s({"WATCHDOG_USEC": bad}, pid=1)


def test_bad_watchdog_pid_is_an_error() -> None:
    with pytest.raises(SdNotifyError, match="WATCHDOG_PID"):
        watchdog_timeout_s({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}, pid=1)


def test_extend_timeout_refuses_nonsense() -> None:
    n = Notifier.from_env({})
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            n.extend_timeout(bad)


def test_encode_refuses_empty_and_injected_lines() -> None:
    with pytest.raises(ValueError, match="at least one"):
        encode({})
    with pytest.raises(ValueError, match="newline"):
        encode({"STATUS": "a\nREADY=1"})
    with pytest.raises(ValueError, match="upper-case"):
        encode({"STATUS=": "x"})


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_one_line_status_always_encodes_to_exactly_one_assignment(text: str) -> None:
    payload = encode({"STATUS": one_line(text)})
    lines = payload.split(b"\n")
    assert len(lines) == 1
    assert lines[0].startswith(b"STATUS=")
    assert b"\0" not in payload


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_status_round_trips_through_a_real_socket(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="sdn") as d:
        path = str(Path(d) / "n.sock")
        rx = Receiver(path)
        n = Notifier.from_env({NOTIFY_SOCKET: path})
        n.status(text)
        assert rx.recv().decode() == "STATUS=" + one_line(text)
        rx.sock.close()
        n.close()

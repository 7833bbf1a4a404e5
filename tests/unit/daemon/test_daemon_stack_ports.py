"""Ports for the processes a stack starts: never from the range the kernel gives outgoing
connections, so no client socket can take one between the pick and the child's bind (a
CI drill's exchange once failed "address already in use" on a port-0 pick)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from daemon import stack
from daemon.stack import LOWEST_PORT, StackError, ephemeral_low, free_port


def test_a_free_port_is_below_the_range_outgoing_connections_are_given() -> None:
    ports = [free_port() for _ in range(20)]
    assert all(LOWEST_PORT <= p < ephemeral_low() for p in ports)
    assert len(set(ports)) == 20
    with socket.socket() as s:  # and it is free
        s.bind(("127.0.0.1", ports[-1]))


def test_a_port_something_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        other = free_port()
        monkeypatch.setattr(stack, "_PORTS", iter([busy, other]))
        assert free_port() == other


def test_no_free_port_is_a_stack_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        monkeypatch.setattr(stack, "_PORTS", iter([taken.getsockname()[1]] * 3))
        with pytest.raises(StackError, match="no free port"):
            free_port()


def test_the_ephemeral_range_is_read_from_the_kernel_or_assumed_at_its_default(
    tmp_path: Path,
) -> None:
    f = tmp_path / "range"
    f.write_text("40000\t60999\n")
    assert ephemeral_low(str(f)) == 40000
    assert ephemeral_low(str(tmp_path / "missing")) == 32_768

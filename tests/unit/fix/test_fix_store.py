"""The session store: what was written is what comes back after a reopen, a torn last
record is cut off, and corruption anywhere else is refused rather than guessed around."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateways.fix.store import FileStore, FsyncPolicy, MemoryStore, StoreCorrupt


def fill(store: FileStore | MemoryStore) -> None:
    store.record_sent(1, None)  # Logon
    store.record_sent(2, b"8=FIX.4.4\x019=5\x0135=D\x0110=000\x01")
    store.set_next_target(2)
    store.record_sent(3, None)  # Heartbeat
    store.record_sent(4, b"8=FIX.4.4\x019=5\x0135=8\x01\n\x0110=001\x01")  # a newline inside
    store.set_next_target(5)


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_file_store_reopens_with_sequence_numbers_and_messages(
    tmp_path: Path, policy: FsyncPolicy
) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path, policy, fsync_interval_ms=1)
    fill(store)
    store.close()
    again = FileStore(path, policy)
    assert (again.next_sender_seq, again.next_target_seq) == (5, 5)
    assert [s for s, _ in again.sent_messages(1, 10)] == [2, 4]
    assert again.sent_messages(4, 4)[0][1].endswith(b"\x0110=001\x01")
    again.close()


def test_memory_store_behaves_like_the_file_store() -> None:
    store = MemoryStore()
    fill(store)
    assert (store.next_sender_seq, store.next_target_seq) == (5, 5)
    assert [s for s, _ in store.sent_messages(3, 4)] == [4]
    store.reset()
    assert (store.next_sender_seq, store.next_target_seq, store.sent_messages(1, 9)) == (1, 1, [])


def test_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path, FsyncPolicy.NEVER)
    fill(store)
    store.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b"S6 200\n8=FIX.4.4\x019=")  # crash mid-write of message 6
    again = FileStore(path, FsyncPolicy.NEVER)
    assert again.next_sender_seq == 5 and path.read_bytes() == whole
    again.record_sent(5, b"x")
    again.close()
    assert FileStore(path).next_sender_seq == 6


def test_torn_sequence_line_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path, FsyncPolicy.NEVER)
    fill(store)
    store.close()
    path.write_bytes(path.read_bytes() + b"T1")
    assert FileStore(path).next_target_seq == 5


def test_corruption_in_the_middle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path, FsyncPolicy.NEVER)
    fill(store)
    store.close()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"A3\n", b"Q3\n"))
    with pytest.raises(StoreCorrupt, match="unreadable record"):
        FileStore(path)


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    path.write_bytes(b"hello\n")
    with pytest.raises(StoreCorrupt, match="magic"):
        FileStore(path)


def test_reset_starts_a_fresh_journal(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path)
    fill(store)
    store.reset()
    store.record_sent(1, b"m1")
    store.close()
    again = FileStore(path)
    assert (again.next_sender_seq, again.next_target_seq) == (2, 1)
    assert again.sent_messages(1, 9) == [(1, b"m1")]
    again.close()


def dirty(store: FileStore) -> bool:
    return store._dirty


def test_batched_policy_syncs_in_the_background(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s.fixstore", FsyncPolicy.BATCHED, fsync_interval_ms=1)
    store.record_sent(1, b"m")
    assert dirty(store)
    for _ in range(500):
        if not dirty(store):
            break
        time.sleep(0.002)
    assert not dirty(store)
    store.close()


def test_always_policy_makes_sent_messages_durable_at_once_and_inbound_at_flush(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "s.fixstore", FsyncPolicy.ALWAYS)
    store.set_next_target(7)
    assert dirty(store)  # inbound: durable at the end of the input batch
    store.flush()
    assert not dirty(store)
    store.set_next_target(8)
    store.record_sent(1, b"m")  # outbound: durable before it can reach the socket,
    assert not dirty(store)  # and the fsync covers the inbound record before it
    store.close()

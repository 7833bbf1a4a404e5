"""The session store: what was written is what comes back after a reopen, a torn last
record is cut off, and corruption anywhere else is refused rather than guessed around."""

from __future__ import annotations

import time
import tracemalloc
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


def test_a_day_of_sent_messages_costs_a_few_bytes_each_in_memory(tmp_path: Path) -> None:
    """The store's in-memory index grows with every message of the session's day: the
    one-hour soak measured ~170 bytes a message with a dict of tuples."""
    store = FileStore(tmp_path / "s.fixstore", FsyncPolicy.NEVER)
    raw = b"8=FIX.4.4\x019=5\x0135=D\x0111=rlx-000123\x0110=000\x01"
    n = 20_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for seq in range(1, n + 1):
            store.record_sent(seq, raw if seq % 5 else None)  # every fifth an admin message
        per_message = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_message < 40, per_message
    assert [s for s, _ in store.sent_messages(9, 16)] == [9, 11, 12, 13, 14, 16]
    assert store.sent_messages(n + 1, 0) == []
    store.close()


def test_resend_ranges_are_answered_after_a_reset_and_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path, FsyncPolicy.NEVER)
    fill(store)
    store.reset()
    store.record_sent(1, None)
    store.record_sent(2, b"8=FIX.4.4\x019=5\x0135=F\x0110=002\x01")
    assert [(s, m[-7:]) for s, m in store.sent_messages(1, 100)] == [(2, b"10=002\x01")]
    store.close()
    again = FileStore(path)
    assert [s for s, _ in again.sent_messages(0, 2)] == [2]
    again.close()


def test_a_stored_sequence_number_far_past_the_last_is_refused_as_corrupt(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.fixstore"
    store = FileStore(path, FsyncPolicy.NEVER)
    fill(store)
    store.close()
    path.write_bytes(path.read_bytes() + b"S999999999 4\nabcd\n")
    with pytest.raises(StoreCorrupt, match=r"MsgSeqNum 999999999 is .* past the last stored one"):
        FileStore(path)

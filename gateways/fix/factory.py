"""Builds a session's store and message log from its settings."""

from __future__ import annotations

from gateways.fix.message_log import FileMessageLog, MessageLog, NullLog
from gateways.fix.settings import SessionSettings
from gateways.fix.store import FileStore, MemoryStore, MessageStore


def make_store(settings: SessionSettings) -> MessageStore:
    if settings.store_dir is None:
        return MemoryStore()
    return FileStore(
        settings.store_dir / f"{settings.file_stem}.fixstore",
        settings.fsync,
        settings.fsync_interval_ms,
    )


def make_log(settings: SessionSettings) -> MessageLog:
    if settings.log_dir is None:
        return NullLog()
    return FileMessageLog(settings.log_dir, settings.file_stem)

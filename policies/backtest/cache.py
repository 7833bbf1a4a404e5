"""Finished (policy, order) results on disk, so a backtest resumes and adding a policy
reruns only that policy.

One SQLite file (WAL, written by the coordinating process only, a batch per finished
job): a run killed at any point keeps every batch it committed, and the same command
picks up from there. Keys come from :mod:`.fingerprint`; a result is only ever found
again under exactly the settings, models, data and code that produced it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from policies.backtest.errors import CacheError

SCHEMA = 1


class ResultCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
            row = self._db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            elif row[0] != str(SCHEMA):
                raise CacheError(
                    f"backtest cache {self.path} has schema {row[0]}, this code writes "
                    f"{SCHEMA}; move the file away or pass --no-cache"
                )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outcomes (key TEXT PRIMARY KEY, policy TEXT NOT "
                "NULL, grp TEXT NOT NULL, idx INTEGER NOT NULL, outcome TEXT NOT NULL, "
                "created REAL NOT NULL)"
            )
            self._db.commit()
        except sqlite3.Error as exc:
            raise CacheError(
                f"backtest cache {self.path} cannot be used ({exc}); move it away or pass "
                "--no-cache"
            ) from exc

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            chunk = list(keys[i : i + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, outcome FROM outcomes WHERE key IN ({marks})",
                chunk,
            )
            for key, outcome in rows:
                out[key] = json.loads(outcome)
        return out

    def put_many(self, rows: Iterable[tuple[str, str, str, int, dict[str, Any]]]) -> None:
        """(key, policy, group, order index, outcome) rows, committed together."""
        now = time.time()
        self._db.executemany(
            "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?, ?, ?)",
            [(k, p, g, i, json.dumps(o), now) for k, p, g, i, o in rows],
        )
        self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class MemoryCache(ResultCache):
    """No file (``--no-cache``): results live as long as the run."""

    def __init__(self) -> None:
        super().__init__(":memory:")

"""The journal of accepted data events: an SQLite file, written durably before the 2xx.

DESIGN §2: a side that pushes needs the full journal. ``/hooks/<side>`` answers 2xx only after
``add`` has committed the request's events with ``synchronous = FULL`` (the commit is
fsync'd), so a crash never loses an acknowledged event. Each event is kept once (its
``event_id`` is remembered for ``SEEN_S``: a delivery retried by F&O, or a duplicate, adds
nothing). The feed
reads the events in arrival order (``seq``) after a cursor, and ``forget`` drops what the
core has committed.

sqlite3 blocks, so every call runs in a worker thread; one connection, behind a lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import anyio.to_thread

from replicator.errors import PermanentError, TransientError

from .events import Event

SEEN_S = 7 * 24 * 3600.0
"""How long an event's id is remembered after it arrived (a duplicate later than this is
taken as a new event: harmless, the feed reads the row as it is now)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    native_id TEXT NOT NULL,
    op TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY, received_at REAL NOT NULL);
"""


class Inbox:
    """The events journal of one side, in the SQLite file ``path``."""

    def __init__(self, side: str, path: Path) -> None:
        self.side, self.path = side, path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open)

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise PermanentError(f"side {self.side}: events inbox {self.path}: {exc}") from None
        self._db = db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    async def add(self, events: Sequence[Event]) -> int:
        """Journal ``events`` durably (one commit); how many were new."""
        return await anyio.to_thread.run_sync(self._add, list(events))

    def _add(self, events: list[Event]) -> int:
        now = time.time()
        with self._lock:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                added = 0
                for e in events:
                    fresh = db.execute(
                        "INSERT OR IGNORE INTO seen (event_id, received_at) VALUES (?, ?)",
                        (e.event_id, now),
                    )
                    if fresh.rowcount:
                        db.execute(
                            "INSERT INTO events (event_id, entity, native_id, op, received_at)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (e.event_id, e.entity, e.native_id, e.op, now),
                        )
                        added += 1
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise TransientError(f"side {self.side}: events inbox {self.path}: {exc}") from None
        return added

    async def read(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        """Up to ``limit`` events after ``seq`` ``after``, oldest first."""
        return await anyio.to_thread.run_sync(self._read, after, limit)

    def _read(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        with self._lock:
            rows = self._connection().execute(
                "SELECT seq, entity, native_id, op FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
            return [(int(s), str(e), str(n), str(o)) for s, e, n, o in rows]

    async def head(self) -> int:
        """The ``seq`` of the newest event ever journaled (0: none)."""
        return await anyio.to_thread.run_sync(self._head)

    def _head(self) -> int:
        with self._lock:
            db = self._connection()
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
            return int(row[0]) if row else 0

    async def forget(self, upto: int) -> None:
        """Drop the events up to ``seq`` ``upto`` (their ids stay known: a late duplicate of
        one is still dropped)."""
        await anyio.to_thread.run_sync(self._forget, upto)

    def _forget(self, upto: int) -> None:
        with self._lock:
            db = self._connection()
            db.execute("DELETE FROM events WHERE seq <= ?", (upto,))
            db.execute("DELETE FROM seen WHERE received_at < ?", (time.time() - SEEN_S,))

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise PermanentError(f"side {self.side}: the events inbox is not open")
        return self._db

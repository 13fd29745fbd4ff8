"""The state store: links, shadows, cursors, the journal and the error queue in SQLite.

One aiosqlite connection in WAL mode. Every method that changes state runs in one
transaction, so a kill -9 at any instant leaves the store as of the last commit.
``synchronous = NORMAL`` is safe against process crashes (WAL); only a power loss may
drop the last commits, which the journal then replays from the sides' cursors.

Statements run through ``StoreDB`` (store_db.py): its errors are translated there, once,
and every write here runs inside ``transaction()``, which tasks take in turns.

The schema carries a version (``PRAGMA user_version``); ``MIGRATIONS[i]`` upgrades a
store from version ``i`` to ``i + 1``, so a newer release upgrades an older store in place.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import msgspec

from .adapter import Change
from .errors import StoreError
from .model import Commit, ErrorEntry, Intent, JournalEntry, Link, Parked
from .store_db import StoreDB

MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
    CREATE TABLE cursors (side INTEGER PRIMARY KEY, cursor TEXT);
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT, side INTEGER NOT NULL, map TEXT NOT NULL,
        change BLOB NOT NULL, received_at REAL NOT NULL);
    CREATE INDEX journal_map ON journal (map, id);
    CREATE TABLE links (
        id INTEGER PRIMARY KEY, map TEXT NOT NULL, key TEXT NOT NULL,
        id0 TEXT, id1 TEXT, ver0 TEXT, ver1 TEXT, tok0 TEXT, tok1 TEXT,
        shadow BLOB NOT NULL, updated_at REAL NOT NULL);
    CREATE UNIQUE INDEX links_id0 ON links (map, id0);
    CREATE UNIQUE INDEX links_id1 ON links (map, id1);
    CREATE INDEX links_key ON links (map, key);
    CREATE TABLE errors (
        id INTEGER PRIMARY KEY AUTOINCREMENT, map TEXT NOT NULL, side INTEGER NOT NULL,
        native_id TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
        change BLOB, attempts INTEGER NOT NULL, first_seen REAL NOT NULL,
        last_seen REAL NOT NULL);
    CREATE UNIQUE INDEX errors_record ON errors (map, side, native_id);
    CREATE TABLE maps (
        name TEXT PRIMARY KEY, synced_at REAL, paused INTEGER NOT NULL DEFAULT 0,
        paused_reason TEXT) WITHOUT ROWID;
    """,
    """
    CREATE TABLE parked (
        map TEXT NOT NULL, side INTEGER NOT NULL, native_id TEXT NOT NULL, key TEXT NOT NULL,
        ref_map TEXT NOT NULL, ref_key TEXT NOT NULL, reason TEXT NOT NULL,
        since REAL NOT NULL, PRIMARY KEY (map, side, native_id)) WITHOUT ROWID;
    CREATE INDEX parked_ref ON parked (ref_map, ref_key);
    """,
    """
    CREATE TABLE intents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL, link_id INTEGER NOT NULL,
        side INTEGER NOT NULL, link BLOB NOT NULL, created_at REAL NOT NULL);
    CREATE INDEX intents_link ON intents (link_id);
    """,
    """
    ALTER TABLE intents ADD COLUMN written BLOB;
    """,
]

PARKED_COLUMNS = Parked.__struct_fields__
"""The parked table's columns: a ``Parked``'s fields, named alike."""
_enc = msgspec.msgpack.Encoder()
_change = msgspec.msgpack.Decoder(Change)
_values = msgspec.msgpack.Decoder(dict[str, Any])
_link = msgspec.msgpack.Decoder(Link)
_LINK_COLS = "id, map, key, id0, id1, ver0, ver1, tok0, tok1, shadow"
_JOURNAL_CHUNK = 200  # rows per INSERT: 800 parameters, under every SQLite's limit


_PARK_SQL = (
    "INSERT INTO parked VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
    "key = excluded.key, ref_map = excluded.ref_map, ref_key = excluded.ref_key, "
    "reason = excluded.reason"
)
_ERROR_SQL = (
    "INSERT INTO errors (map, side, native_id, key, kind, reason, change, attempts, "
    "first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (map, side, native_id) DO UPDATE SET kind = excluded.kind, "
    "reason = excluded.reason, change = excluded.change, key = excluded.key, "
    "attempts = attempts + excluded.attempts, last_seen = excluded.last_seen"
)


def _link_row(lk: Link, now: float) -> tuple[Any, ...]:
    shadow = _enc.encode(lk.shadow)
    return (lk.id or None, lk.map, lk.key, *lk.ids, *lk.versions, *lk.tokens, shadow, now)


def _written(intent: Intent) -> bytes | None:
    return None if intent.written is None else _enc.encode(intent.written)


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one by one (``executescript`` would commit)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""


def _holder(
    db: sqlite3.Connection,
    link: Link,
    stored: dict[tuple[str, int, str], int],
    claimed: dict[tuple[str, int, str], Link],
    ours: dict[int, Link],
    dropped: set[int],
) -> Link | None:
    """Another link that holds one of ``link``'s native ids (see ``_holders_in``)."""
    for side, native_id in enumerate(link.ids):
        if native_id is None:
            continue
        where = (link.map, side, native_id)
        other = stored.get(where)
        if other is not None and other != link.id and other not in dropped:
            moved = ours.get(other)
            if moved is None or moved.ids[side] == native_id:
                row = db.execute(f"SELECT {_LINK_COLS} FROM links WHERE id = ?", (other,))
                return _link_of(row.fetchone())
        first = claimed.setdefault(where, link)
        if first.id != link.id:
            return first
    return None


def _append_journal_in(
    db: sqlite3.Connection,
    side: int,
    items: Sequence[tuple[str, Change]],
    cursor: str | None,
    now: float,
) -> list[JournalEntry]:
    """``Store.append_journal``'s transaction body, run in the connection's thread."""
    out = _insert_journal_in(db, side, items, now)
    db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (side, cursor))
    return out


def _insert_journal_in(
    db: sqlite3.Connection, side: int, items: Sequence[tuple[str, Change]], now: float
) -> list[JournalEntry]:
    """Journal ``items`` of ``side`` (in chunks of one INSERT each); their entries."""
    out = []
    for start in range(0, len(items), _JOURNAL_CHUNK):
        chunk = items[start : start + _JOURNAL_CHUNK]
        rows = [(side, m, _enc.encode(change), now) for m, change in chunk]
        marks = ", ".join(["(?, ?, ?, ?)"] * len(rows))
        ids = db.execute(
            f"INSERT INTO journal (side, map, change, received_at) VALUES {marks} RETURNING id",
            [v for row in rows for v in row],
        ).fetchall()
        # ids are handed out in VALUES order; RETURNING's own order is unspecified
        for (map_name, change), (entry_id,) in zip(chunk, sorted(ids), strict=True):
            out.append(
                JournalEntry(id=entry_id, side=side, map=map_name, change=change, received_at=now)
            )
    return out


def _commit_in(db: sqlite3.Connection, batch: list[Commit]) -> list[Link | None]:
    """``Store.commit``'s transaction body, run in the connection's thread."""
    holders = _holders_in(db, batch)
    made = [c for c, holder in zip(batch, holders, strict=True) if holder is None]
    for statement, args in _commit_rows(made).items():
        if args:
            db.executemany(statement, args)
    return holders


def _holders_in(db: sqlite3.Connection, batch: list[Commit]) -> list[Link | None]:
    """Per step, the link (stored, or earlier in the batch) holding one of its link's
    native ids, that the batch neither drops nor moves off that id."""
    ours = {c.link.id: c.link for c in batch if c.link is not None}
    dropped = {c.drop_link for c in batch if c.drop_link is not None}
    wanted: dict[tuple[str, int], set[str]] = {}
    for link in ours.values():
        for side, native_id in enumerate(link.ids):
            if native_id is not None:
                wanted.setdefault((link.map, side), set()).add(native_id)
    stored: dict[tuple[str, int, str], int] = {}  # the link id holding each, as stored
    for (map_name, side), ids in wanted.items():
        for rows in _chunks(list(ids)):
            statement = _by_native_sql(side, len(rows), f"id, id{side}")
            for link_id, native_id in db.execute(statement, (map_name, *rows)):
                stored[(map_name, side, str(native_id))] = link_id
    claimed: dict[tuple[str, int, str], Link] = {}
    return [
        None if c.link is None else _holder(db, c.link, stored, claimed, ours, dropped)
        for c in batch
    ]


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), 500):
        yield ids[start : start + 500]


def _by_native_sql(side: int, count: int, columns: str = _LINK_COLS) -> str:
    marks = ",".join("?" * count)
    return f"SELECT {columns} FROM links WHERE map = ? AND id{side} IN ({marks})"


def _link_of(r: Any) -> Link:
    return Link(
        id=r[0],
        map=r[1],
        key=r[2],
        ids=[r[3], r[4]],
        versions=[r[5], r[6]],
        shadow=_values.decode(r[9]),
        tokens=[r[7], r[8]],
    )


def _error_row(e: ErrorEntry) -> tuple[Any, ...]:
    change = None if e.change is None else _enc.encode(e.change)
    return (
        e.map,
        e.side,
        e.native_id,
        e.key,
        e.kind,
        e.reason,
        change,
        e.attempts,
        e.first_seen,
        e.last_seen,
    )


def _commit_rows(made: list[Commit]) -> dict[str, list[Any]]:
    """The statements of a group commit (see ``Store.commit``) and their rows, in order."""
    now = time.time()
    return {
        "INSERT INTO intents (token, link_id, side, link, created_at, written)"
        " VALUES (?,?,?,?,?,?)": [
            (i.token, i.link.id, i.side, _enc.encode(i.link), i.created_at, _written(i))
            for c in made
            for i in c.intents
        ],
        "DELETE FROM intents WHERE link_id = ?": [
            (c.clear_intents,) for c in made if c.clear_intents is not None
        ],
        "DELETE FROM journal WHERE id = ?": [(i,) for c in made for i in c.acks],
        "DELETE FROM links WHERE id = ?": [(c.drop_link,) for c in made if c.drop_link is not None],
        "INSERT OR REPLACE INTO links VALUES (?,?,?,?,?,?,?,?,?,?,?)": [
            _link_row(c.link, now) for c in made if c.link is not None
        ],
        "DELETE FROM errors WHERE map = ? AND side = ? AND native_id = ?": [
            c.resolve for c in made if c.resolve is not None
        ],
        "DELETE FROM parked WHERE map = ? AND side = ? AND native_id = ?": [
            c.resolve for c in made if c.resolve is not None
        ],
        _PARK_SQL: [msgspec.structs.astuple(c.park) for c in made if c.park is not None],
        _ERROR_SQL: [_error_row(c.error) for c in made if c.error is not None],
    }


class Store:
    """The state store. Use ``await Store.open(path)`` and ``await store.close()``."""

    def __init__(self, db: StoreDB, path: Path) -> None:
        self.db = db
        self.path = path
        self.instance = ""

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """One write transaction; tasks sharing the connection take turns."""
        return self.db.transaction()

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        patient: bool = False,
        on_locked: Callable[[float | None], None] | None = None,
    ) -> Store:
        """Open (creating or upgrading) the store at ``path``.

        ``patient``: wait out another process's lock on the store (the engine) instead of
        failing with ``StoreBusy`` (a one-shot command); ``on_locked`` hears since when.
        """
        db = await StoreDB.connect(path, patient=patient, on_locked=on_locked)
        store = cls(db, path)
        try:
            await store._migrate()
            store.instance = await store._instance_id()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection."""
        await self.db.close()

    async def _migrate(self) -> None:
        if await self._version() == len(MIGRATIONS):
            return
        async with self.transaction():  # another process may have upgraded it meanwhile
            version = await self._version()
            for i in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[i]):
                    await self.db.execute(statement)
                await self.db.execute(f"PRAGMA user_version = {i + 1}")

    async def _version(self) -> int:
        version = int((await self._one("PRAGMA user_version"))[0])
        if version > len(MIGRATIONS):
            raise StoreError(
                f"state store {self.path} is schema version {version}, newer "
                f"than this release ({len(MIGRATIONS)}): upgrade replicator"
            )
        return version

    async def _instance_id(self) -> str:
        row = await self._one("SELECT value FROM meta WHERE key = 'instance'")
        if row:
            return str(row[0])
        async with self.transaction():
            await self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('instance', ?)", (uuid.uuid4().hex[:12],)
            )
        return str((await self._one("SELECT value FROM meta WHERE key = 'instance'"))[0])

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return await self.db.one(sql, args)

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return await self.db.all(sql, args)

    # -- meta and control -------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction():
            await self._write_meta(key, value)

    async def _write_meta(self, key: str, value: str) -> None:
        await self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    async def poke(self) -> None:
        """Tell a running daemon that the store changed under it (pause, retry, …)."""
        await self.set_meta("control", str(time.time()))

    # -- cursors and journal ----------------------------------------------------------

    async def cursor(self, side: int) -> str | None:
        row = await self._one("SELECT cursor FROM cursors WHERE side = ?", (side,))
        return None if row is None else row[0]

    async def set_cursor(self, side: int, cursor: str | None) -> None:
        async with self.transaction():
            await self._write_cursor(side, cursor)

    async def _write_cursor(self, side: int, cursor: str | None) -> None:
        await self.db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (side, cursor))

    async def append_journal(
        self, side: int, items: Sequence[tuple[str, Change]], cursor: str | None
    ) -> list[JournalEntry]:
        """Journal changes and advance the side's cursor, in one transaction (one call
        to the connection's thread)."""
        now = time.time()
        return await self.db.run_transaction(
            lambda db: _append_journal_in(db, side, items, cursor, now)
        )

    async def journal_after(self, map_name: str, after: int, limit: int) -> list[JournalEntry]:
        """Journaled changes of a map with id above ``after``, oldest first."""
        rows = await self._all(
            "SELECT id, side, map, change, received_at FROM journal "
            "WHERE map = ? AND id > ? ORDER BY id LIMIT ?",
            (map_name, after, limit),
        )
        return [
            JournalEntry(
                id=r[0], side=r[1], map=r[2], change=_change.decode(r[3]), received_at=r[4]
            )
            for r in rows
        ]

    async def replay_journal(
        self, side: int, items: Sequence[tuple[str, Change]]
    ) -> list[JournalEntry]:
        """Journal changes found outside the feed (reconcile.py), leaving the side's cursor
        where it is, in one transaction."""
        now = time.time()
        return await self.db.run_transaction(lambda db: _insert_journal_in(db, side, items, now))

    async def add_journal(self, side: int, map_name: str, change: Change) -> None:
        """Journal one change outside the intake (a retry asked for from the CLI)."""
        async with self.transaction():
            await self._write_journal(side, map_name, change)

    async def _write_journal(self, side: int, map_name: str, change: Change) -> None:
        await self.db.execute(
            "INSERT INTO journal (side, map, change, received_at) VALUES (?, ?, ?, ?)",
            (side, map_name, _enc.encode(change), time.time()),
        )

    # -- links ------------------------------------------------------------------------

    async def next_link_id(self) -> int:
        """A link id above every link's and every intent's (a crash's intents keep theirs)."""
        row = await self._one(
            "SELECT max(coalesce((SELECT max(id) FROM links), 0),"
            " coalesce((SELECT max(link_id) FROM intents), 0))"
        )
        return int(row[0]) + 1

    async def link(self, link_id: int) -> Link | None:
        return self._link(
            await self._one(f"SELECT {_LINK_COLS} FROM links WHERE id = ?", (link_id,))
        )

    async def link_by_native(self, map_name: str, side: int, native_id: str) -> Link | None:
        return self._link(
            await self._one(
                f"SELECT {_LINK_COLS} FROM links WHERE map = ? AND id{side} = ?",
                (map_name, native_id),
            )
        )

    async def link_by_key(self, map_name: str, key: str) -> Link | None:
        return self._link(
            await self._one(
                f"SELECT {_LINK_COLS} FROM links WHERE map = ? AND key = ?", (map_name, key)
            )
        )

    async def links_by_key(self, map_name: str, keys: Sequence[str]) -> dict[str, Link]:
        """Links of many keys of one map (for batch routing); the oldest if several."""
        out: dict[str, Link] = {}
        for chunk in _chunks(list(keys)):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_LINK_COLS} FROM links WHERE map = ? AND key IN ({marks}) ORDER BY id"
            for r in await self._all(sql, (map_name, *chunk)):
                link = _link_of(r)
                out.setdefault(link.key, link)
        return out

    async def links_by_native(
        self, map_name: str, side: int, ids: Sequence[str]
    ) -> dict[str, Link]:
        """Links of many native ids of one side (for batch routing and initial sync)."""
        out: dict[str, Link] = {}
        for chunk in _chunks(list(ids)):
            for r in await self._all(_by_native_sql(side, len(chunk)), (map_name, *chunk)):
                link = _link_of(r)
                out[str(link.ids[side])] = link
        return out

    async def linked_ids(
        self, map_name: str, side: int, after: int, limit: int
    ) -> list[tuple[int, str]]:
        """A page of the map's links that hold a row of ``side``: (link id, native id) with
        link id above ``after``, by link id (reconciliation walks them for deletes)."""
        rows = await self._all(
            f"SELECT id, id{side} FROM links WHERE map = ? AND id > ? AND id{side} IS NOT NULL"
            " ORDER BY id LIMIT ?",
            (map_name, after, limit),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def held_ids(self, map_name: str, side: int, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` (rows of ``side``) are parked or in the error queue."""
        held: set[str] = set()
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for table in ("parked", "errors"):
                sql = (
                    f"SELECT native_id FROM {table} WHERE map = ? AND side = ?"
                    f" AND native_id IN ({marks})"
                )
                held.update(r[0] for r in await self._all(sql, (map_name, side, *chunk)))
        return held

    async def lose_rows(
        self, map_name: str, side: int, key: str, note: dict[str, Any], reason: str
    ) -> None:
        """Side ``side`` lost the rows of a map's entity (see resync.py): forget its ids in
        the map's links and its journaled changes of the map, pause the map with
        ``reason`` and keep ``note`` under meta ``key``, in one transaction."""
        async with self.transaction():
            await self.db.execute(
                f"UPDATE links SET id{side} = NULL, ver{side} = NULL, tok{side} = NULL"
                " WHERE map = ?",
                (map_name,),
            )
            await self.db.execute(
                "DELETE FROM journal WHERE map = ? AND side = ?", (map_name, side)
            )
            await self._write_meta(key, json.dumps(note))
            await self._write_paused(map_name, True, reason)

    async def drop_unpaired(self, map_name: str) -> int:
        """Drop the map's links that lack a row on a side (after a re-sync); how many."""
        async with self.transaction():
            return await self.db.execute(
                "DELETE FROM links WHERE map = ? AND (id0 IS NULL OR id1 IS NULL)", (map_name,)
            )

    @staticmethod
    def _link(r: Any) -> Link | None:
        return None if r is None else _link_of(r)

    # -- the group commit -------------------------------------------------------------

    async def commit(self, commits: Iterable[Commit]) -> list[Link | None]:
        """Make many actor steps durable in one transaction, one statement per kind.

        Each record (and each link) appears in at most one step of a batch — an actor
        waits for its step before the next — so grouping by kind keeps every step's order:
        new intents, forgotten intents, acks, dropped links, links, resolved records,
        parked records, errors.

        A step whose link would take a native id another link holds is not made (a
        side must not give one id to two rows, but is not trusted): its answer is that
        other link; every other answer is None. The check runs in the commit's own
        transaction, so no other commit can take the id in between. The whole transaction
        is one call to the connection's thread (``StoreDB.run_transaction``).
        """
        batch = list(commits)
        return await self.db.run_transaction(lambda db: _commit_in(db, batch))

    # -- intents (writes whose outcome may not be committed) ----------------------------

    async def intents(self) -> list[Intent]:
        """Every intent left, oldest first: after a crash, the writes to look into."""
        rows = await self._all(
            "SELECT token, side, link, created_at, written FROM intents ORDER BY id"
        )
        return [
            Intent(
                token=r[0],
                side=r[1],
                link=_link.decode(r[2]),
                created_at=r[3],
                written=None if r[4] is None else _values.decode(r[4]),
            )
            for r in rows
        ]

    async def journal_tokens(
        self, side: int, tokens: Iterable[str]
    ) -> dict[str, list[tuple[str, Change]]]:
        """The journaled changes of ``side`` carrying one of ``tokens``, with their maps,
        in journal order (a write's side effects, such as triggers, may carry it too)."""
        wanted = set(tokens)
        found: dict[str, list[tuple[str, Change]]] = {}
        rows = self.db.rows("SELECT map, change FROM journal WHERE side = ? ORDER BY id", (side,))
        async for map_name, blob in rows:
            change = _change.decode(blob)
            if change.token in wanted:
                found.setdefault(str(change.token), []).append((map_name, change))
        return found

    # -- parked records -----------------------------------------------------------------

    async def parked_refs(self) -> list[tuple[str, str]]:
        """The (map, key) of every record some parked record waits for."""
        return [
            (r[0], r[1]) for r in await self._all("SELECT DISTINCT ref_map, ref_key FROM parked")
        ]

    async def release(
        self, ref_map: str, ref_key: str, entities: dict[tuple[str, int], str]
    ) -> set[str]:
        """Journal a fresh change for each record waiting on (map, key); the maps touched."""
        maps: set[str] = set()
        async with self.transaction():
            rows = await self._all(
                "SELECT map, side, native_id FROM parked WHERE ref_map = ? AND ref_key = ?",
                (ref_map, ref_key),
            )
            for map_name, side, native_id in rows:
                change = Change(entities[(map_name, side)], native_id, "upsert")
                await self._write_journal(side, map_name, change)
                maps.add(map_name)
            await self.db.execute(
                "DELETE FROM parked WHERE ref_map = ? AND ref_key = ?", (ref_map, ref_key)
            )
        return maps

    async def expired_parked(self, map_name: str, before: float) -> list[Parked]:
        """Parked records of a map waiting since before ``before``."""
        rows = await self._all(
            f"SELECT {', '.join(PARKED_COLUMNS)} FROM parked WHERE map = ? AND since < ?",
            (map_name, before),
        )
        return [Parked(**dict(zip(PARKED_COLUMNS, r, strict=True))) for r in rows]

    # -- the error queue --------------------------------------------------------------

    async def errors(self, ids: Sequence[int] = ()) -> list[ErrorEntry]:
        """Entries of the error queue (all, or those with ``ids``), oldest first."""
        where = f"WHERE id IN ({','.join('?' * len(ids))})" if ids else ""
        rows = await self._all(
            "SELECT id, map, side, native_id, key, kind, reason, attempts, first_seen, "
            f"last_seen, change FROM errors {where} ORDER BY id",
            tuple(ids),
        )
        return [
            ErrorEntry(
                id=r[0],
                map=r[1],
                side=r[2],
                native_id=r[3],
                key=r[4],
                kind=r[5],
                reason=r[6],
                attempts=r[7],
                first_seen=r[8],
                last_seen=r[9],
                change=None if r[10] is None else _change.decode(r[10]),
            )
            for r in rows
        ]

    async def discard_errors(self, ids: Sequence[int]) -> int:
        marks = ",".join("?" * len(ids))
        async with self.transaction():
            return await self.db.execute(f"DELETE FROM errors WHERE id IN ({marks})", tuple(ids))

    async def errors_since(self, map_name: str, since: float) -> int:
        row = await self._one(
            "SELECT count(*) FROM errors WHERE map = ? AND last_seen >= ?", (map_name, since)
        )
        return int(row[0])

    # -- maps -------------------------------------------------------------------------

    async def map_states(self) -> dict[str, tuple[float | None, bool, str | None]]:
        """Per map: when it was initially synced, whether it is paused, and why."""
        rows = await self._all("SELECT name, synced_at, paused, paused_reason FROM maps")
        return {r[0]: (r[1], bool(r[2]), r[3]) for r in rows}

    async def set_synced(self, map_name: str) -> None:
        async with self.transaction():
            await self.db.execute(
                "INSERT INTO maps (name, synced_at) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET synced_at = excluded.synced_at",
                (map_name, time.time()),
            )

    async def set_paused(self, map_name: str, paused: bool, reason: str | None = None) -> None:
        """Pause or resume a map and poke a running daemon, in one transaction."""
        async with self.transaction():
            await self._write_paused(map_name, paused, reason)

    async def _write_paused(self, map_name: str, paused: bool, reason: str | None) -> None:
        await self.db.execute(
            "INSERT INTO maps (name, paused, paused_reason) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, "
            "paused_reason = excluded.paused_reason",
            (map_name, int(paused), reason),
        )
        await self._write_meta("control", str(time.time()))

    async def map_counts(self, map_name: str) -> dict[str, Any]:
        """Links, backlog, errors and the oldest backlog entry's age of one map."""
        links = await self._one("SELECT count(*) FROM links WHERE map = ?", (map_name,))
        backlog = await self._one(
            "SELECT count(*), min(received_at) FROM journal WHERE map = ?", (map_name,)
        )
        errors = await self._one("SELECT count(*) FROM errors WHERE map = ?", (map_name,))
        parked = await self._one("SELECT count(*) FROM parked WHERE map = ?", (map_name,))
        return {
            "links": links[0],
            "backlog": backlog[0],
            "oldest": backlog[1],
            "errors": errors[0],
            "parked": parked[0],
        }

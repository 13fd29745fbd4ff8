"""The state store's one connection: driver errors translated once, writes taken in turns.

Every statement of the store runs through ``StoreDB``, so every ``sqlite3``/aiosqlite
error becomes a ``StoreError`` naming the file here, in one place, and "database is
locked" becomes ``StoreBusy``. A write runs only inside ``transaction()`` (``execute``
refuses anything else), and the transactions of tasks sharing the connection take turns,
so no write can land inside another task's open transaction.

``run_transaction(fn)`` runs a whole transaction (BEGIN IMMEDIATE, ``fn`` on the plain
``sqlite3`` connection, COMMIT) in one call to aiosqlite's thread: the group commit's hot
path, one thread hop instead of one per statement. aiosqlite has no public call for a
function in its thread; ``_execute`` (what its own ``backup`` and ``iterdump`` use) is
reached here, in this one place.

Another process holding SQLite's write lock beyond the busy timeout is transient: a
*patient* connection (the engine's) waits it out with backoff, logs it, and reports since
when through ``on_locked`` (``None`` once it got through) for ``status``; an impatient one
(a one-shot command) raises ``StoreBusy``. Opening never leaves a connection behind: a
store that cannot be used fails at once, instead of hanging the process on aiosqlite's
thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import anyio
import structlog

from .backoff import Backoff
from .errors import StoreBusy, StoreError
from .files import create_private, os_reason

T = TypeVar("T")


class _Busy(Exception):
    """BEGIN IMMEDIATE met another process's lock (raised and caught in aiosqlite's thread)."""


BUSY_TIMEOUT_MS = 10_000
"""How long SQLite itself waits for another process's lock before a statement fails."""
LOCK_BACKOFF = Backoff(first_s=0.1, most_s=5.0)
"""How a patient connection waits out another process's lock (tries again, never gives up)."""
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_ACCESS_CODES = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)

log = structlog.get_logger("replicator")


class StoreDB:
    """One aiosqlite connection to the state store. ``await StoreDB.connect(path)``."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        *,
        patient: bool = False,
        on_locked: Callable[[float | None], None] | None = None,
    ) -> None:
        self._conn = conn
        self.path = path
        self.patient = patient
        self.on_locked = on_locked
        self.locked_since: float | None = None
        self._lock = anyio.Lock()
        self._writer: int | None = None  # the task whose transaction is open

    @classmethod
    async def connect(
        cls,
        path: Path,
        *,
        patient: bool = False,
        on_locked: Callable[[float | None], None] | None = None,
    ) -> StoreDB:
        """Open (creating it ``0600`` if missing) the store's file in WAL mode."""
        try:
            create_private(path)
        except OSError as exc:
            raise StoreError(f"state store {path}: cannot open: {os_reason(exc)}") from exc
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise translated(path, exc, "open") from exc
        db = cls(conn, path, patient=patient, on_locked=on_locked)
        try:  # the busy timeout first: the WAL switch waits as long as any statement
            for pragma in (
                f"busy_timeout={BUSY_TIMEOUT_MS}",
                "journal_mode=WAL",
                "synchronous=NORMAL",
            ):
                await db._call(conn.execute(f"PRAGMA {pragma}"), "open")
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        """Close the connection (its thread ends with it)."""
        await self._conn.close()

    # -- statements -------------------------------------------------------------------

    async def one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first row of a query (None if none)."""
        return await self._call(self._fetch(sql, args, 1), "read")

    async def all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query."""
        return await self._call(self._fetch(sql, args, None), "read")

    async def rows(self, sql: str, args: Sequence[Any] = ()) -> AsyncIterator[Any]:
        """The rows of a query, one at a time (for results too big to hold at once)."""
        try:
            async with self._conn.execute(sql, args) as cur:
                async for row in cur:
                    yield row
        except sqlite3.Error as exc:
            raise self._translated(exc, "read") from exc

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one write inside this task's ``transaction()``; the rows it changed."""
        self._check_writer()
        return await self._call(self._run(sql, args), "write")

    async def returning(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run one write with ``RETURNING`` inside this task's ``transaction()``; its rows."""
        self._check_writer()
        return await self._call(self._fetch(sql, args, None), "write")

    async def executemany(self, sql: str, args: Iterable[Any]) -> None:
        """Run one write for each of ``args`` inside this task's ``transaction()``."""
        self._check_writer()
        await self._call(self._conn.executemany(sql, args), "write")

    async def _fetch(self, sql: str, args: Sequence[Any], limit: int | None) -> Any:
        async with self._conn.execute(sql, args) as cur:
            if limit == 1:
                return await cur.fetchone()
            return list(await cur.fetchall())

    async def _run(self, sql: str, args: Sequence[Any]) -> int:
        async with self._conn.execute(sql, args) as cur:
            return cur.rowcount

    def _check_writer(self) -> None:
        if self._writer != anyio.get_current_task().id:
            raise RuntimeError(f"state store {self.path}: a write outside transaction()")

    async def _call(self, op: Awaitable[T], what: str) -> T:
        """The one place where the driver's errors become the errors tree."""
        try:
            return await op
        except sqlite3.Error as exc:
            raise self._translated(exc, what) from exc

    def _translated(self, exc: sqlite3.Error, what: str) -> StoreError:
        return translated(self.path, exc, what)

    # -- transactions -----------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One write transaction; tasks sharing the connection take turns."""
        async with self._lock:
            await self._begin()
            self._writer = anyio.get_current_task().id
            try:
                yield
            except BaseException:
                self._writer = None
                await self._rollback()
                raise
            self._writer = None
            try:
                await self._statement("COMMIT")
            except BaseException:
                await self._rollback()
                raise

    async def run_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` inside BEGIN IMMEDIATE ... COMMIT, all in one thread hop; a
        patient connection waits out another process's lock. Tasks take turns as in
        ``transaction()``. ``fn`` must only run statements (it runs in aiosqlite's thread)."""
        async with self._lock:
            attempt, started = 0, time.time()
            while True:
                try:
                    with anyio.CancelScope(shield=True):  # see ``_statement``
                        result = await self._call(self._in_thread(fn), "write")
                except _Busy as exc:
                    if not self.patient:
                        raise self._translated(exc.args[0], "write") from exc
                    attempt += 1
                    await self._wait_locked(started, attempt)
                    continue
                self._set_locked(None, 0.0)
                return result

    async def _in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``_transact(connection, fn)`` in aiosqlite's thread (see the module docstring)."""
        conn = self._conn
        return await conn._execute(lambda: _transact(conn._conn, fn))  # type: ignore[no-untyped-call,no-any-return]

    async def _rollback(self) -> None:
        """Roll back, keeping the error that made us: SQLite may have rolled back already."""
        with contextlib.suppress(StoreError):
            await self._statement("ROLLBACK")

    async def _statement(self, statement: str) -> None:
        # shielded: a cancelled statement still runs in aiosqlite's thread, and the open
        # transaction it leaves would refuse every later one
        with anyio.CancelScope(shield=True):
            await self._call(self._conn.execute(statement), "write")

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE; a patient connection waits out another process's lock."""
        attempt, started = 0, time.time()
        while True:
            try:
                await self._statement("BEGIN IMMEDIATE")
            except StoreBusy:
                if not self.patient:
                    raise
                attempt += 1
                await self._wait_locked(started, attempt)
                continue
            self._set_locked(None, 0.0)
            return

    async def _wait_locked(self, since: float, attempt: int) -> None:
        """Wait before try ``attempt + 1`` at a write another process's lock refused."""
        delay = LOCK_BACKOFF.delay(attempt)
        self._set_locked(since, delay)
        await anyio.sleep(delay)

    def _set_locked(self, since: float | None, retry_s: float) -> None:
        if (since is None) == (self.locked_since is None):
            return  # no change
        if since is None:
            locked_s = round(time.time() - (self.locked_since or 0.0), 1)
            log.warning("state_store_unlocked", path=str(self.path), locked_s=locked_s)
        else:
            log.error("state_store_locked", path=str(self.path), retry_s=round(retry_s, 3))
        self.locked_since = since
        if self.on_locked is not None:
            self.on_locked(since)


def _transact(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """BEGIN IMMEDIATE, ``fn(db)``, COMMIT; ROLLBACK on any error (in aiosqlite's thread)."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        if exc.sqlite_errorcode & 0xFF in _BUSY_CODES:
            raise _Busy(exc) from exc
        raise
    try:
        result = fn(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
    return result


def translated(path: Path, exc: sqlite3.Error, what: str) -> StoreError:
    """The errors-tree error for a driver error of the store at ``path``."""
    code = exc.sqlite_errorcode & 0xFF
    if code in _BUSY_CODES:
        return StoreBusy(
            f"state store {path} is locked by another process "
            f"(waited {BUSY_TIMEOUT_MS / 1000:g} s): {exc}"
        )
    hint = " (check that this user may write the file and its folder)"
    return StoreError(
        f"state store {path}: cannot {what}: {exc}{hint if code in _ACCESS_CODES else ''}"
    )

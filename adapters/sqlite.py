"""The SQLite side: any SQLite database file, captured by triggers.

Each call runs its statements in one worker thread on one ``sqlite3`` connection (a
batch of writes is one transaction, one thread hop), one call at a time.

Options: ``path`` (required, relative to the config file), ``poll_interval_ms`` (20:
how often ``PRAGMA data_version`` is asked whether another connection wrote; measured on
a 2-core machine, an idle daemon on two SQLite sides uses about 6% of a core at 20 ms and
3% at 50 ms, and 1,000 single-row updates/s reach the other side with a p99 lag of
60-80 ms at 20 ms and 130-210 ms at 50 ms: ``bench/live.py --phases steady``),
``busy_timeout_ms`` (5000). The file must exist; a missing file is an outage
(``TransientError``), as are "database is locked", disk I/O and cannot-open errors.

``uninstall`` removes the triggers (of some tables, or all and these tables too).

``check`` only reads the schema (missing tables and columns, filters that do not
compile, composite keys without a rowid: all listed in one ``SchemaError``). What
``prepare`` then installs (idempotently; user tables and columns are never altered or
dropped):

* ``_replicator_changes(seq, entity, native_id, op, token)``: the change feed. ``seq``
  is AUTOINCREMENT, so it is never reused; a cursor is ``str(seq)`` of the last change
  read. ``op`` is ``insert``, ``update`` or ``delete``.
* ``_replicator_ctx``: one row holding the token of the replicator write in progress
  (NULL otherwise); it is set and cleared inside the write transaction, so changes made
  by anyone else always carry ``token = NULL``.
* ``_replicator_versions(entity, native_id, seq, changed_at)``: a row's **version** is
  the ``seq`` of the last change recorded for it (as text); ``changed_at`` is unix time.
  A row untouched since the triggers were installed has version ``"0"``.
* Triggers ``_replicator_<table>_insert`` / ``_update`` / ``_delete`` (AFTER ..., FOR
  EACH ROW) on every mapped table, dropped and recreated by each ``prepare``. An UPDATE
  that changes the primary key is recorded as a delete of the old id, then an upsert of
  a new row.

**Native ids.** A row's *rid* is the table's single-column primary key (an INTEGER
PRIMARY KEY, or e.g. a TEXT GUID), else the rowid (which VACUUM may renumber when there
is no INTEGER PRIMARY KEY); a WITHOUT ROWID table with a composite key is refused. A
native id names one row for its whole life and is never given to another (DESIGN §7),
but SQLite hands the largest deleted integer rid (a rowid, or an INTEGER PRIMARY KEY
without AUTOINCREMENT) to the next insert. So for integer rids:

* ``_replicator_rowid_tops(entity, top)`` holds the highest rid given a native id so far
  (raised by ``prepare`` to the table's highest rid and AUTOINCREMENT sequence; a first
  install also counts the ids the feed and the versions still name).
* The insert trigger gives a row whose rid is above the top its plain rid (``"42"``) and
  raises the top; a row whose rid is not above it (a reused rid, or one set explicitly
  below the top) gets ``"<rid>.<seq>"``, ``seq`` being the AUTOINCREMENT seq of the
  change that records it (never reused), kept in
  ``_replicator_rowids(entity, rid, native_id)`` until the row is deleted. Triggers,
  reads and writes name a row by ``IFNULL(that native_id, plain rid)``; a read or a write
  by an id whose rid now holds another row finds no row.
* Rows that were there before the install, or were inserted while the triggers were
  missing, keep their plain rid: native ids stored by earlier releases stay valid.

TEXT (and other non-integer) primary keys are the application's own names for its rows:
a key deleted and inserted again is taken as that name given again. One that is not
valid UTF-8 is named by its bytes, ``x'ff44fe'``, and its row is unreadable. A filter is an SQL
WHERE fragment on the table. Rows carry the spec's fields and key fields.

Known limit: a ``REPLACE`` deletes the row it clashes with (a UNIQUE or primary key
clash) firing no delete trigger unless that connection enabled ``recursive_triggers``; the
new row gets a new native id. When the two rows share the record's integration key, the
core takes the new row for the record (``row_replaced``); a clash on another UNIQUE
column leaves the old row's record linked to a row that is gone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import anyio
import structlog

from replicator.adapter import (
    ChangeBatch,
    EntitySpec,
    Row,
    ScanPage,
    Value,
    WriteOp,
    WriteResult,
)
from replicator.errors import (
    AdapterError,
    ConfigError,
    PermanentError,
    SchemaError,
    TransientError,
)

from . import _sqlite_schema as sql
from ._sqlite_keys import KnownKeys
from ._sqlite_schema import Table

log = structlog.get_logger()
T = TypeVar("T")

_OPTIONS = ("path", "poll_interval_ms", "busy_timeout_ms")
# SQLITE_BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL: the side, not the item
_TRANSIENT_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})
_TRANSIENT_WORDS = ("locked", "busy", "disk i/o", "unable to open")
_PURGE_EVERY = 1000  # acknowledged changes are deleted in batches of about this many
_PURGE_RETRY = 100  # a purge another writer's lock put off is tried again this many later
_PURGE_WAIT_MS = 2  # how long a live purge waits for another writer's lock
_PURGE_PATIENT = 200  # a purge put off this many times in a row waits the busy timeout


def create_side(name: str, options: dict[str, Any], base_dir: Path) -> SQLiteSide:
    """Build the SQLite side ``name`` from its options (see the module docstring)."""
    problems = check_options(name, options)
    if problems:
        raise ConfigError([f"side {name!r}: {p}" for p in problems])
    return SQLiteSide(
        name,
        base_dir / options["path"],
        poll_interval_ms=options.get("poll_interval_ms", 20),
        busy_timeout_ms=options.get("busy_timeout_ms", 5000),
    )


def check_options(name: str, options: Mapping[str, Any]) -> list[str]:
    """Each problem with a side's options (the adapter protocol's ``check_options``)."""
    problems = [
        f"unknown option {key!r} for the sqlite adapter (known: {', '.join(_OPTIONS)})"
        for key in options
        if key not in _OPTIONS
    ]
    if not isinstance(options.get("path"), str) or not options["path"]:
        problems.append("option 'path' (the database file, relative to the config) is required")
    for key, least in (("poll_interval_ms", 1), ("busy_timeout_ms", 0)):
        value = options.get(key, least)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.append(f"option {key!r} must be an integer >= {least}, got {value!r}")
    return problems


class _Restart(Exception):
    """An item rolled the whole transaction back (``RAISE(ROLLBACK)``): redo the batch."""


class SQLiteSide:
    """One SQLite database file as a side. See the module docstring."""

    versions_ordered = True
    """A row's version is the seq of its last change (AUTOINCREMENT: it only grows)."""

    def __init__(
        self, name: str, path: Path, *, poll_interval_ms: int = 20, busy_timeout_ms: int = 5000
    ) -> None:
        self.name = name
        self.path = path
        self._poll = poll_interval_ms / 1000
        self._busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._lock = anyio.Lock()  # one call (one thread, one transaction) at a time
        self._tables: dict[str, Table] = {}
        self._seen: int | None = None  # PRAGMA data_version at the last read_changes
        self._wrote = False  # this side committed a write since the last read_changes
        self._acked = 0
        self._purged = 0
        self._purge_at = _PURGE_EVERY  # the acknowledged seq at which to purge next
        self._put_off = 0  # purges put off in a row by another writer's lock
        self._specs: dict[str, EntitySpec] = {}
        self._schema: int | None = None  # PRAGMA schema_version once our triggers were in

    # -- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return
        if not self.path.is_file():
            raise TransientError(f"side {self.name!r}: database file {str(self.path)!r} not found")
        async with self._lock:
            with self._translated("open"):
                await anyio.to_thread.run_sync(self._connect)

    def _connect(self) -> None:
        """Open the connection (set here, so a cancelled ``open`` still closes it).

        It writes nothing (``validate`` opens and checks): a file that is not a database
        fails here; the journal mode is switched to WAL by ``prepare``."""
        db = sqlite3.connect(
            self.path.resolve().as_uri() + "?mode=rw",
            uri=True,
            isolation_level=None,
            check_same_thread=False,  # used from worker threads, one call at a time
        )
        try:
            db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            db.execute("PRAGMA foreign_keys = ON")
            sql.schema_version(db)  # reads the header: "file is not a database"
        except BaseException:
            db.close()
            raise
        self._db = db

    async def close(self) -> None:
        if self._db is None:
            return
        if self._acked > self._purged:
            try:
                if not await self._purge(self._busy_timeout_ms):
                    log.warning("sqlite_purge_failed", side=self.name, error="database is locked")
            except AdapterError as exc:
                log.warning("sqlite_purge_failed", side=self.name, error=str(exc))
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                with self._translated("close"):
                    await anyio.to_thread.run_sync(db.close)

    async def check(self, entities: Sequence[EntitySpec]) -> None:
        await self._call("check the schema", sql.inspect_all, entities, self.name)

    async def prepare(self, entities: Sequence[EntitySpec]) -> None:
        tables = await self._call("prepare", self._prepare, entities)
        self._tables.update(tables)
        self._specs.update({spec.entity: spec for spec in entities})

    def _prepare(self, db: sqlite3.Connection, entities: Sequence[EntitySpec]) -> dict[str, Table]:
        tables = sql.inspect_all(db, entities, self.name)
        db.execute("PRAGMA journal_mode = WAL")
        with _transaction(db):
            for statement in sql.INSTALL:
                db.execute(statement)
            for table in tables.values():
                self._capture(db, table)
        self._schema = sql.schema_version(db)
        for spec in entities:
            self._warn_unindexed(db, tables[spec.entity], spec)
        self._warn_unmapped(db, {t.name for t in tables.values()})
        return tables

    def _capture(self, db: sqlite3.Connection, table: Table) -> None:
        """(Re-)install a table's triggers; if they were there once and are gone, the table
        was re-created (or they were dropped): the rows may be others now and changes were
        missed, so a ``reset`` goes into the feed (the core re-syncs the map)."""
        if sql.captured_before(db, table) and not sql.has_triggers(db, table):
            db.execute(sql.RESET, (table.entity,))
            db.execute(sql.FORGET_ROWIDS, (table.entity,))
            log.warning("sqlite_table_recreated", side=self.name, entity=table.entity)
        for statement in sql.triggers(table):
            db.execute(statement)
        db.execute(sql.CAPTURE, (table.entity, table.name))

    def _warn_unmapped(self, db: sqlite3.Connection, mapped: set[str]) -> None:
        """Our triggers on a table no map uses (a map removed) fill the feed for nothing."""
        for table in sorted(sql.triggered_tables(db) - mapped):
            log.warning(
                "sqlite_triggers_unmapped",
                side=self.name,
                table=table,
                hint="replicator uninstall --config FILE --unmapped",
            )

    def _warn_unindexed(self, db: sqlite3.Connection, table: Table, spec: EntitySpec) -> None:
        """Inserts look the key up first: without an index that is a scan per row."""
        if spec.key_fields and not sql.key_indexed(db, table.name, spec.key_fields):
            columns = ", ".join(spec.key_fields)
            log.warning(
                "sqlite_key_not_indexed",
                side=self.name,
                entity=spec.entity,
                key=list(spec.key_fields),
                hint=f"CREATE INDEX {table.name}_key ON {table.name} ({columns})",
            )

    def _repair(self, db: sqlite3.Connection) -> None:
        """Re-install the triggers of a mapped table dropped and re-created meanwhile, with
        a ``reset`` in the feed (the core re-syncs the map, so nothing written to it before
        the triggers came back is missed). A table gone for now, or back without a mapped
        column, is reported and left to fail its writes until the next schema change.
        """
        if self._schema is None or sql.schema_version(db) == self._schema:
            return
        for entity, table in list(self._tables.items()):
            if sql.has_triggers(db, table):
                continue
            found = sql.inspect(db, self._specs[entity])
            if isinstance(found, list):
                log.error("sqlite_table_unfit", side=self.name, entity=entity, problems=found)
                continue
            with _transaction(db):
                self._capture(db, found)
            self._tables[entity] = found
            log.warning("sqlite_triggers_reinstalled", side=self.name, entity=entity)
        self._schema = sql.schema_version(db)

    async def installed(self) -> list[str]:
        return sorted(await self._call("list the captured tables", sql.triggered_tables))

    async def uninstall(self, entities: Sequence[str] | None = None) -> list[str]:
        return await self._call("uninstall", self._uninstall, entities)

    def _uninstall(self, db: sqlite3.Connection, entities: Sequence[str] | None) -> list[str]:
        with _transaction(db):
            removed = sql.uninstall(db, entities)
        self._schema = None  # no repair of what was just removed on purpose
        return removed

    # -- the change feed ------------------------------------------------------------

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        start = max(self._cursor_int(cursor), self._acked)
        return await self._call("read changes", self._read_changes, start, cursor, limit)

    def _read_changes(
        self, db: sqlite3.Connection, start: int, cursor: str | None, limit: int
    ) -> ChangeBatch:
        self._repair(db)
        self._wrote = False
        self._seen = sql.data_version(db)
        head = sql.head(db)  # bound first: every seq <= head is committed
        records = sql.read_records(db, start, head, limit)
        changes = sql.changes_with_values(db, self._tables, records)
        if records:
            return ChangeBatch(changes, str(records[-1][0]))
        return ChangeBatch([], cursor if cursor is not None else (str(head) if head else None))

    async def head_cursor(self) -> str | None:
        head = await self._call("read the head cursor", sql.head)
        return str(head) if head else None

    async def ack(self, cursor: str) -> None:
        self._acked = max(self._acked, self._cursor_int(cursor))
        if self._acked >= self._purge_at:
            patient = self._put_off >= _PURGE_PATIENT
            wait_ms = min(_PURGE_WAIT_MS, self._busy_timeout_ms)
            await self._purge(self._busy_timeout_ms if patient else wait_ms)

    async def wait_for_changes(self, max_wait: float) -> None:
        with anyio.move_on_after(max_wait):
            while not await self._may_have_changes():  # noqa: ASYNC110 (polls another process)
                await anyio.sleep(self._poll)

    # -- reading rows ---------------------------------------------------------------

    # The table is looked up in the call: a repair just before it may have replaced it.

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        return await self._call(f"get rows of {entity!r}", self._get, entity, native_ids)

    def _get(
        self, db: sqlite3.Connection, entity: str, native_ids: Sequence[str]
    ) -> dict[str, Row]:
        return sql.rows_by_ids(db, self._table(entity), native_ids)

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        return await self._call(f"find rows of {entity!r}", self._find, entity, key_fields, keys)

    def _find(
        self,
        db: sqlite3.Connection,
        entity: str,
        key_fields: Sequence[str],
        keys: Sequence[tuple[Value, ...]],
    ) -> dict[tuple[Value, ...], Row]:
        return sql.rows_by_keys(db, self._table(entity), key_fields, keys, True)

    async def scan(self, entity: str, page: str | None, limit: int) -> ScanPage:
        """Rows in rid order; the page token is the last native id the page scanned."""
        return await self._call(f"scan {entity!r}", self._scan, entity, page, limit)

    def _scan(self, db: sqlite3.Connection, entity: str, page: str | None, limit: int) -> ScanPage:
        return sql.scan_rows(db, self._table(entity), page, limit)

    async def present_values(
        self, spec: EntitySpec, field: str, values: Sequence[Value]
    ) -> set[Value]:
        """Which of ``values`` some row (filtered) holds in ``field``; needs no ``prepare``."""
        what = f"look for values of {spec.entity}.{field}"
        return await self._call(what, self._present_values, spec, field, list(values))

    def _present_values(
        self, db: sqlite3.Connection, spec: EntitySpec, field: str, values: list[Value]
    ) -> set[Value]:
        table = sql.inspect(db, spec)
        if isinstance(table, list):
            raise SchemaError("\n".join(f"side {self.name!r}: {p}" for p in table))
        return sql.present_values(db, table, field, values)

    # -- writing --------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """The whole batch in one transaction, in one call to the database's thread."""
        if not ops:
            return []
        return await self._call(f"write a batch of {len(ops)}", self._write, list(ops))

    def _write(self, db: sqlite3.Connection, ops: list[WriteOp]) -> list[WriteResult]:
        results = self._write_batch(db, ops)
        self._wrote = self._wrote or any(r.status == "applied" for r in results)
        return results

    def _write_batch(self, db: sqlite3.Connection, ops: list[WriteOp]) -> list[WriteResult]:
        decided: dict[int, WriteResult] = {}
        while True:
            try:
                return self._attempt(db, ops, decided)
            except _Restart:
                continue
            except sqlite3.Error as exc:  # COMMIT refused (a deferred constraint)
                if _is_transient(exc):
                    raise
                if len(ops) == 1:
                    return [self._refused(ops[0], exc)]
                log.info("sqlite_batch_split", side=self.name, size=len(ops), error=str(exc))
                return [r for op in ops for r in self._write_batch(db, [op])]

    def _attempt(
        self, db: sqlite3.Connection, ops: list[WriteOp], decided: dict[int, WriteResult]
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        with _transaction(db):
            known = KnownKeys(db, self._tables, ops)
            for i, op in enumerate(ops):
                result = decided[i] if i in decided else self._write_one(db, op, known)
                if not db.in_transaction:
                    decided[i] = result
                    raise _Restart
                known.wrote(op, result)
                results.append(result)
            db.execute(sql.SET_TOKEN, (None,))
        return results

    def _write_one(self, db: sqlite3.Connection, op: WriteOp, known: KnownKeys) -> WriteResult:
        table = self._tables.get(op.entity)
        if table is None:
            return self._permanent(op, "the entity is not prepared on this side")
        db.execute(sql.SET_TOKEN, (op.token,))
        db.execute("SAVEPOINT replicator_op")
        try:
            result = self._apply(db, table, op, known)
        except (sqlite3.Error, OverflowError) as exc:  # OverflowError: an int over 64 bits
            if isinstance(exc, sqlite3.Error) and _is_transient(exc):
                raise
            result = self._refused(op, exc)
            if db.in_transaction:
                db.execute("ROLLBACK TO replicator_op")
        if db.in_transaction:
            db.execute("RELEASE replicator_op")
        return result

    def _apply(
        self, db: sqlite3.Connection, table: Table, op: WriteOp, known: KnownKeys
    ) -> WriteResult:
        if op.op == "insert":
            return self._insert(db, table, op, known)
        current = sql.row_by_id(db, table, op.native_id)
        if current is not None and op.expected_version not in (None, current.version):
            return WriteResult("conflict", current=current, reason="version changed")
        if op.op == "delete":
            if current is not None:
                db.execute(table.delete(), [table.native(current.native_id)])
            return WriteResult("applied", native_id=op.native_id)
        if current is None:
            return WriteResult("conflict", reason="row does not exist")
        columns = list(op.values)
        params = [*(op.values[c] for c in columns), table.native(current.native_id)]
        return self._applied(db, table, table.update(columns), params)

    def _insert(
        self, db: sqlite3.Connection, table: Table, op: WriteOp, known: KnownKeys
    ) -> WriteResult:
        if op.key_fields:
            current = self._holder(db, table, op, known)
            if current is not None:
                return WriteResult("conflict", current=current, reason="a row with this key exists")
        columns = list(op.values)
        rid = db.execute(table.insert(columns), [op.values[c] for c in columns]).fetchone()[0]
        if rid is None:  # NULL names no row (and every such row the same): undone
            db.execute("ROLLBACK TO replicator_op")
            why = f"the new row has no id: give {table.id_column} a DEFAULT, or map it"
            return self._permanent(op, why)
        native_id, version = sql.identity(db, table, rid)
        return WriteResult("applied", native_id=native_id, version=version)

    def _holder(
        self, db: sqlite3.Connection, table: Table, op: WriteOp, known: KnownKeys
    ) -> Row | None:
        """The row holding the key of an insert, if any (see ``KnownKeys``)."""
        is_known, current = known.holder(op)
        if is_known:
            return current
        key = tuple(op.values.get(f) for f in op.key_fields)
        found = sql.rows_by_keys(db, table, op.key_fields, [key], False)
        return next(iter(found.values()), None)

    def _applied(
        self, db: sqlite3.Connection, table: Table, statement: str, params: list[Value]
    ) -> WriteResult:
        """Run an INSERT/UPDATE ... RETURNING the rid; answer with native id and new version."""
        rid = db.execute(statement, params).fetchone()[0]
        native_id, version = sql.identity(db, table, rid)
        return WriteResult("applied", native_id=native_id, version=version)

    # -- internals ------------------------------------------------------------------

    async def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in a worker thread, alone on the connection; driver
        errors translated. A cancelled call still runs to its end (and its rollback)."""
        async with self._lock:
            db = self._db
            if db is None:
                raise TransientError(f"side {self.name!r}: cannot {what}: the side is not open")
            with self._translated(what):
                return await anyio.to_thread.run_sync(fn, db, *args)

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OverflowError) as exc:
            transient = isinstance(exc, sqlite3.Error) and _is_transient(exc)
            kind = TransientError if transient else PermanentError
            raise kind(f"side {self.name!r} ({self.path}): cannot {what}: {exc}") from exc

    def _table(self, entity: str) -> Table:
        try:
            return self._tables[entity]
        except KeyError:
            raise SchemaError(f"side {self.name!r}: entity {entity!r} is not prepared") from None

    def _cursor_int(self, cursor: str | None) -> int:
        try:
            return int(cursor or 0)
        except ValueError:
            raise PermanentError(f"side {self.name!r}: {cursor!r} is not a cursor") from None

    async def _purge(self, wait_ms: int) -> bool:
        """Delete the acknowledged changes, waiting at most ``wait_ms`` for another
        writer's lock; whether they are deleted (if not, the purge is tried again
        ``_PURGE_RETRY`` acknowledged changes later).

        A live purge hardly waits: this side's reads wait behind it (one call at a time),
        and under an application's steady commits SQLite's busy handler, sleeping longer
        and longer between tries, kept a patient purge 100-850 ms: every change read
        after it came that much later (``bench/live.py --phases steady``). Deleting later
        loses nothing (a read starts after the acknowledged seq); a purge put off
        ``_PURGE_PATIENT`` times in a row waits the busy timeout, so the feed stays
        bounded."""
        acked = self._acked
        what = "forget acknowledged changes"
        done = await self._call(what, _delete_acked, acked, wait_ms, self._busy_timeout_ms)
        self._purge_at = acked + (_PURGE_EVERY if done else _PURGE_RETRY)
        self._put_off = 0 if done else self._put_off + 1
        if done:
            self._purged = acked
        return done

    async def _may_have_changes(self) -> bool:
        if self._wrote or self._seen is None:
            return True
        return await self._call("wait for changes", sql.data_version) != self._seen

    def _refused(self, op: WriteOp, exc: Exception) -> WriteResult:
        return self._permanent(op, f"refused by SQLite: {exc}")

    def _permanent(self, op: WriteOp, why: str) -> WriteResult:
        row = op.native_id if op.native_id is not None else "(new row)"
        reason = f"side {self.name!r}: {op.op} of {op.entity!r} {row}: {why}"
        return WriteResult("permanent", native_id=op.native_id, reason=reason)


def _delete_acked(db: sqlite3.Connection, acked: int, wait_ms: int, busy_timeout_ms: int) -> bool:
    """Delete the changes up to ``acked``, waiting at most ``wait_ms`` for the write lock;
    whether they are deleted (False: another connection held the lock meanwhile)."""
    db.execute(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        db.execute(sql.PURGE, (acked,))
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
    return True


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT; on any error, ROLLBACK."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def _is_transient(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _TRANSIENT_CODES
    return any(word in str(exc).lower() for word in _TRANSIENT_WORDS)

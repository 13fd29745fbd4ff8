"""The SQL of the SQLite side: bookkeeping tables, triggers, schema inspection, row reads.

``adapters.sqlite`` owns the connection, the transactions and the error translation;
this module builds the statements and reads rows on a connection it is given.
Identifiers are always double-quoted; entity names in trigger bodies are single-quoted
literals (trigger bodies cannot take parameters).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from replicator.adapter import Change, EntitySpec, Row, ScanPage, Value
from replicator.errors import SchemaError

T = TypeVar("T")

CHANGES = "_replicator_changes"
CTX = "_replicator_ctx"
VERSIONS = "_replicator_versions"
CAPTURED = "_replicator_tables"
ROWIDS = "_replicator_rowids"
TOPS = "_replicator_rowid_tops"

INSTALL = (
    f"CREATE TABLE IF NOT EXISTS {CHANGES} (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " entity TEXT NOT NULL, native_id TEXT NOT NULL, op TEXT NOT NULL, token TEXT)",
    f"CREATE TABLE IF NOT EXISTS {CTX} (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT)",
    f"INSERT OR IGNORE INTO {CTX} (id, token) VALUES (1, NULL)",
    f"UPDATE {CTX} SET token = NULL WHERE token IS NOT NULL",
    f"CREATE TABLE IF NOT EXISTS {VERSIONS} (entity TEXT NOT NULL, native_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, changed_at REAL, PRIMARY KEY (entity, native_id)) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {CAPTURED} (entity TEXT PRIMARY KEY, tbl TEXT NOT NULL)"
    " WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {ROWIDS} (entity TEXT NOT NULL, rid INTEGER NOT NULL,"
    " native_id TEXT NOT NULL, PRIMARY KEY (entity, rid)) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {TOPS} (entity TEXT PRIMARY KEY, top INTEGER NOT NULL)"
    " WITHOUT ROWID",
)
SET_TOKEN = f"UPDATE {CTX} SET token = ? WHERE id = 1"
_HEAD = f"SELECT seq FROM sqlite_sequence WHERE name = '{CHANGES}'"
READ_CHANGES = (
    f"SELECT seq, entity, native_id, op, token FROM {CHANGES}"
    " WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)
PURGE = f"DELETE FROM {CHANGES} WHERE seq <= ?"
_IDENTITY = (
    f"SELECT n.nid, IFNULL(v.seq, 0) FROM (SELECT COALESCE((SELECT native_id FROM {ROWIDS}"
    " WHERE entity = ?1 AND rid = ?2), CAST(?2 AS TEXT)) AS nid) AS n"
    f" LEFT JOIN {VERSIONS} AS v ON v.entity = ?1 AND v.native_id = n.nid"
)

_TOKEN = f"(SELECT token FROM {CTX} WHERE id = 1)"
_NOW = "(julianday('now') - 2440587.5) * 86400.0"
_OPS = ("insert", "update", "delete")
_CHUNK = 500  # bound parameters per statement, well under SQLite's limit


def quote(name: str) -> str:
    """An SQL identifier: ``"name"``."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """An SQL string literal: ``'text'``."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Table:
    """A mapped table: how to name its rows and which columns a ``Row`` carries.

    ``id_column`` holds the row's SQLite id (its *rid*). With ``int_ids`` SQLite may give
    a rid again to a later row, so the native id is kept in ``ROWIDS`` when it is not
    the plain rid (see the module docstring of ``adapters.sqlite``).
    """

    entity: str
    name: str
    id_column: str  # a quoted column, or rowid
    int_ids: bool
    columns: tuple[str, ...]
    filter: str | None = None

    def native(self, native_id: str) -> Value:
        """The rid of a native id (``int`` for integer ids: ``"7"`` and ``"7.120"`` are 7)."""
        head = native_id.split(".", 1)[0] if self.int_ids else native_id
        if self.int_ids and head.lstrip("-").isdigit():
            return int(head)
        return native_id

    def native_id(self, row: str) -> str:
        """The SQL text of the native id of ``row`` (``t``, ``NEW``, ``OLD``)."""
        plain = f"CAST({row}.{self.id_column} AS TEXT)"
        if not self.int_ids:
            return plain
        return (
            f"IFNULL((SELECT x.native_id FROM {ROWIDS} AS x WHERE x.entity ="
            f" {literal(self.entity)} AND x.rid = {row}.{self.id_column}), {plain})"
        )

    def select(self, where: str, *, filtered: bool = True, joined: str = "") -> str:
        """Rows as ``(native id, version seq, changed_at, *columns)`` matching ``where``
        (``joined``: a row source the table is joined to, e.g. ``(VALUES ...) AS k JOIN``)."""
        nid = self.native_id("t")
        version = f"FROM {VERSIONS} AS v WHERE v.entity = {literal(self.entity)} AND v.native_id"
        cols = "".join(f", t.{quote(c)}" for c in self.columns)
        condition = f"({where}) AND ({self.filter})" if filtered and self.filter else where
        return (
            f"SELECT {nid}, COALESCE((SELECT v.seq {version} = {nid}), 0),"
            f" (SELECT v.changed_at {version} = {nid}){cols} FROM {joined}{quote(self.name)} AS t"
            f" WHERE {condition}"
        )

    def by_ids(self, count: int, *, filtered: bool = True) -> str:
        """Rows (filtered) whose rid is one of ``count`` parameters."""
        where = f"t.{self.id_column} IN ({', '.join('?' * count)})"
        return self.select(where, filtered=filtered)

    def by_id(self) -> str:
        """The row (filter or not) whose rid is the one parameter."""
        return self.select(f"t.{self.id_column} = ?", filtered=False)

    def scan(self, after: bool, *, after_bytes: bool = False, filtered: bool = True) -> str:
        """Rows (filtered) in rid order, after the first parameter if ``after`` (given as
        the bytes of a text that is not UTF-8 if ``after_bytes``)."""
        where = f"t.{self.id_column} > ?" if after else "1"
        if after_bytes:
            where = f"t.{self.id_column} > CAST(? AS TEXT)"
        return self.select(where, filtered=filtered) + f" ORDER BY t.{self.id_column} LIMIT ?"

    def by_keys(self, key_fields: Sequence[str], count: int, *, filtered: bool = True) -> str:
        """Rows whose ``key_fields`` equal one of ``count`` tuples of parameters.

        A join on the VALUES, not ``IN (VALUES ...)``: SQLite then looks each key up in the
        key's index (``IN`` on a row value scans the table: 20.8 ms for 500 keys at 20,000
        rows, against 1.65 ms)."""
        row = "(" + ", ".join("?" * len(key_fields)) + ")"
        joined = f"(VALUES {', '.join([row] * count)}) AS k JOIN "
        where = " AND ".join(f"t.{quote(f)} = k.column{i + 1}" for i, f in enumerate(key_fields))
        return self.select(where or "1", filtered=filtered, joined=joined) + (
            f" ORDER BY t.{self.id_column}"
        )

    def insert(self, columns: Sequence[str]) -> str:
        """INSERT ... RETURNING the new row's rid."""
        return _insert(self, tuple(columns))

    def update(self, columns: Sequence[str]) -> str:
        """UPDATE the row whose rid is the last parameter, RETURNING its rid."""
        return _update(self, tuple(columns))

    def delete(self) -> str:
        return f"DELETE FROM {quote(self.name)} WHERE {self.id_column} = ?"


@functools.lru_cache(maxsize=256)
def _insert(table: Table, columns: tuple[str, ...]) -> str:
    """``Table.insert``'s statement (built once per table and columns: a batch asks for
    it once per row)."""
    returning = f" RETURNING {table.id_column}"
    if not columns:
        return f"INSERT INTO {quote(table.name)} DEFAULT VALUES{returning}"
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks}){returning}"


@functools.lru_cache(maxsize=256)
def _update(table: Table, columns: tuple[str, ...]) -> str:
    """``Table.update``'s statement (built once per table and columns)."""
    sets = ", ".join(f"{quote(c)} = ?" for c in columns) or f"{table.id_column} = {table.id_column}"
    return (
        f"UPDATE {quote(table.name)} SET {sets} WHERE {table.id_column} = ?"
        f" RETURNING {table.id_column}"
    )


def trigger_name(table: str, op: str) -> str:
    return quote(f"_replicator_{table}_{op}")


def triggers(table: Table) -> list[str]:
    """Statements that drop and recreate the three triggers of ``table`` (and, for
    integer ids, raise its top rid to every rid already given, see ``_fresh_id``)."""
    drops = [f"DROP TRIGGER IF EXISTS {trigger_name(table.name, op)}" for op in _OPS]
    made = [_trigger(table, "insert"), _trigger(table, "update"), _trigger(table, "delete")]
    return [*drops, *(_tops(table) if table.int_ids else []), *made]


def _trigger(table: Table, op: str) -> str:
    entity = literal(table.entity)
    new, old = table.native_id("NEW"), table.native_id("OLD")
    record_new = _record(entity, new, op) + _upsert_version(entity, new)
    body = {
        "insert": _fresh_id(table, "1") + record_new,
        "update": _moved_away(table, old) + record_new,
        "delete": _record(entity, old, "delete") + _forget(table, old, "1"),
    }[op]
    return (
        f"CREATE TRIGGER {trigger_name(table.name, op)} AFTER {op.upper()}"
        f" ON {quote(table.name)} FOR EACH ROW BEGIN {body}END"
    )


def _record(entity: str, native_id: str, op: str, when: str = "1") -> str:
    return (
        f"INSERT INTO {CHANGES} (entity, native_id, op, token) SELECT {entity},"
        f" IFNULL({native_id}, ''), '{op}', {_TOKEN} WHERE {when}; "
    )


def _upsert_version(entity: str, native_id: str) -> str:
    return (
        f"INSERT INTO {VERSIONS} (entity, native_id, seq, changed_at) VALUES ({entity},"
        f" IFNULL({native_id}, ''), last_insert_rowid(), {_NOW}) ON CONFLICT (entity, native_id)"
        " DO UPDATE SET seq = excluded.seq, changed_at = excluded.changed_at; "
    )


def _forget(table: Table, native_id: str, when: str) -> str:
    """Forget the version of a row gone (and, for integer ids, its native id)."""
    entity = literal(table.entity)
    forget = (
        f"DELETE FROM {VERSIONS} WHERE entity = {entity}"
        f" AND native_id = IFNULL({native_id}, '') AND {when}; "
    )
    if table.int_ids:
        forget += f"DELETE FROM {ROWIDS} WHERE entity = {entity} AND rid = OLD.{table.id_column}"
        forget += f" AND {when}; "
    return forget


def _moved_away(table: Table, old: str) -> str:
    """A rid change: the old native id is deleted; the new rid is a new row."""
    moved = f"OLD.{table.id_column} IS NOT NEW.{table.id_column}"
    entity = literal(table.entity)
    gone = _record(entity, old, "delete", moved) + _forget(table, old, moved)
    return gone + _fresh_id(table, moved)


def _fresh_id(table: Table, when: str) -> str:
    """Give the NEW row a native id no row had: its plain rid if above every rid given
    before (the table's top), else ``<rid>.<seq>`` (``seq``: the change about to be
    recorded, never reused), kept in ROWIDS. Text ids are the application's own."""
    if not table.int_ids:
        return ""
    entity, rid = literal(table.entity), f"NEW.{table.id_column}"
    top = f"(SELECT top FROM {TOPS} WHERE entity = {entity})"
    seq = f"(SELECT IFNULL(max(seq), 0) + 1 FROM sqlite_sequence WHERE name = '{CHANGES}')"
    tracked = f"({when}) AND typeof({rid}) = 'integer'"
    return (
        f"INSERT INTO {ROWIDS} (entity, rid, native_id) SELECT {entity}, {rid},"
        f" {rid} || '.' || {seq} WHERE {tracked} AND {rid} <= IFNULL({top}, {rid} - 1)"
        " ON CONFLICT (entity, rid) DO UPDATE SET native_id = excluded.native_id; "
        f"INSERT INTO {TOPS} (entity, top) SELECT {entity}, {rid} WHERE {tracked}"
        " ON CONFLICT (entity) DO UPDATE SET top = excluded.top WHERE excluded.top > top; "
    )


def _tops(table: Table) -> list[str]:
    """Set the table's top rid: the highest rid already given a native id (a first
    install also counts the ids its feed and versions still name)."""
    entity, name = literal(table.entity), quote(table.name)
    named = " ".join(
        f"IFNULL((SELECT max(CAST(native_id AS INTEGER)) FROM {t} WHERE entity = {entity}), 0),"
        for t in (CHANGES, VERSIONS)
    )
    highest = f"(SELECT max(t.{table.id_column}) FROM {name} AS t)"
    used = (
        f"IFNULL((SELECT seq FROM sqlite_sequence WHERE name = {literal(table.name)}), 0),"
        f" CASE typeof({highest}) WHEN 'integer' THEN {highest} ELSE 0 END"
    )
    return [
        f"INSERT INTO {TOPS} (entity, top) SELECT {entity}, max({named} 0)"
        f" WHERE NOT EXISTS (SELECT 1 FROM {TOPS} WHERE entity = {entity})",
        f"UPDATE {TOPS} SET top = max(top, {used}) WHERE entity = {entity}",
    ]


def inspect_all(db: sqlite3.Connection, specs: Sequence[EntitySpec], side: str) -> dict[str, Table]:
    """A ``Table`` per spec, or ``SchemaError`` listing every problem of every spec."""
    tables: dict[str, Table] = {}
    problems: list[str] = []
    for spec in specs:
        found = inspect(db, spec)
        if isinstance(found, list):
            problems += [f"side {side!r}: {problem}" for problem in found]
            continue
        twin = next((t for t in tables.values() if t.name == found.name), None)
        if twin is not None:
            problems.append(
                f"side {side!r}: entities {twin.entity!r} and {spec.entity!r}"
                f" are the same table {found.name!r}"
            )
        tables[spec.entity] = found
    if problems:
        raise SchemaError("\n".join(problems))
    return tables


def inspect(db: sqlite3.Connection, spec: EntitySpec) -> Table | list[str]:
    """The ``Table`` for ``spec``, or the problems found (missing table, fields, bad filter)."""
    found = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
        (spec.entity,),
    ).fetchall()
    where = f"entity {spec.entity!r}"
    if spec.entity.lower().startswith(("_replicator_", "sqlite_")):
        owner = "SQLite's" if spec.entity.lower().startswith("sqlite_") else "the replicator's"
        return [f"{where}: {owner} own table cannot be mapped"]
    if not found:
        return [f"{where}: no table named {spec.entity!r}"]
    name = str(next(iter(found))[0])
    info = list(db.execute(f"SELECT * FROM pragma_table_xinfo({literal(name)})").fetchall())
    known = {str(r[1]).lower() for r in info}
    wanted = list(dict.fromkeys([*spec.fields, *spec.key_fields]))
    problems = [f"{where}: no column {f!r}" for f in wanted if f.lower() not in known]
    if not spec.fields:
        problems.append(f"{where}: maps no field")
    problems += _check_filter(db, name, spec.filter, where)
    id_column = _id_column(db, name, info)
    if id_column is None:
        problems.append(f"{where}: a WITHOUT ROWID table needs a single-column primary key")
    if problems or id_column is None:
        return problems
    return Table(spec.entity, name, id_column[0], id_column[1], tuple(wanted), spec.filter)


def _check_filter(db: sqlite3.Connection, name: str, text: str | None, where: str) -> list[str]:
    """A filter is one SQL expression: it is pasted into WHERE clauses as ``(filter)``."""
    if not text:
        return []
    problem = _not_one_expression(text)
    if problem:
        return [f"{where}: filter {text!r} is not one SQL expression: {problem}"]
    try:
        db.execute(f"SELECT 1 FROM {quote(name)} WHERE ({text}) LIMIT 0").fetchall()
    except sqlite3.Error as exc:
        return [f"{where}: filter {text!r} does not compile: {exc}"]
    return []


def _not_one_expression(text: str) -> str | None:
    """Why ``text`` could escape its parentheses (a comment, a ``;``, an unbalanced
    parenthesis or quote), or None. Quoted strings and identifiers are skipped."""
    depth, closing = 0, ""
    for i, char in enumerate(text):
        if closing:
            closing = "" if char == closing else closing
        elif char in "'\"`[":
            closing = "]" if char == "[" else char
        elif text.startswith(("--", "/*"), i):
            return "it holds a comment"
        elif char == ";":
            return "it holds a ';'"
        elif char in "()":
            depth += 1 if char == "(" else -1
            if depth < 0:
                return "a ')' closes a parenthesis it did not open"
    if closing:
        return f"a {closing!r} quote is not closed"
    return "a '(' is not closed" if depth else None


def _id_column(db: sqlite3.Connection, name: str, info: Sequence[Any]) -> tuple[str, bool] | None:
    """(id expression, integer ids?): the single primary-key column, else the rowid."""
    keys = [r for r in info if int(r[5]) > 0]
    if len(keys) == 1:
        return quote(str(keys[0][1])), "INT" in str(keys[0][2]).upper()
    try:
        db.execute(f"SELECT rowid FROM {quote(name)} LIMIT 0").fetchall()
    except sqlite3.Error:
        return None
    return "rowid", True


# -- reading rows -------------------------------------------------------------------


def changes_with_values(
    db: sqlite3.Connection, tables: dict[str, Table], records: list[sqlite3.Row]
) -> list[Change]:
    """Change rows as ``Change``s with each upserted row's values now: one query per entity.

    An update that carries a token (the echo of the replicator's own write) comes without
    values: the core drops it by its token, and reads the row in the rare case it needs
    it. An insert's echo keeps them (recovery tells the new row by its key)."""
    valued = [
        op not in ("delete", "reset") and entity in tables and not (op == "update" and token)
        for _, entity, _, op, token in records
    ]
    wanted: dict[str, set[str]] = {}
    for record, with_values in zip(records, valued, strict=True):
        if with_values:
            wanted.setdefault(record[1], set()).add(record[2])
    rows: dict[tuple[str, str], Row] = {}
    for entity, ids in wanted.items():
        found = rows_by_ids(db, tables[entity], ids)
        rows.update(((entity, nid), row) for nid, row in found.items())
    return [
        _change(r, rows.get((r[1], r[2])) if with_values else None)
        for r, with_values in zip(records, valued, strict=True)
    ]


def _change(record: sqlite3.Row, row: Row | None) -> Change:
    _, entity, native_id, op, token = record
    if op == "delete":
        return Change(entity, native_id, "delete", token)
    if op == "reset":
        return Change(entity, native_id, "reset", token)
    if row is None or row.error is not None:  # gone, filtered out or unreadable: the
        return Change(entity, native_id, "upsert", token)  # core reads it (and sees why)
    return Change(entity, native_id, "upsert", token, dict(row.values), row.version, row.changed_at)


def rows_by_ids(db: sqlite3.Connection, table: Table, native_ids: Iterable[str]) -> dict[str, Row]:
    """Rows (filtered) by native id, one query per chunk of ids (and one per id that names
    a TEXT id that is not UTF-8, see ``undecodable_id``)."""
    wanted = set(native_ids)
    rids = list(dict.fromkeys(table.native(n) for n in wanted))
    found: dict[str, Row] = {}
    for chunk in _chunks(rids, _CHUNK):
        for row in _fetch_by_ids(db, table, chunk):
            if row.native_id in wanted:  # not a later row given the same rid
                found[row.native_id] = row
    for native_id in wanted - found.keys():
        found.update((r.native_id, r) for r in _odd_id_rows(db, table, native_id))
    return found


def _odd_id_rows(db: sqlite3.Connection, table: Table, native_id: str) -> list[Row]:
    """The rows (unreadable) an odd native id names: ``''``, rows whose primary key is
    NULL; an ``undecodable_id``, the row whose TEXT id holds those bytes."""
    if native_id == "":
        return fetch_rows(db, table, table.select(f"t.{table.id_column} IS NULL"), [])[:1]
    raw = _undecodable_bytes(native_id)
    if raw is None:
        return []
    by_bytes = table.select(f"CAST(t.{table.id_column} AS BLOB) = ?")
    return fetch_rows(db, table, by_bytes, [raw])


def _fetch_by_ids(db: sqlite3.Connection, table: Table, rids: list[Value]) -> list[Row]:
    """Rows (filtered) by rid; if the filter fails on some row (``json_extract`` on text
    that is not JSON), each row is judged alone (see ``_judged``)."""
    try:
        return fetch_rows(db, table, table.by_ids(len(rids)), rids)
    except sqlite3.OperationalError:
        if not table.filter:
            raise
    rows = fetch_rows(db, table, table.by_ids(len(rids), filtered=False), rids)
    return [r for r in (_judged(db, table, row) for row in rows) if r is not None]


def _judged(db: sqlite3.Connection, table: Table, row: Row) -> Row | None:
    """``row`` if it passes the filter, None if not; unreadable if the filter fails on it
    (one row's data must not stop the side's feed or its initial sync)."""
    if row.error is not None:
        return row
    try:
        found = fetch_rows(db, table, table.by_ids(1), [table.native(row.native_id)])
    except sqlite3.OperationalError as exc:
        why = f"the filter {table.filter!r} fails on it: {exc}"
        return Row(row.native_id, row.version, row.values, row.changed_at, error=why)
    return next((r for r in found if r.native_id == row.native_id), None)


def rows_by_keys(
    db: sqlite3.Connection,
    table: Table,
    key_fields: Sequence[str],
    keys: Sequence[tuple[Value, ...]],
    filtered: bool,
) -> dict[tuple[Value, ...], Row]:
    """Rows by integration key, keyed as asked (``1`` and ``'1'`` match, as in SQLite);
    only those passing the filter if ``filtered`` (writes ignore the filter)."""
    asked = {_loose(k): k for k in keys}
    found: dict[tuple[Value, ...], Row] = {}
    for chunk in _chunks(list(asked.values()), max(1, _CHUNK // max(1, len(key_fields)))):
        statement = table.by_keys(key_fields, len(chunk), filtered=filtered)
        for row in fetch_rows(db, table, statement, [v for key in chunk for v in key]):
            stored = tuple(row.values.get(f) for f in key_fields)
            found.setdefault(asked.get(_loose(stored), stored), row)
    return found


def row_by_id(db: sqlite3.Connection, table: Table, native_id: str | None) -> Row | None:
    """The row as it is, filter or not (writes ignore filters)."""
    if native_id is None:
        return None
    found = fetch_rows(db, table, table.by_id(), [table.native(native_id)])
    return next((r for r in found if r.native_id == native_id), None)


def scan_rows(db: sqlite3.Connection, table: Table, page: str | None, limit: int) -> ScanPage:
    """The next rows (filtered) after the native id ``page`` (the token: the last id the
    previous page scanned). If the filter fails on some row, the page is scanned
    unfiltered and each row judged alone (``_judged``): the page may then be empty."""
    try:
        rows = _scan(db, table, page, limit, filtered=True)
    except sqlite3.OperationalError:
        if not table.filter:
            raise
        rows = _scan(db, table, page, limit, filtered=False)
        kept = [r for r in (_judged(db, table, row) for row in rows) if r is not None]
        return ScanPage(rows=kept, next=rows[-1].native_id if len(rows) == limit else None)
    return ScanPage(rows=rows, next=rows[-1].native_id if len(rows) == limit else None)


def _scan(
    db: sqlite3.Connection, table: Table, after: str | None, limit: int, *, filtered: bool
) -> list[Row]:
    if after is None:
        return fetch_rows(db, table, table.scan(False, filtered=filtered), [limit])
    raw = _undecodable_bytes(after)
    if raw is not None:
        statement = table.scan(True, after_bytes=True, filtered=filtered)
        return fetch_rows(db, table, statement, [raw, limit])
    statement = table.scan(True, filtered=filtered)
    return fetch_rows(db, table, statement, [table.native(after), limit])


def present_values(
    db: sqlite3.Connection, table: Table, field: str, values: list[Value]
) -> set[Value]:
    """Which of ``values`` some row (filtered) holds in ``field``."""
    found: set[Value] = set()
    for chunk in _chunks(values, _CHUNK):
        where = f"t.{quote(field)} IN ({', '.join('?' * len(chunk))})"
        if table.filter:
            where = f"({where}) AND ({table.filter})"
        statement = f"SELECT DISTINCT t.{quote(field)} FROM {quote(table.name)} AS t WHERE {where}"
        found |= {r[0] for r in db.execute(statement, chunk)}
    return found


def identity(db: sqlite3.Connection, table: Table, rid: Value) -> tuple[str, str]:
    """(native id, version) of the row with ``rid``."""
    nid, seq = db.execute(_IDENTITY, (table.entity, rid)).fetchone()
    return str(nid), str(seq)


def head(db: sqlite3.Connection) -> int:
    """The seq of the newest change ever recorded (0 if none)."""
    found = db.execute(_HEAD).fetchall()
    return int(next(iter(found))[0]) if found else 0


def data_version(db: sqlite3.Connection) -> int:
    """Changes when another connection commits (not for this connection's own commits)."""
    found = db.execute("PRAGMA data_version").fetchall()
    return int(next(iter(found))[0])


def fetch_rows(
    db: sqlite3.Connection, table: Table, statement: str, params: Sequence[Value]
) -> list[Row]:
    """The rows a ``Table.select`` statement reads. A text value that is not valid UTF-8
    fails the whole fetch in the driver: the statement is then read again with such
    values kept as bytes, and their rows come back unreadable (``Row.error``)."""
    try:
        return [decode_row(table, r) for r in db.execute(statement, params).fetchall()]
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc).lower():
            raise
    db.text_factory = _text_or_bytes
    try:
        return [decode_row(table, r) for r in db.execute(statement, params).fetchall()]
    finally:
        db.text_factory = str


class _Undecodable(bytes):
    """A TEXT value that is not valid UTF-8 (read with ``_text_or_bytes``)."""


def _text_or_bytes(raw: bytes) -> str | bytes:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable(raw)


def decode_row(table: Table, r: sqlite3.Row) -> Row:
    """A ``Row`` from ``(native id, version seq, changed_at, *columns)``; one holding text
    that is not UTF-8 is unreadable: ``error`` names the columns, ``values`` the rest."""
    values = dict(zip(table.columns, r[3:], strict=True))
    bad = [c for c, v in values.items() if isinstance(v, _Undecodable)]
    native_id = undecodable_id(r[0]) if isinstance(r[0], _Undecodable) else str(r[0] or "")
    if not bad and native_id == str(r[0]):
        return Row(native_id, str(r[1]), values, r[2])
    errors = [f"column {c!r} holds text that is not UTF-8 ({values[c]!r})" for c in bad]
    if isinstance(r[0], _Undecodable):
        errors.insert(0, f"its id is text that is not UTF-8 ({bytes(r[0])!r})")
    elif r[0] is None:
        errors.insert(0, f"its primary key {table.id_column} is NULL (a row needs an id)")
    readable = {c: v for c, v in values.items() if c not in bad}
    return Row(native_id, str(r[1]), readable, r[2], error="; ".join(errors))


def undecodable_id(raw: bytes) -> str:
    """The native id of a row whose TEXT id is not UTF-8: its bytes as ``x'ff44fe'``."""
    return f"x'{raw.hex()}'"


def _undecodable_bytes(native_id: str) -> bytes | None:
    """The bytes an ``undecodable_id`` names (None for any other native id)."""
    if not (native_id.startswith("x'") and native_id.endswith("'")):
        return None
    try:
        raw = bytes.fromhex(native_id[2:-1])
    except ValueError:
        return None
    return None if isinstance(_text_or_bytes(raw), str) else raw


def read_records(db: sqlite3.Connection, start: int, head: int, limit: int) -> list[Any]:
    """The feed's records after ``start`` up to ``head``: ``(seq, entity, native id, op,
    token)``; a TEXT id that is not UTF-8 comes as its ``undecodable_id``."""
    try:
        return list(db.execute(READ_CHANGES, (start, head, limit)).fetchall())
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc).lower():
            raise
    db.text_factory = _text_or_bytes
    try:
        records = db.execute(READ_CHANGES, (start, head, limit)).fetchall()
    finally:
        db.text_factory = str
    return [
        (seq, entity, undecodable_id(nid) if isinstance(nid, _Undecodable) else nid, op, token)
        for seq, entity, nid, op, token in records
    ]


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _loose(key: tuple[Value, ...]) -> tuple[str | None, ...]:
    return tuple(None if v is None else str(v) for v in key)


def schema_version(db: sqlite3.Connection) -> int:
    """``PRAGMA schema_version``: it moves whenever any table or trigger changes."""
    found = db.execute("PRAGMA schema_version").fetchall()
    return int(next(iter(found))[0])


def has_triggers(db: sqlite3.Connection, table: Table) -> bool:
    """Whether the table exists with all three of our triggers."""
    found = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
        "AND name LIKE '\\_replicator\\_%' ESCAPE '\\'",
        (table.name,),
    ).fetchall()
    return int(next(iter(found))[0]) == len(_OPS)


RESET = f"INSERT INTO {CHANGES} (entity, native_id, op, token) VALUES (?, '', 'reset', NULL)"
FORGET_ROWIDS = f"DELETE FROM {ROWIDS} WHERE entity = ?"
"""After a reset: the old rows' kept native ids name nothing now (a new row with such a rid
is not the old row); the top stays, so rids the old table gave are not handed out again."""
"""Record that an entity's table lost its rows (re-created): the core re-syncs its map."""
CAPTURE = f"INSERT OR REPLACE INTO {CAPTURED} (entity, tbl) VALUES (?, ?)"
_CAPTURED_BEFORE = f"SELECT 1 FROM {CAPTURED} WHERE entity = ?"


def captured_before(db: sqlite3.Connection, table: Table) -> bool:
    """Whether our triggers were installed on the entity's table once (they may be gone)."""
    return bool(db.execute(_CAPTURED_BEFORE, (table.entity,)).fetchall())


_OURS = "name LIKE '\\_replicator\\_%' ESCAPE '\\'"
_OUR_TRIGGERS = f"SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND {_OURS}"
_OUR_TABLES = f"SELECT name FROM sqlite_master WHERE type = 'table' AND {_OURS} ORDER BY name"


def triggered_tables(db: sqlite3.Connection) -> set[str]:
    """The tables that carry one of our triggers."""
    return {str(r[1]) for r in db.execute(_OUR_TRIGGERS).fetchall()}


def uninstall(db: sqlite3.Connection, entities: Sequence[str] | None) -> list[str]:
    """Drop our triggers on the tables of ``entities`` and forget them; with None, every
    trigger and table of ours. What was dropped, one line each (user tables untouched)."""
    wanted = None if entities is None else {e.lower() for e in entities}
    removed = []
    for name, table in sorted(db.execute(_OUR_TRIGGERS).fetchall()):
        if wanted is None or str(table).lower() in wanted:
            db.execute(f"DROP TRIGGER {quote(name)}")
            removed.append(f"trigger {name} on table {table}")
    ours = [str(r[0]) for r in db.execute(_OUR_TABLES).fetchall()]
    if wanted is None:
        for name in ours:
            db.execute(f"DROP TABLE {quote(name)}")
            removed.append(f"table {name}")
    elif CAPTURED in ours:
        for entity in wanted:
            for kept in (VERSIONS, ROWIDS, TOPS):  # per-row bookkeeping of the table
                if kept not in ours:
                    continue
                db.execute(
                    f"DELETE FROM {kept} WHERE entity IN (SELECT entity FROM {CAPTURED}"
                    " WHERE lower(tbl) = ? OR lower(entity) = ?)",
                    (entity, entity),
                )
            db.execute(
                f"DELETE FROM {CAPTURED} WHERE lower(tbl) = ? OR lower(entity) = ?",
                (entity, entity),
            )
    return removed


def key_indexed(db: sqlite3.Connection, table: str, key_fields: Sequence[str]) -> bool:
    """Whether an index (or the primary key) starts with the key's columns, in any order.

    An ``INTEGER PRIMARY KEY`` is the rowid itself, the table's own b-tree key, which
    ``index_list`` does not show.
    """
    wanted = {f.lower() for f in key_fields}
    primary = [c for c in db.execute(f"PRAGMA table_info({quote(table)})") if c[5]]
    if [(str(c[1]).lower(), str(c[2]).upper()) for c in primary] == [(*wanted, "INTEGER")]:
        return True
    for index in db.execute(f"PRAGMA index_list({quote(table)})").fetchall():
        columns = db.execute(f"PRAGMA index_info({quote(index[1])})").fetchall()
        leading = [str(c[2]).lower() for c in sorted(columns, key=lambda c: c[0])]
        if set(leading[: len(wanted)]) == wanted:
            return True
    return False

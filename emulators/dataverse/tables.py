"""The emulator's rows, in memory: one ``TableStore`` per table, reached through ``Tables``.

A row is the JSON object the Web API reads (lookups as ``_x_value``, no annotations), kept with
every column. ``versionnumber`` comes from one organisation-wide counter and is the row's etag.
Each table has a dict by primary id, a dict per alternate key (so key look-ups never scan) and
an append-only change log ``(version, id, deleted)`` that change tracking reads.

``atomic()`` is a change set's transaction: every write inside it is undone when the block
raises. It does not isolate: a write from another request between two parts of a change set
is not undone with it, and may be overwritten by the undo (the emulator serves tests, and the
real service's change sets hold locks we do not model).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

from emulators.dataverse import errors, values
from emulators.dataverse.schema import AlternateKey, Table
from emulators.dataverse.tableinfo import LOOKUP_TYPES, TableInfo, wire_name

Row = dict[str, Any]
FIRST_VERSION = 1_000_000  # real versionnumbers are large; start somewhere that looks like it


class Change(NamedTuple):
    version: int
    guid: str
    deleted: bool


def key_value(value: Any) -> Any:
    """Alternate-key values compare like the service's SQL collation: strings case-insensitive."""
    return value.casefold() if isinstance(value, str) else value


class TableStore:
    """One table's rows, alternate-key indexes and change log."""

    def __init__(self, info: TableInfo) -> None:
        self.info = info
        self.rows: dict[str, Row] = {}
        self.indexes: dict[str, dict[tuple[Any, ...], str]] = {
            k.logical_name: {} for k in info.table.keys
        }
        self.log: list[Change] = []
        self.expired_before = 0  # delta tokens below this version answer 0x80044352
        self.lookup_targets: dict[str, dict[str, str]] = {}  # id -> wire name -> target table

    def key_wires(self, key: AlternateKey) -> tuple[str, ...]:
        return tuple(wire_name(self.info.columns[name]) for name in key.columns)

    def key_of(self, key: AlternateKey, row: Mapping[str, Any]) -> tuple[Any, ...] | None:
        found = tuple(key_value(row.get(wire)) for wire in self.key_wires(key))
        return None if any(part is None for part in found) else found

    def find(self, key: AlternateKey, row: Mapping[str, Any]) -> Row | None:
        found = self.key_of(key, row)
        guid = self.indexes[key.logical_name].get(found) if found is not None else None
        return self.rows.get(guid) if guid else None

    def _unindex(self, row: Row) -> None:
        for key in self.info.table.keys:
            if (found := self.key_of(key, row)) is not None:
                self.indexes[key.logical_name].pop(found, None)

    def _index(self, guid: str, row: Row) -> None:
        for key in self.info.table.keys:
            if (found := self.key_of(key, row)) is not None:
                self.indexes[key.logical_name][found] = guid

    def check_unique(self, guid: str, row: Row) -> None:
        for key in self.info.table.keys:
            found = self.key_of(key, row)
            other = self.indexes[key.logical_name].get(found) if found is not None else None
            if other is not None and other != guid:
                raise errors.duplicate_key(key.logical_name, key.columns)

    def put(self, guid: str, row: Row | None) -> None:
        """Replace (or remove, for None) a row, keeping the indexes right."""
        if (old := self.rows.pop(guid, None)) is not None:
            self._unindex(old)
        if row is not None:
            self.rows[guid] = row
            self._index(guid, row)


class Tables:
    """Every table's store, the organisation's version counter and the change-set undo log."""

    def __init__(self, tables: Sequence[Table], *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.version = FIRST_VERSION
        self._stores: dict[str, TableStore] = {}
        for table in tables:
            store = TableStore(TableInfo(table))
            self._stores[table.logical_name] = self._stores[table.entity_set] = store
        self._undo: list[list[tuple[TableStore, str, Row | None]]] = []

    def store(self, name: str) -> TableStore:
        """The store of a table by entity set or logical name; KeyError if there is none."""
        return self._stores[name]

    def has(self, name: str) -> bool:
        return name in self._stores

    def infos(self) -> list[TableInfo]:
        return list({id(s): s.info for s in self._stores.values()}.values())

    def get(self, name: str, guid: str) -> Row | None:
        """A copy of the row with that primary id, or None."""
        row = self._stores[name].rows.get(str(guid).lower())
        return dict(row) if row is not None else None

    def rows(self, name: str) -> list[Row]:
        """Copies of every row of a table."""
        return [dict(row) for row in self._stores[name].rows.values()]

    def find(self, name: str, key: Mapping[str, Any]) -> Row | None:
        """A copy of the row whose alternate-key columns (logical or wire names) have
        these values."""
        store = self._stores[name]
        alternate = store.info.key_for(list(key))
        if alternate is None:
            raise KeyError(f"{name} has no alternate key of {sorted(key)}")
        by_wire: Row = {}
        for given, value in key.items():
            column = store.info.by_wire.get(given) or store.info.columns[given]
            by_wire[wire_name(column)] = value
        row = store.find(alternate, by_wire)
        return dict(row) if row is not None else None

    def _now(self) -> str:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _next_version(self) -> int:
        self.version += 1
        return self.version

    def _checked(self, store: TableStore, changes: Mapping[str, Any]) -> Row:
        checked: Row = {}
        for name, value in changes.items():
            column = store.info.by_wire.get(name)
            if column is None:
                raise errors.undeclared_property(
                    store.info.entity_set, store.info.logical_name, name
                )
            if column.type in LOOKUP_TYPES:
                checked[name] = str(uuid.UUID(str(value))) if value is not None else None
            else:
                checked[name] = values.check(store.info, column, value)
        return checked

    def _record(self, store: TableStore, guid: str) -> None:
        if self._undo:
            old = store.rows.get(guid)
            self._undo[-1].append((store, guid, old))

    def create(
        self,
        name: str,
        changes: Mapping[str, Any],
        *,
        user: str | None = None,
        guid: str | None = None,
        targets: Mapping[str, str] | None = None,
    ) -> Row:
        """Insert a row (``changes`` by wire name) and return a copy of it."""
        store = self._stores[name]
        guid = str(uuid.UUID(guid)) if guid else str(uuid.uuid4())
        if guid in store.rows:
            raise errors.ApiError(412, errors.DUPLICATE_RECORD, "Cannot insert duplicate key.")
        row: Row = {wire_name(column): None for column in store.info.columns.values()}
        row.update({"statecode": 0, "statuscode": 1, "_createdby_value": user})
        row.update(self._checked(store, changes))
        row[store.info.primary_id] = guid
        row["createdon"] = row["modifiedon"] = self._now()
        row["_modifiedby_value"] = user
        return self._write(store, guid, row, targets)

    def update(
        self,
        name: str,
        guid: str,
        changes: Mapping[str, Any],
        *,
        user: str | None = None,
        targets: Mapping[str, str] | None = None,
    ) -> Row:
        """Change some columns of an existing row (KeyError if absent); a copy of the result."""
        store = self._stores[name]
        guid = str(guid).lower()
        row = dict(store.rows[guid])
        row.update(self._checked(store, changes))
        row["modifiedon"] = self._now()
        row["_modifiedby_value"] = user
        return self._write(store, guid, row, targets)

    def _write(
        self, store: TableStore, guid: str, row: Row, targets: Mapping[str, str] | None
    ) -> Row:
        store.check_unique(guid, row)
        self._record(store, guid)
        row["versionnumber"] = self._next_version()
        store.put(guid, row)
        if targets:
            store.lookup_targets.setdefault(guid, {}).update(targets)
        store.log.append(Change(row["versionnumber"], guid, False))
        return dict(row)

    def delete(self, name: str, guid: str) -> None:
        """Remove a row (KeyError if absent). Lookups that point at it are left as they are."""
        store = self._stores[name]
        guid = str(guid).lower()
        if guid not in store.rows:
            raise KeyError(guid)
        self._record(store, guid)
        store.put(guid, None)
        store.log.append(Change(self._next_version(), guid, True))

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """Undo every write made inside the block when it raises (then re-raise)."""
        self._undo.append([])
        try:
            yield
        except BaseException:
            for store, guid, old in reversed(self._undo.pop()):
                store.put(guid, old)
            raise
        done = self._undo.pop()
        if self._undo:
            self._undo[-1].extend(done)

    def expire_change_tracking(self, name: str) -> None:
        """Every delta token issued so far for this table answers 0x80044352."""
        self._stores[name].expired_before = self._next_version()  # later tokens carry it

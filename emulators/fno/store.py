"""The rows of the emulated environment: per entity, by key, with a RecId and a version.

Keys compare case-insensitively, as F&O's SQL collation does (``us-001`` is ``US-001``); a row
keeps the spelling it was written with. Every write bumps the row's version, and its etag is
an opaque ``W/"..."`` of RecId and version. ``atomic()`` makes a change set all-or-nothing.
Committed changes queue up in ``drain()``'s list, for the data-event emitter: a change made
inside ``atomic()`` is committed only when the block ends without an error.

The handlers never suspend between reading and writing, so single writes need no lock;
change sets are serialised by ``atomic()``'s own lock.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec

from emulators.fno.definitions import EntityDef

Key = tuple[Any, ...]


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One row: its values (every field), RecId and version."""

    values: dict[str, Any]
    recid: int
    version: int

    @property
    def etag(self) -> str:
        opaque = base64.b64encode(f"1,{self.recid};{self.version}".encode()).decode()
        return f'W/"{opaque}"'


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """A committed write: which entity, ``Create``/``Update``/``Delete``, the row's key, and
    who made it (the Entra object id of the caller's app; "" for seeding)."""

    entity_set: str
    op: str
    key: dict[str, Any]
    user: str = ""


class Duplicate(Exception):
    """A row with that key exists already."""


def key_of(entity: EntityDef, values: dict[str, Any]) -> Key:
    """The row's key as the store compares it (strings case-folded)."""
    return tuple(
        values[name].casefold() if isinstance(values[name], str) else values[name]
        for name in entity.keys
    )


class Store:
    """Every entity's rows."""

    def __init__(self, entities: list[EntityDef]) -> None:
        self._tables: dict[str, dict[Key, Row]] = {e.entity_set: {} for e in entities}
        self._entities = {e.entity_set: e for e in entities}
        self._recid = 5637144576  # where F&O's RecIds commonly start
        self._committed: list[Change] = []
        self._pending: list[Change] | None = None
        self._lock = anyio.Lock()

    def add_entity(self, entity: EntityDef) -> None:
        self._tables.setdefault(entity.entity_set, {})
        self._entities[entity.entity_set] = entity

    def get(self, entity: EntityDef, key: Key) -> Row | None:
        return self._tables[entity.entity_set].get(key)

    def rows(self, entity: EntityDef) -> list[Row]:
        """The rows in key order (F&O's order without ``$orderby``)."""
        table = self._tables[entity.entity_set]
        return [table[key] for key in sorted(table, key=_sortable)]

    def insert(self, entity: EntityDef, values: dict[str, Any], *, user: str = "") -> Row:
        table = self._tables[entity.entity_set]
        key = key_of(entity, values)
        if key in table:
            raise Duplicate(key)
        self._recid += 1
        row = Row(values=dict(values), recid=self._recid, version=1)
        table[key] = row
        self._note(entity, "Create", values, user)
        return row

    def update(self, entity: EntityDef, row: Row, values: dict[str, Any], *, user: str = "") -> Row:
        table = self._tables[entity.entity_set]
        new = Row(values={**row.values, **values}, recid=row.recid, version=row.version + 1)
        table[key_of(entity, row.values)] = new
        self._note(entity, "Update", new.values, user)
        return new

    def delete(self, entity: EntityDef, row: Row, *, user: str = "") -> None:
        del self._tables[entity.entity_set][key_of(entity, row.values)]
        self._note(entity, "Delete", row.values, user)

    def _note(self, entity: EntityDef, op: str, values: dict[str, Any], user: str) -> None:
        key = {name: values[name] for name in entity.keys}
        change = Change(entity_set=entity.entity_set, op=op, key=key, user=user)
        (self._pending if self._pending is not None else self._committed).append(change)

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """All writes inside the block, or none when it raises."""
        async with self._lock:
            saved = {name: dict(table) for name, table in self._tables.items()}
            self._pending = []
            try:
                yield
            except BaseException:
                self._tables = saved
                raise
            else:
                self._committed.extend(self._pending)
            finally:
                self._pending = None

    def drain(self) -> list[Change]:
        """The changes committed since the last call, in commit order."""
        changes, self._committed = self._committed, []
        return changes


def _sortable(key: Key) -> tuple[tuple[int, Any], ...]:
    return tuple((0, v) if isinstance(v, str) else (1, v) for v in key)

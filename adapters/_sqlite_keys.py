"""The SQLite side's key check for a batch of inserts, in one query instead of one per row.

An insert with ``key_fields`` answers ``conflict`` when a row holds its key. Looking
each key up alone costs about as much as the insert itself, so ``KnownKeys`` looks up
the keys of every insert of a batch in one query per entity, inside the batch's
transaction, before its first write. An answer holds only while nothing the batch did
may have changed it: after an update or a delete of the entity (a key may have moved)
the entity's inserts ask the database again, and an insert applied by the batch takes
its key (a later insert of it in the same batch conflicts, as row by row).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from replicator.adapter import Row, Value, WriteOp, WriteResult

from . import _sqlite_schema as sql

Group = tuple[str, tuple[str, ...]]
"""An entity and the key fields its inserts are checked on."""


class KnownKeys:
    """Which keys of a batch's inserts some row holds; see the module docstring."""

    def __init__(
        self, db: sqlite3.Connection, tables: Mapping[str, sql.Table], ops: Sequence[WriteOp]
    ) -> None:
        wanted: dict[Group, list[tuple[Value, ...]]] = {}
        for op in ops:
            if op.op == "insert" and op.key_fields and op.entity in tables:
                wanted.setdefault((op.entity, op.key_fields), []).append(_key(op, op.key_fields))
        self.found: dict[Group, dict[tuple[str | None, ...], Row]] = {}
        for (entity, fields), keys in wanted.items():
            if len(keys) > 1:
                rows = sql.rows_by_keys(db, tables[entity], fields, keys, False)
                self.found[(entity, fields)] = {_loose(k): row for k, row in rows.items()}
        self.stale: set[str] = set()
        self.taken: set[tuple[Group, tuple[str | None, ...]]] = set()

    def holder(self, op: WriteOp) -> tuple[bool, Row | None]:
        """``(True, the row holding op's key or None)`` if known, else ``(False, None)``:
        the caller asks the database."""
        group = (op.entity, op.key_fields)
        found = self.found.get(group)
        if found is None or op.entity in self.stale:
            return False, None
        key = _loose(_key(op, op.key_fields))
        if None in key or (group, key) in self.taken:
            return False, None
        return True, found.get(key)

    def wrote(self, op: WriteOp, result: WriteResult) -> None:
        """Take note of a write of the batch that is done."""
        if result.status != "applied":
            return
        if op.op != "insert":
            self.stale.add(op.entity)
            return
        for group in self.found:
            if group[0] == op.entity:
                key = _loose(_key(op, group[1]))
                if None in key:  # a column's default gives it: unknown here
                    self.stale.add(op.entity)
                self.taken.add((group, key))


def _key(op: WriteOp, fields: Sequence[str]) -> tuple[Value, ...]:
    return tuple(op.values.get(f) for f in fields)


def _loose(key: tuple[Value, ...]) -> tuple[str | None, ...]:
    """As ``rows_by_keys`` matches keys: ``1`` and ``'1'`` are one key."""
    return tuple(None if v is None else str(v) for v in key)

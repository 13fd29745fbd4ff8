"""Lookups by native id: a side whose lookup columns hold GUIDs, seen by the core as keys.

On Dataverse a lookup column holds the referenced row's GUID. The core's maps, shadows
and merges speak of the referenced record's key (``msdyn_customergroupid = "30"``) on
every side, so that both sides of a link compare. The translation happens here, once,
through the links the core already keeps: the referenced record's link holds its row's
native id on that side. It costs no request to the side, and one state-store query per
referenced map per side call.

``NativeLookups`` wraps such a side (``Side.lookups_hold_native_ids``) and translates
every map lookup column (``lookup = "<map>"``):

* rows read (``get``, ``find``, ``scan``, conflicts' current rows): native id -> the
  referenced record's last key field, in the side's terms; a native id no link holds
  yet becomes ``Unresolved`` and the record parks on that row (``lookups``). A change
  from the feed whose lookups cannot all be resolved loses its values, so that its
  record reads the row again when it runs;
* writes: the referenced record's key, completed from the record's own key
  (``WriteOp.record_key``), -> the native id its link holds on this side. A referenced
  record with no row on this side fails that one write (``permanent``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from . import mapping
from .adapter import Change, ChangeBatch, Row, Side, Value, Values, WriteOp, WriteResult
from .config import Config, FieldMap, TableMap
from .lookups import Unresolved, referenced_key
from .store import Store

Column = tuple[FieldMap, TableMap, TableMap]
"""A lookup column: its field, its map, and the map it refers to."""


def lookup_columns(config: Config, side: int) -> dict[str, dict[str, Column]]:
    """Per entity of ``side``, its map lookup columns by column name."""
    maps = {m.name: m for m in config.maps}
    out: dict[str, dict[str, Column]] = {}
    for m in config.maps:
        for f in m.all_fields:
            if f.lookup is not None:
                out.setdefault(m.entities[side], {})[f.names[side]] = (f, m, maps[f.lookup])
    return out


def wrap(side: Side, index: int, config: Config, store: Store) -> Side:
    """``side`` itself, or wrapped if its lookup columns hold native ids and maps use them."""
    if not getattr(side, "lookups_hold_native_ids", False):
        return side
    columns = lookup_columns(config, index)
    return NativeLookups(side, index, columns, store) if columns else side


class NativeLookups:
    """A side whose map lookup columns are translated to keys (see the module docstring)."""

    def __init__(
        self, side: Side, index: int, columns: dict[str, dict[str, Column]], store: Store
    ) -> None:
        self.inner = side
        self.name = side.name
        self.index = index
        self.columns = columns
        self.store = store

    def __getattr__(self, name: str) -> Any:
        """Everything else is the side's own (open, feed, limits, serve, ...)."""
        return getattr(self.inner, name)

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        batch = await self.inner.read_changes(cursor, limit)
        groups: dict[str, list[Row]] = {}
        for c in batch.changes:
            if c.values is not None and c.entity in self.columns:
                row = Row(native_id=c.native_id, version=c.version or "", values=c.values)
                groups.setdefault(c.entity, []).append(row)
        if not groups:
            return batch
        known = {
            (entity, row.native_id): row.values
            for entity, rows in groups.items()
            for row in await self.to_keys(entity, rows)
        }
        return ChangeBatch([self._change(c, known) for c in batch.changes], batch.cursor)

    @staticmethod
    def _change(change: Change, known: dict[tuple[str, str], Values]) -> Change:
        """A change with its lookups translated; without values if one is unresolved
        (its record reads the row again when it runs)."""
        values = known.get((change.entity, change.native_id))
        if values is None:
            return change
        if any(isinstance(v, Unresolved) for v in values.values()):
            return msgspec.structs.replace(change, values=None)
        return msgspec.structs.replace(change, values=values)

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        rows = await self.inner.get(entity, native_ids)
        return {r.native_id: r for r in await self.to_keys(entity, list(rows.values()))}

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        found = await self.inner.find(entity, key_fields, keys)
        rows = await self.to_keys(entity, list(found.values()))
        by_id = {r.native_id: r for r in rows}
        return {k: by_id[r.native_id] for k, r in found.items()}

    async def scan(self, entity: str, page: str | None, limit: int) -> Any:
        got = await self.inner.scan(entity, page, limit)
        if isinstance(got, list):  # a side of the older protocol: a list of rows
            return await self.to_keys(entity, got)
        return msgspec.structs.replace(got, rows=await self.to_keys(entity, got.rows))

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        translated, refused = await self.to_natives(ops)
        todo = [op for i, op in enumerate(translated) if i not in refused]
        done = iter(await self.inner.write(todo) if todo else [])
        results = [refused[i] if i in refused else next(done) for i in range(len(ops))]
        return [await self._result(op.entity, r) for op, r in zip(ops, results, strict=True)]

    async def _result(self, entity: str, result: WriteResult) -> WriteResult:
        if result.current is None or entity not in self.columns:
            return result
        (current,) = await self.to_keys(entity, [result.current])
        return msgspec.structs.replace(result, current=current)

    # -- the translations --------------------------------------------------------------

    async def to_keys(self, entity: str, rows: list[Row]) -> list[Row]:
        """``rows`` with their lookup columns' native ids as the referenced records' keys."""
        columns = self.columns.get(entity)
        if not columns or not rows:
            return rows
        out = [dict(r.values) for r in rows]
        for column, (field, _, ref) in columns.items():
            ids = sorted({str(v[column]) for v in out if v.get(column) not in (None, "")})
            links = await self.store.links_by_native(ref.name, self.index, ids) if ids else {}
            for values in out:
                native_id = values.get(column)
                if native_id in (None, ""):
                    continue
                link = links.get(str(native_id))
                values[column] = (
                    Unresolved(self.index, str(native_id))
                    if link is None
                    else self._last_key_part(field, link.key)
                )
        return [msgspec.structs.replace(r, values=v) for r, v in zip(rows, out, strict=True)]

    def _last_key_part(self, field: FieldMap, key: str) -> Value:
        decoded = mapping.decode_key(key)
        last = decoded[-1] if isinstance(decoded, list) and decoded else key
        return mapping.side_value(field, self.index, last)

    async def to_natives(
        self, ops: Sequence[WriteOp]
    ) -> tuple[list[WriteOp], dict[int, WriteResult]]:
        """``ops`` with referenced keys as native ids; the ops that cannot be, answered."""
        wanted: dict[str, set[str]] = {}
        plans: list[dict[str, tuple[str, str]]] = []
        for op in ops:
            plan = self._references(op)
            plans.append(plan)
            for ref_map, key in plan.values():
                wanted.setdefault(ref_map, set()).add(key)
        links = {
            (ref_map, key): link
            for ref_map, keys in wanted.items()
            for key, link in (await self.store.links_by_key(ref_map, sorted(keys))).items()
        }
        out, refused = list(ops), {}
        for i, (op, plan) in enumerate(zip(ops, plans, strict=True)):
            values = dict(op.values)
            for column, (ref_map, key) in plan.items():
                link = links.get((ref_map, key))
                native_id = None if link is None else link.ids[self.index]
                if native_id is None:
                    refused[i] = WriteResult(
                        "permanent",
                        reason=f"{column}: the referenced record {ref_map}{key} has no row "
                        f"on side {self.name!r}",
                    )
                    break
                values[column] = native_id
            out[i] = msgspec.structs.replace(op, values=values)
        return out, refused

    def _references(self, op: WriteOp) -> dict[str, tuple[str, str]]:
        """Per lookup column the op writes a value to: (referenced map, encoded key)."""
        columns = self.columns.get(op.entity, {})
        used = {c: v for c, v in op.values.items() if c in columns and v not in (None, "")}
        if not used:
            return {}
        out = {}
        for column, value in used.items():
            field, m, ref = columns[column]
            own = self._own_key(m, op.record_key)
            own[field.id] = mapping.to_canonical(field, self.index, value)
            out[column] = (ref.name, mapping.encode_key(referenced_key(m, ref, field, own)))
        return out

    @staticmethod
    def _own_key(m: TableMap, record_key: str | None) -> Values:
        decoded = mapping.decode_key(record_key or "")
        parts = decoded if isinstance(decoded, list) else []
        return {f.id: v for f, v in zip(m.key, parts, strict=False)}

"""The Dataverse side: a Dataverse environment's Web API as one side of the replicator.

DESIGN §9 is the contract. ``transport.py`` speaks HTTP (retries, throttling, the token);
this module maps the protocol onto it:

* ``check``/``prepare`` read the table definitions (``schema.py``): every missing entity,
  column, alternate key, lookup target, untracked table or bad filter in one SchemaError.
* The feed is change tracking (``feed.py``); ``ack`` is a no-op (the links are the cursor).
* ``get``/``find`` read in batches: an OR of ``<primary id> eq <guid>`` (or of the key's
  conditions), chunked under the URL budget, AND-ed with the map's filter. ``scan`` pages
  by primary id (``$orderby``, ``gt``). A row's version is its ``@odata.etag``.
* ``write`` sends one ``$batch`` part per op (``writes.py``), several batches in flight;
  conflicts are answered with the row read back afterwards, in one read per batch.

Native ids are lower-case GUIDs; a lookup field holds the referenced row's GUID
(``lookups_hold_native_ids``), a dotted field its column's value (``lookups.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import structlog

from replicator.adapter import (
    ChangeBatch,
    EntitySpec,
    Row,
    SideLimits,
    Value,
    WriteOp,
    WriteResult,
)
from replicator.errors import PermanentError, SchemaError

from . import writes
from .feed import Feed, PollInterval, Tracked, encode_cursor
from .keys import chunks, condition
from .lookups import Lookups
from .metadata import LOOKUPS
from .options import Options
from .schema import Entity, Field, entity_problem, load, resolve
from .transport import Part, Transport
from .values import BadValue, from_dataverse, to_dataverse

log = structlog.get_logger()


class DataverseSide:
    """One Dataverse environment as a side. See the module docstring."""

    lookups_hold_native_ids = True

    def __init__(
        self, name: str, options: Options, base_dir: Path, *, transport: Transport | None = None
    ) -> None:
        self.name = name
        self.options = options
        self.limits = SideLimits(batch_size=options.batch_size, in_flight=options.max_in_flight)
        self.transport = transport or Transport(name, options, base_dir)
        self.entities: dict[str, Entity] = {}
        self.lookups = Lookups(self._fetch)
        poll = PollInterval(options.poll_interval_ms / 1000, options.max_poll_interval_ms / 1000)
        self.feed = Feed(name, self.transport, self._rows, page_size=options.page_size, poll=poll)
        self.user: str | None = None
        """The application user's systemuserid (the modifier of our own writes)."""

    def __repr__(self) -> str:
        return f"DataverseSide({self.name!r}, {self.options.url!r})"

    # -- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        await self.transport.open()
        self.user = await self.transport.whoami()
        log.info("dataverse_opened", side=self.name, url=self.options.url, user=self.user)

    async def close(self) -> None:
        await self.transport.aclose()

    async def check(self, entities: Sequence[EntitySpec]) -> None:
        await self._resolve(entities)

    async def prepare(self, entities: Sequence[EntitySpec]) -> None:
        for entity in await self._resolve(entities):
            self.entities[entity.name] = entity
            self.feed.tracked[entity.name] = Tracked(
                entity=entity.name,
                primary_id=entity.table.primary_id,
                select=entity.select,
                passes=None if entity.filter is None else self._passes(entity),
            )

    async def _resolve(self, specs: Sequence[EntitySpec]) -> list[Entity]:
        by_set, by_name = await load(self.name, self.transport, specs)
        problems: list[str] = []
        resolved: list[Entity] = []
        for spec in specs:
            table = by_set.get(spec.entity)
            found = (
                [entity_problem(spec.entity)] if table is None else resolve(spec, table, by_name)
            )
            if isinstance(found, Entity):
                resolved.append(found)
            else:
                prefix = "" if table is None else f"entity {spec.entity!r}: "
                problems += [prefix + p for p in found]
        if problems:
            raise SchemaError("\n".join(f"side {self.name!r}: {p}" for p in problems))
        return resolved

    # -- the change feed ------------------------------------------------------------

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        return await self.feed.read(cursor, limit)

    async def head_cursor(self) -> str | None:
        links = await self.feed.head_links()
        return encode_cursor(links) if links else None

    async def ack(self, cursor: str) -> None:
        return None  # the cursor is the delta links: nothing to forget on the server

    async def wait_for_changes(self, max_wait: float) -> None:
        await anyio.sleep(min(self.feed.poll.seconds, max_wait))

    # -- reading rows ---------------------------------------------------------------

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        return await self._by_ids(self._entity(entity), native_ids, filtered=True)

    async def _by_ids(
        self, entity: Entity, native_ids: Sequence[str], *, filtered: bool
    ) -> dict[str, Row]:
        ids = sorted({str(uuid.UUID(n)) for n in native_ids if _is_guid(n)})
        if not ids:
            return {}
        pid = entity.table.primary_id
        base = entity.filter.text if filtered and entity.filter else None
        raws = await self._query(entity.name, entity.select, [condition(pid, g) for g in ids], base)
        return {row.native_id: row for row in await self._rows(entity.name, raws)}

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        return await self._by_keys(self._entity(entity), key_fields, keys, filtered=True)

    async def _by_keys(
        self,
        entity: Entity,
        key_fields: Sequence[str],
        keys: Sequence[tuple[Value, ...]],
        *,
        filtered: bool,
    ) -> dict[tuple[Value, ...], Row]:
        fields = [self._field(entity, name) for name in key_fields]
        guids = {
            f.name: await self.lookups.guids(f, {k[i] for k in keys}) for i, f in _dotted(fields)
        }
        wanted: dict[tuple[Value, ...], str] = {}
        for key in keys:
            text = _key_condition(entity, fields, key, guids)
            if text is not None:
                wanted[key] = text
        base = entity.filter.text if filtered and entity.filter else None
        raws = await self._query(
            entity.name, entity.select, list(dict.fromkeys(wanted.values())), base
        )
        index: dict[tuple[Value, ...], Row] = {}
        for row in await self._rows(entity.name, raws):
            index.setdefault(tuple(_fold(row.values.get(f.name)) for f in fields), row)
        folded = {key: tuple(_fold(v) for v in key) for key in wanted}
        return {key: index[folded[key]] for key in wanted if folded[key] in index}

    async def scan(self, entity: str, after: str | None, limit: int) -> list[Row]:
        found = self._entity(entity)
        pid = found.table.primary_id
        conditions = [f"{pid} gt {uuid.UUID(after)}"] if after else []
        if found.filter is not None:
            conditions.insert(0, f"({found.filter.text})")
        params = {"$select": ",".join(found.select), "$orderby": pid}
        if conditions:
            params["$filter"] = " and ".join(conditions)
        headers = {"Prefer": f"odata.maxpagesize={max(1, min(limit, 5000))}"}
        reply = await self.transport.get(found.name, params=params, headers=headers)
        return (await self._rows(found.name, self._values(found.name, reply)))[:limit]

    async def _query(
        self, entity_set: str, select: Sequence[str], conditions: Sequence[str], base: str | None
    ) -> list[dict[str, Any]]:
        """Every row matching any of ``conditions`` (and ``base``), chunk after chunk, page
        after page."""
        rows: list[dict[str, Any]] = []
        headers = {"Prefer": f"odata.maxpagesize={self.options.page_size}"}
        for text in chunks(conditions, base=base):
            params: dict[str, str] | None = {"$select": ",".join(select), "$filter": text}
            url: str | None = entity_set
            while url is not None:
                reply = await self.transport.get(url, params=params, headers=headers)
                rows += self._values(entity_set, reply)
                url, params = (reply.body or {}).get("@odata.nextLink"), None
        return rows

    async def _fetch(
        self, entity_set: str, select: str, conditions: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self._query(entity_set, select.split(","), conditions, None)

    def _values(self, entity_set: str, reply: Any) -> list[dict[str, Any]]:
        error = reply.error()
        body = reply.body
        if (
            error is not None
            or not isinstance(body, dict)
            or not isinstance(body.get("value"), list)
        ):
            raise PermanentError(
                f"side {self.name!r}: cannot read {entity_set!r}: {error or body!r}"
            )
        return [item for item in body["value"] if isinstance(item, dict)]

    async def _rows(self, entity_set: str, raws: list[dict[str, Any]]) -> list[Row]:
        """The rows of raw entries: values converted, dotted fields' GUIDs resolved."""
        entity = self._entity(entity_set)
        resolved: dict[str, Mapping[str, Value]] = {}
        for _, f in _dotted(list(entity.fields.values())):
            guids = {str(r[f.select]).lower() for r in raws if r.get(f.select)}
            resolved[f.name] = await self.lookups.values(f, guids)
        return [_row(entity, raw, resolved) for raw in raws]

    def _passes(self, entity: Entity) -> Any:
        assert entity.filter is not None
        columns = {c: entity.table.columns[c] for c in entity.filter.columns}
        test = entity.filter.passes

        def passes(raw: dict[str, Any]) -> bool:
            try:
                values = {n: from_dataverse(entity.name, c, raw.get(n)) for n, c in columns.items()}
            except BadValue:
                return False
            return test(values)

        return passes

    # -- writing --------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: list[WriteResult | writes.Followup | None] = [None] * len(ops)
        guids = await self._write_guids(ops)
        parts: list[tuple[int, Part]] = []
        for i, op in enumerate(ops):
            try:
                entity = self._entity(op.entity)
                if writes.unknown_version(op):
                    results[i] = "current"
                    continue
                parts.append((i, writes.part(entity, op, writes.body(entity, op.values, guids))))
            except (BadValue, SchemaError) as exc:
                results[i] = WriteResult(
                    "permanent", native_id=op.native_id, reason=writes.why(self.name, op, str(exc))
                )
        replies = await self.transport.batch([p for _, p in parts]) if parts else []
        for (i, _), reply in zip(parts, replies, strict=True):
            results[i] = writes.outcome(self.name, self.entities[ops[i].entity], ops[i], reply)
        return await self._followups(ops, results)

    async def _write_guids(self, ops: Sequence[WriteOp]) -> dict[str, Mapping[Value, str]]:
        wanted: dict[str, tuple[Field, set[Value]]] = {}
        for op in ops:
            entity = self.entities.get(op.entity)
            for name, value in op.values.items():
                field = entity.fields.get(name) if entity else None
                if field is not None and field.dotted and value is not None:
                    wanted.setdefault(name, (field, set()))[1].add(value)
        return {name: await self.lookups.guids(f, values) for name, (f, values) in wanted.items()}

    async def _followups(
        self, ops: Sequence[WriteOp], results: list[WriteResult | writes.Followup | None]
    ) -> list[WriteResult]:
        """Answer the conflicts with the rows as they are now (one read per entity)."""
        current: dict[tuple[str, str], Row] = {}
        for name in {op.entity for op, r in zip(ops, results, strict=True) if r == "current"}:
            ids = [
                op.native_id or ""
                for op, r in zip(ops, results, strict=True)
                if r == "current" and op.entity == name
            ]
            rows = await self._by_ids(self._entity(name), ids, filtered=False)
            current.update({(name, nid): row for nid, row in rows.items()})
        out: list[WriteResult] = []
        for op, result in zip(ops, results, strict=True):
            if result == "current":
                out.append(self._conflict(op, current.get((op.entity, op.native_id or ""))))
            elif result == "key":
                out.append(await self._duplicate(op))
            else:
                assert isinstance(result, WriteResult)
                out.append(result)
        return out

    def _conflict(self, op: WriteOp, row: Row | None) -> WriteResult:
        if row is None and op.op == "delete":
            return WriteResult("applied", native_id=op.native_id)
        return WriteResult(
            "conflict", current=row, reason="version changed" if row else "row does not exist"
        )

    async def _duplicate(self, op: WriteOp) -> WriteResult:
        entity = self._entity(op.entity)
        fields = op.key_fields or entity.spec.key_fields
        key = tuple(op.values.get(f) for f in fields)
        found = await self._by_keys(entity, fields, [key], filtered=False) if fields else {}
        return WriteResult("conflict", current=found.get(key), reason="a row with this key exists")

    # -- internals ------------------------------------------------------------------

    def _entity(self, entity: str) -> Entity:
        try:
            return self.entities[entity]
        except KeyError:
            raise SchemaError(f"side {self.name!r}: entity {entity!r} is not prepared") from None

    def _field(self, entity: Entity, name: str) -> Field:
        try:
            return entity.fields[name]
        except KeyError:
            raise SchemaError(
                f"side {self.name!r}: entity {entity.name!r}: field {name!r} is not mapped"
            ) from None


def _dotted(fields: Sequence[Field]) -> list[tuple[int, Field]]:
    return [(i, f) for i, f in enumerate(fields) if f.dotted]


def _key_condition(
    entity: Entity,
    fields: Sequence[Field],
    key: tuple[Value, ...],
    guids: Mapping[str, Mapping[Value, str]],
) -> str | None:
    """``(a eq 1 and _b_value eq <guid>)`` for one key; None if a dotted value names no row."""
    parts = []
    for field, value in zip(fields, key, strict=True):
        if field.dotted and value is not None:
            value = guids[field.name].get(value)
            if value is None:
                return None
        elif field.column.type not in LOOKUPS:
            try:
                value = to_dataverse(entity.name, field.column, value)
            except BadValue:
                return None  # no row can hold it
        parts.append(condition(field.select, value))
    return "(" + " and ".join(parts) + ")"


def _row(
    entity: Entity, raw: Mapping[str, Any], resolved: Mapping[str, Mapping[str, Value]]
) -> Row:
    values: dict[str, Value] = {}
    errors: list[str] = []
    for name, field in entity.fields.items():
        try:
            value = from_dataverse(entity.name, field.column, raw.get(field.select))
        except BadValue as exc:
            errors.append(str(exc))
            continue
        if field.dotted:
            value = None if value is None else resolved.get(name, {}).get(str(value))
        values[name] = value
    version = raw.get("@odata.etag") or str(raw.get("versionnumber", ""))
    native_id = str(raw.get(entity.table.primary_id, "")).lower()
    return Row(
        native_id, str(version), values, _moment(raw.get("modifiedon")), "; ".join(errors) or None
    )


def _moment(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def _fold(value: Value) -> Value:
    return value.casefold() if isinstance(value, str) else value

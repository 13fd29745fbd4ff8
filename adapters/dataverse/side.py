"""The Dataverse side: a Dataverse environment's Web API as one side of the replicator.

DESIGN §9 is the contract. ``transport.py`` speaks HTTP (retries, throttling, the token);
this module maps the protocol onto it:

* ``check``/``prepare`` read the table definitions (``schema.py``): every missing entity,
  column, alternate key, lookup target, untracked table or bad filter in one SchemaError.
* The feed is change tracking (``feed.py``), coalesced per row (``coalesces_changes``);
  ``ack`` is a no-op (the links are the cursor: ``ack_forgets`` is False).
* ``get``/``find`` read in batches: an OR of ``<primary id> eq <guid>`` (or of the key's
  conditions), chunked under the URL budget, AND-ed with the map's filter. ``scan`` orders
  by primary id and pages by the server's ``@odata.nextLink``. A row's version is its
  ``@odata.etag``.
* ``write`` sends one ``$batch`` part per op (``writes.py``), several batches in flight;
  conflicts are answered with the row read back afterwards, in one read per batch.

Native ids are lower-case GUIDs; a lookup field holds the referenced row's GUID
(``lookups_hold_native_ids``), a dotted field its column's value (``lookups.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog

from replicator.adapter import (
    ChangeBatch,
    EntitySpec,
    Row,
    ScanPage,
    SideLimits,
    Value,
    WriteOp,
    WriteResult,
)
from replicator.errors import SchemaError

from . import writes
from .feed import Feed, PollInterval, Tracked, encode_cursor
from .lookups import Lookups
from .options import Options
from .reads import Reader, passes
from .schema import Entity, Field, entity_problem, load, resolve
from .transport import Part, Transport
from .values import BadValue

log = structlog.get_logger()

GATHER_S = 0.02
"""How long a write batch waits to fill up: a $batch is a round trip, so 20 ms of waiting
turns many small requests into a few big ones (6,000 requests per 5 minutes is the budget)."""


class DataverseSide:
    """One Dataverse environment as a side. See the module docstring."""

    lookups_hold_native_ids = True
    carries_tokens = False
    """Nothing marks a Dataverse row as written by an integration: echoes are known by the
    version our write returned, and crash recovery judges by the row (replicator.recovery)."""
    coalesces_changes = True
    """Change tracking reports each changed row once, as it is now, then the deletes."""
    ack_forgets = False
    """The cursor is the server's delta links: ``ack`` has nothing to forget, and the feed
    read from no cursor is the initial tracking request (every row as it is now)."""

    def __init__(
        self, name: str, options: Options, base_dir: Path, *, transport: Transport | None = None
    ) -> None:
        self.name = name
        self.options = options
        self.limits = SideLimits(
            batch_size=options.batch_size,
            in_flight=options.max_in_flight,
            gather_s=GATHER_S,
        )
        self.transport = transport or Transport(name, options, base_dir)
        self.entities: dict[str, Entity] = {}
        self.reader = Reader(
            name, self.transport, Lookups(self._fetch), page_size=options.page_size
        )
        self.lookups = self.reader.lookups
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

    def watch_throttling(self, listener: Callable[[float], None]) -> None:
        """Tell ``listener`` the seconds of every 429 waited out (adapter.Throttled)."""
        self.transport.watch_throttling(listener)

    async def check(self, entities: Sequence[EntitySpec]) -> None:
        await self._resolve(entities)

    async def prepare(self, entities: Sequence[EntitySpec]) -> None:
        for entity in await self._resolve(entities):
            self.entities[entity.name] = entity
            self.feed.tracked[entity.name] = Tracked(
                entity=entity.name,
                primary_id=entity.table.primary_id,
                select=entity.select,
                passes=None if entity.filter is None else passes(entity),
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
        return await self.reader.by_ids(self._entity(entity), native_ids)

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        found = self._entity(entity)
        fields = [self._field(found, name) for name in key_fields]
        return await self.reader.by_keys(found, fields, keys)

    async def scan(self, entity: str, page: str | None, limit: int) -> ScanPage:
        return await self.reader.scan(self._entity(entity), page, limit)

    async def present_values(
        self, spec: EntitySpec, field: str, values: Sequence[Value]
    ) -> set[Value]:
        """Which of ``values`` some row of ``spec`` (filtered) holds in ``field``; needs no
        ``prepare`` (the definitions are read for it)."""
        [entity] = await self._resolve([spec])
        keys = [(v,) for v in values]
        return {
            key[0] for key in await self.reader.by_keys(entity, [self._field(entity, field)], keys)
        }

    async def _rows(self, entity_set: str, raws: list[dict[str, Any]]) -> list[Row]:
        return await self.reader.rows(self._entity(entity_set), raws)

    async def _fetch(
        self, entity_set: str, select: str, conditions: Sequence[str]
    ) -> list[dict[str, Any]]:
        return await self.reader.fetch(entity_set, select, conditions)

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
            rows = await self.reader.by_ids(self._entity(name), ids, filtered=False)
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
        return await self._versions(ops, out)

    async def _versions(self, ops: Sequence[WriteOp], out: list[WriteResult]) -> list[WriteResult]:
        """An applied insert or update whose answer carried no etag (a server that ignored
        ``return=representation``) gets the version read back: echoes are known by it."""
        blind = [
            i
            for i, (op, r) in enumerate(zip(ops, out, strict=True))
            if r.status == "applied" and r.version is None and op.op != "delete" and r.native_id
        ]
        for i in blind:
            entity = self._entity(ops[i].entity)
            rows = await self.reader.by_ids(entity, [out[i].native_id or ""], filtered=False)
            row = rows.get(out[i].native_id or "")
            if row is not None:
                out[i] = msgspec.structs.replace(out[i], version=row.version)
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
        by = [self._field(entity, f) for f in fields]
        found = await self.reader.by_keys(entity, by, [key], filtered=False) if fields else {}
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

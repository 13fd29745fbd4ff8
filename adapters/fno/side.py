"""The F&O side: a Finance & Operations environment's OData data entities as one side.

DESIGN §11 is the contract; ``transport.py`` speaks HTTP (retries, throttling, the token).
This module maps the protocol onto it:

* ``check``/``prepare`` read ``/data/$metadata`` (``metadata.py``) and check each entity, its
  fields, its poll field and its filter (one ``$top=1`` read): every problem in one
  ``SchemaError``.
* Native ids are the entity keys as OData key predicates (``keys.py``); reads and writes are
  batched (``reads.py``: ``$filter`` OR-chains; ``writes.py``: ``$batch`` change sets).
* The feed (``feed.py``) is the events inbox, filled by ``receive_hook`` (``/hooks/<side>``)
  and by the side's own applied writes (journaled before ``write`` returns, so the feed holds
  each of them whatever F&O's events do), or a poll of each entity's modified date-time.
  Either reads the changed rows as they are now. Echoes are known by version
  (``carries_tokens`` is False): F&O keeps no mark of who wrote a row that the replicator
  could read back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import anyio
import msgspec
import structlog

from adapters._remote.writes import unknown_version, why
from replicator.adapter import (
    ChangeBatch,
    EntitySpec,
    HookReply,
    Row,
    ScanPage,
    SideLimits,
    Value,
    WriteOp,
    WriteResult,
    hook_key_matches,
)
from replicator.errors import PermanentError, SchemaError, TransientError

from . import writes
from .events import Event, EventError, parse
from .feed import EventsFeed, PollFeed
from .inbox import Inbox
from .metadata import EntityType, MetadataError, parse_metadata
from .options import Options, hook_key
from .reads import DIGEST, Reader
from .schema import Entity, resolve
from .transport import Part, Transport
from .values import BadValue

log = structlog.get_logger()

GATHER_S = 0.02
"""How long a write batch waits to fill up: a $batch is a round trip."""


class FnoSide:
    """One F&O environment as a side. See the module docstring."""

    carries_tokens = False
    coalesces_changes = True
    lookups_hold_native_ids = False

    def __init__(
        self, name: str, options: Options, base_dir: Path, *, transport: Transport | None = None
    ) -> None:
        self.name = name
        self.options = options
        self.limits = SideLimits(
            batch_size=options.batch_size, in_flight=options.max_in_flight, gather_s=GATHER_S
        )
        self.transport = transport or Transport(name, options, base_dir)
        self.reader = Reader(name, self.transport, page_size=options.page_size)
        self.entities: dict[str, Entity] = {}
        self.events = options.feed == "events"
        self.ack_forgets = self.events
        """The events inbox forgets what is acked; a poll reads the entities themselves."""
        inbox = Path(options.inbox) if options.inbox else base_dir / f"{name}-events.db"
        self.inbox = Inbox(name, inbox)
        self.feed: EventsFeed | PollFeed = (
            EventsFeed(self.inbox, self.reader, lambda: self.entities)
            if self.events
            else PollFeed(self.reader, lambda: self.entities, overlap_s=options.poll_overlap_s)
        )
        self._arrived = anyio.Event()

    def __repr__(self) -> str:
        return f"FnoSide({self.name!r}, {self.options.url!r}, feed={self.options.feed!r})"

    # -- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        await self.transport.open()
        if self.events:
            try:
                await self.inbox.open()
            except BaseException:
                await self.transport.aclose()
                raise
        log.info("fno_opened", side=self.name, url=self.options.url, feed=self.options.feed)

    async def close(self) -> None:
        self.inbox.close()
        await self.transport.aclose()

    def watch_throttling(self, listener: Callable[[float], None]) -> None:
        """Tell ``listener`` the seconds of every 429 waited out (adapter.Throttled)."""
        self.transport.watch_throttling(listener)

    def reconcile_interval_s(self) -> float | None:
        """Seconds between reconciliation passes (``reconcile_minutes``; 0: on demand only).
        Both feeds are lossy: events may be lost, and a poll sees no deletes."""
        minutes = self.options.reconcile_minutes
        return minutes * 60.0 if minutes > 0 else None

    async def exists(self, entity: str, native_ids: Sequence[str]) -> set[str]:
        """Which of ``native_ids`` name a row of ``entity``, passing its filter or not."""
        return set(await self.reader.by_ids(self._entity(entity), native_ids, filtered=False))

    async def check(self, entities: Sequence[EntitySpec]) -> None:
        await self._resolve(entities)

    async def prepare(self, entities: Sequence[EntitySpec]) -> None:
        for entity in await self._resolve(entities):
            self.entities[entity.name] = entity

    async def _resolve(self, specs: Sequence[EntitySpec]) -> list[Entity]:
        types = await self._metadata()
        problems: list[str] = []
        resolved: list[Entity] = []
        for spec in specs:
            poll = None if self.events else self._poll_field(spec.entity)
            found = resolve(spec, types, poll_field=poll)
            if isinstance(found, Entity):
                problem = await self._filter_problem(found)
                if problem is None:
                    resolved.append(found)
                    continue
                found = [problem]
            problems += [f"entity {spec.entity!r}: {p}" for p in found]
        if problems:
            raise SchemaError("\n".join(f"side {self.name!r}: {p}" for p in problems))
        return resolved

    def _poll_field(self, entity: str) -> str:
        return self.options.poll_fields.get(entity, self.options.poll_field)

    async def _metadata(self) -> dict[str, EntityType]:
        reply = await self.transport.get("$metadata", headers={"Accept": "application/xml"})
        document = reply.body
        if reply.status != 200 or not isinstance(document, str):
            raise PermanentError(
                f"side {self.name!r}: cannot read {self.transport.api}$metadata: "
                f"{reply.error() or 'not an XML document'}"
            )
        try:
            return parse_metadata(document.encode())
        except MetadataError as exc:
            raise PermanentError(f"side {self.name!r}: {exc}") from None

    async def _filter_problem(self, entity: Entity) -> str | None:
        """The server's refusal of the map's filter (one row asked for), or None."""
        if not entity.filter:
            return None
        params = self.reader.params(entity, entity.filter)
        params["$top"] = "1"
        reply = await self.reader.get(entity, entity.name, params, 1)
        if 200 <= reply.status < 300:
            return None
        return f"filter {entity.filter!r} refused: {reply.error()}"

    # -- the change feed ------------------------------------------------------------

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        if self.events and self._arrived.is_set():
            self._arrived = anyio.Event()  # what arrives from now on wakes the next wait
        return await self.feed.read(cursor, limit)

    async def head_cursor(self) -> str | None:
        return await self.feed.head()

    async def ack(self, cursor: str) -> None:
        if isinstance(self.feed, EventsFeed):
            await self.feed.ack(cursor)

    async def wait_for_changes(self, max_wait: float) -> None:
        """Poll: the poll interval. Events: until an event is journaled (the inbox is
        written by this process's hook only), at most ``max_wait``."""
        if not self.events:
            await anyio.sleep(min(self.options.poll_interval_ms / 1000, max_wait))
            return
        with anyio.move_on_after(max_wait):
            await self._arrived.wait()

    async def receive_hook(
        self, body: bytes, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> HookReply:
        """A data-events delivery: the key checked, the events journaled durably, then 200."""
        if not self.events:
            return self._refuse(404, f'side {self.name!r} polls (feed = "poll"): no events')
        if not hook_key_matches(hook_key(self.options), query, headers):
            return self._refuse(401, "the hook key is missing or wrong")
        if not self.entities:
            return self._refuse(503, f"side {self.name!r} is not prepared yet: send again")
        try:
            events = parse(body, self.entities, self.options.event_entities)
        except EventError as exc:
            return self._refuse(400, str(exc))
        try:
            added = await self.inbox.add(events)
        except TransientError as exc:
            return self._refuse(503, str(exc))
        if added:
            self._arrived.set()
        log.info("fno_events_accepted", side=self.name, events=len(events), new=added)
        return HookReply(200, {"accepted": len(events), "new": added})

    def _refuse(self, status: int, reason: str) -> HookReply:
        log.warning("fno_hook_refused", side=self.name, status=status, reason=reason)
        return HookReply(status, {"error": reason})

    # -- reading rows ---------------------------------------------------------------

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        return await self.reader.by_ids(self._entity(entity), native_ids)

    async def find(
        self, entity: str, key_fields: Sequence[str], keys: Sequence[tuple[Value, ...]]
    ) -> dict[tuple[Value, ...], Row]:
        found = self._entity(entity)
        for name in key_fields:
            if name not in found.select:
                raise SchemaError(
                    f"side {self.name!r}: entity {entity!r}: field {name!r} is not mapped"
                )
        return await self.reader.by_keys(found, key_fields, keys)

    async def scan(self, entity: str, page: str | None, limit: int) -> ScanPage:
        return await self.reader.scan(self._entity(entity), page, limit)

    async def present_values(
        self, spec: EntitySpec, field: str, values: Sequence[Value]
    ) -> set[Value]:
        """Which of ``values`` some row of ``spec`` (filtered) holds in ``field``."""
        [entity] = await self._resolve([spec])
        rows = await self.reader.by_keys(entity, [field], [(v,) for v in values])
        return {key[0] for key in rows}

    # -- writing --------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results: list[WriteResult | writes.Followup | None] = [None] * len(ops)
        stale = await self._stale_digests(ops)
        parts: list[tuple[int, Part]] = []
        for i, op in enumerate(ops):
            try:
                entity = self._entity(op.entity)
                if unknown_version(op) or i in stale:
                    results[i] = "current"
                    continue
                parts.append((i, writes.part(entity, op)))
            except (BadValue, SchemaError, ValueError) as exc:
                reason = why(self.name, op, str(exc))
                results[i] = WriteResult("permanent", native_id=op.native_id, reason=reason)
        replies = await self.transport.batch([p for _, p in parts]) if parts else []
        refusals: dict[int, str] = {}
        for (i, _), reply in zip(parts, replies, strict=True):
            results[i] = writes.outcome(self.name, self.entities[ops[i].entity], ops[i], reply)
            if results[i] == "key":
                refusals[i] = why(self.name, ops[i], writes.text(reply))
        await self._creates(ops, results, refusals)
        out = await self._followups(ops, results, refusals)
        await self._journal_own(ops, out)
        return out

    async def _journal_own(self, ops: Sequence[WriteOp], out: Sequence[WriteResult]) -> None:
        """Journal the changes our applied writes made, before ``write`` returns: the feed then
        holds every applied write (the core's crash recovery relies on it) even if F&O's data
        event for it comes late or never. Its event, when it comes, changes nothing more."""
        if not self.events:
            return  # a poll sees our writes by their modified date-time
        own = [
            Event(op.entity, r.native_id, "delete" if op.op == "delete" else "upsert",
                  f"{op.entity}({r.native_id}) write {op.token} {r.version or ''}")
            for op, r in zip(ops, out, strict=True)
            if r.status == "applied" and r.native_id
        ]  # fmt: skip
        if own and await self.inbox.add(own):
            self._arrived.set()

    async def _stale_digests(self, ops: Sequence[WriteOp]) -> set[int]:
        """The ops expecting a digest version (an entity without etags) that the row no
        longer has: read first, in one read per entity, as F&O cannot check a digest."""
        wanted = [
            i
            for i, op in enumerate(ops)
            if op.op != "insert" and (op.expected_version or "").startswith(DIGEST)
        ]
        rows = await self._current(ops, wanted)
        return {
            i
            for i in wanted
            if (r := rows.get(i)) is not None and r.version != ops[i].expected_version
        }

    async def _creates(
        self,
        ops: Sequence[WriteOp],
        results: list[WriteResult | writes.Followup | None],
        refusals: dict[int, str],
    ) -> None:
        """POST the updates whose PATCH found no row (F&O has no upsert)."""
        missing = [i for i, r in enumerate(results) if r == "create"]
        parts = []
        for i in missing:
            try:
                parts.append(writes.create(self.entities[ops[i].entity], ops[i]))
            except (BadValue, ValueError) as exc:
                reason = why(self.name, ops[i], str(exc))
                results[i] = WriteResult("permanent", native_id=ops[i].native_id, reason=reason)
        todo = [i for i in missing if results[i] == "create"]
        replies = await self.transport.batch(parts) if parts else []
        for i, reply in zip(todo, replies, strict=True):
            insert = msgspec.structs.replace(ops[i], op="insert", native_id=None)
            results[i] = writes.outcome(self.name, self.entities[ops[i].entity], insert, reply)
            if results[i] == "key":
                refusals[i] = why(self.name, ops[i], writes.text(reply))

    async def _current(self, ops: Sequence[WriteOp], indexes: Sequence[int]) -> dict[int, Row]:
        """The rows of ``ops[i]`` as they are now, whatever the filter (one read per entity)."""
        out: dict[int, Row] = {}
        for name in {ops[i].entity for i in indexes}:
            mine = [i for i in indexes if ops[i].entity == name]
            ids = [ops[i].native_id or "" for i in mine]
            rows = await self.reader.by_ids(self._entity(name), ids, filtered=False)
            out.update({i: rows[ops[i].native_id or ""] for i in mine if ops[i].native_id in rows})
        return out

    async def _followups(
        self,
        ops: Sequence[WriteOp],
        results: list[WriteResult | writes.Followup | None],
        refusals: dict[int, str],
    ) -> list[WriteResult]:
        """Answer conflicts with the rows as they are now, and refused inserts by whether
        their key is taken; read back the versions answers did not carry."""
        current = await self._current(ops, [i for i, r in enumerate(results) if r == "current"])
        keyed = await self._by_key(ops, refusals)
        out: list[WriteResult] = []
        for i, (op, result) in enumerate(zip(ops, results, strict=True)):
            if result == "current":
                row = current.get(i)
                if row is None and op.op == "delete":
                    out.append(WriteResult("applied", native_id=op.native_id))
                else:
                    why = "version changed" if row else "row does not exist"
                    out.append(WriteResult("conflict", current=row, reason=why))
            elif result == "key":
                out.append(keyed[i])
            else:
                assert isinstance(result, WriteResult)
                out.append(result)
        return await self._versions(ops, out)

    async def _by_key(
        self, ops: Sequence[WriteOp], refusals: Mapping[int, str]
    ) -> dict[int, WriteResult]:
        """Refused inserts: a conflict with the row holding the key, else F&O's refusal
        (one read per entity and key)."""
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for i in refusals:
            entity = self._entity(ops[i].entity)
            fields = tuple(ops[i].key_fields or entity.type.key)
            groups.setdefault((ops[i].entity, fields), []).append(i)
        out: dict[int, WriteResult] = {}
        for (name, fields), indexes in groups.items():
            keys = [tuple(ops[i].values.get(f) for f in fields) for i in indexes]
            found = await self.reader.by_keys(self._entity(name), fields, keys, filtered=False)
            for i, key in zip(indexes, keys, strict=True):
                row = found.get(key)
                out[i] = (
                    WriteResult("conflict", current=row, reason="a row with this key exists")
                    if row is not None
                    else WriteResult("permanent", reason=refusals[i])
                )
        return out

    async def _versions(self, ops: Sequence[WriteOp], out: list[WriteResult]) -> list[WriteResult]:
        """An applied insert or update whose answer carried no etag gets its version read
        back (echoes are known by it), one read per entity."""
        blind = [
            i
            for i, (op, r) in enumerate(zip(ops, out, strict=True))
            if r.status == "applied" and r.version is None and op.op != "delete" and r.native_id
        ]
        applied = [msgspec.structs.replace(ops[i], native_id=out[i].native_id) for i in blind]
        rows = await self._current(applied, range(len(applied)))
        for n, i in enumerate(blind):
            if n in rows:
                out[i] = msgspec.structs.replace(out[i], version=rows[n].version)
        return out

    # -- internals ------------------------------------------------------------------

    def _entity(self, entity: str) -> Entity:
        try:
            return self.entities[entity]
        except KeyError:
            raise SchemaError(f"side {self.name!r}: entity {entity!r} is not prepared") from None


__all__ = ["FnoSide"]

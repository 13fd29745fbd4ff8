"""The F&O change feeds: journaled data events (``events``) or a modified date-time (``poll``).

F&O's OData endpoint has no change tracking (D365-REFERENCE "Finance & Operations"). Both
feeds therefore say only *which* rows changed and read those rows as they are now, in batches
(``Reader.by_ids``), never from an event's payload: an event late or twice changes nothing, as
the row read is the same.

* ``EventsFeed``: the cursor is the ``seq`` of the last event read from the inbox. A batch of
  events becomes one change per row (at the place of its last event): an upsert with the row's
  current values and version, or a delete when the row is gone (a row that is there but fails
  the map's filter gives nothing). ``ack`` forgets the events up to the cursor.
* ``PollFeed``: per entity, the rows whose modified date-time is ``ge`` the cursor's moment
  less ``poll_overlap_s`` (commits land late), ordered by it and paged; a row already reported
  at the same version within that overlap is dropped. The cursor (JSON) holds, per entity, the
  moment and those rows' versions. Polling sees no deletes (reconciliation does).

Both coalesce a row's changes into its latest state (``coalesces_changes``): they never report
an older state of a row after a newer one, and the last change of every row after the cursor is
reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from replicator.adapter import Change, ChangeBatch, Row
from replicator.errors import PermanentError

from .inbox import Inbox
from .reads import Reader
from .schema import Entity
from .values import literal

Entities = Callable[[], Mapping[str, Entity]]


class EventsFeed:
    """Changes from the events inbox, each row read as it is now."""

    def __init__(self, inbox: Inbox, reader: Reader, entities: Entities) -> None:
        self.inbox, self.reader, self.entities = inbox, reader, entities

    async def read(self, cursor: str | None, limit: int) -> ChangeBatch:
        after = _seq(cursor)
        events = await self.inbox.read(after, max(1, limit))
        if not events:
            return ChangeBatch([], cursor)
        last: dict[tuple[str, str], int] = {}
        for seq, entity, nid, _ in events:
            last[(entity, nid)] = seq
        known = self.entities()
        wanted: dict[str, list[str]] = {}
        for entity, nid in last:
            if entity in known:
                wanted.setdefault(entity, []).append(nid)
        changes: list[tuple[int, Change]] = []
        for name, ids in wanted.items():
            for nid, change in (await now(self.reader, known[name], ids)).items():
                changes.append((last[(name, nid)], change))
        changes.sort(key=lambda pair: pair[0])
        return ChangeBatch([c for _, c in changes], str(events[-1][0]))

    async def head(self) -> str | None:
        seq = await self.inbox.head()
        return str(seq) if seq else None

    async def ack(self, cursor: str) -> None:
        await self.inbox.forget(_seq(cursor))


async def now(reader: Reader, entity: Entity, ids: Sequence[str]) -> dict[str, Change]:
    """Per native id, the change that brings the core to the row as it is now: an upsert,
    a delete for a row that is gone, nothing for a row there that fails the filter."""
    rows = await reader.by_ids(entity, ids)
    missing = [n for n in ids if n not in rows]
    there = await reader.by_ids(entity, missing, filtered=False) if missing else {}
    out: dict[str, Change] = {}
    for nid in ids:
        if nid in rows:
            out[nid] = upsert(entity, rows[nid])
        elif nid not in there:
            out[nid] = Change(entity.name, nid, "delete")
    return out


def upsert(entity: Entity, row: Row) -> Change:
    values = None if row.error else row.values
    return Change(entity.name, row.native_id, "upsert", None, values, row.version, row.changed_at)


class Mark(msgspec.Struct, array_like=True):
    """Where one entity's poll stands: the newest modified moment reported, and the rows
    reported within the overlap before it (native id -> [version, moment])."""

    moment: str
    seen: dict[str, tuple[str, str]] = {}


class PollFeed:
    """Changes found by polling each entity's modified date-time field."""

    def __init__(self, reader: Reader, entities: Entities, *, overlap_s: float) -> None:
        self.reader, self.entities, self.overlap = reader, entities, timedelta(seconds=overlap_s)

    async def read(self, cursor: str | None, limit: int) -> ChangeBatch:
        marks = _marks(cursor)
        changes: list[Change] = []
        for name, entity in sorted(self.entities().items()):
            room = limit - len(changes)
            if room <= 0:
                break
            found, mark = await self._since(entity, marks.get(name), room)
            changes += [upsert(entity, row) for row in found]
            if mark is not None:
                marks[name] = mark
        return ChangeBatch(changes, _encode(marks))

    async def head(self) -> str | None:
        marks: dict[str, Mark] = {}
        for name, entity in sorted(self.entities().items()):
            field = _field(entity)
            params = self.reader.params(entity, None)
            params.update({"$orderby": f"{field} desc", "$top": "1"})
            reply = await self.reader.get(entity, entity.name, params, 1)
            newest = self.reader.rows(entity, self.reader.entries(entity, reply))
            moment = newest[0].values.get(field) if newest else None
            if isinstance(moment, str):
                rows = await self._window(entity, moment, None)
                marks[name] = Mark(moment, _seen(entity, rows, moment, self.overlap))
        return _encode(marks)

    async def _since(
        self, entity: Entity, mark: Mark | None, limit: int
    ) -> tuple[list[Row], Mark | None]:
        rows = await self._window(entity, mark.moment if mark else None, limit, mark)
        if not rows:
            return [], mark
        field = _field(entity)
        moment = max(str(r.values.get(field)) for r in rows if r.values.get(field))
        before = dict(mark.seen) if mark else {}
        seen = {**before, **{r.native_id: (r.version, str(r.values.get(field))) for r in rows}}
        edge = _iso(_parse(moment) - self.overlap)
        return rows, Mark(moment, {n: s for n, s in seen.items() if s[1] >= edge})

    async def _window(
        self, entity: Entity, moment: str | None, limit: int | None, mark: Mark | None = None
    ) -> list[Row]:
        """Rows modified at or after ``moment`` less the overlap (all rows without one),
        oldest first, without those ``mark`` saw at the same version; at most ``limit``."""
        field = _field(entity)
        conditions = []
        if entity.filter:
            conditions.append(f"({entity.filter})")
        if moment is not None:
            start = _iso(_parse(moment) - self.overlap)
            prop = entity.type.properties[field]
            conditions.append(f"{field} ge {literal(entity.name, prop, start)}")
        params = self.reader.params(entity, " and ".join(conditions) or None)
        params["$orderby"] = ",".join([field, *entity.type.key])
        seen = mark.seen if mark else {}
        found: list[Row] = []
        url: str | None = entity.name
        asked: dict[str, str] | None = params
        while url is not None:
            reply = await self.reader.get(entity, url, asked, self.reader.page_size)
            for row in self.reader.rows(entity, self.reader.entries(entity, reply)):
                if seen.get(row.native_id, ("",))[0] != row.version:
                    found.append(row)
                    if limit is not None and len(found) >= limit:
                        return found
            link = reply.body.get("@odata.nextLink")
            url, asked = (str(link) if link else None), None
        return found


def _seen(
    entity: Entity, rows: list[Row], moment: str, overlap: timedelta
) -> dict[str, tuple[str, str]]:
    field = _field(entity)
    edge = _iso(_parse(moment) - overlap)
    return {
        r.native_id: (r.version, str(r.values.get(field)))
        for r in rows
        if str(r.values.get(field) or "") >= edge
    }


def _field(entity: Entity) -> str:
    if entity.poll_field is None:
        raise PermanentError(f"entity {entity.name!r} has no modified date-time field to poll")
    return entity.poll_field


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _marks(cursor: str | None) -> dict[str, Mark]:
    if cursor is None:
        return {}
    try:
        return msgspec.json.decode(cursor, type=dict[str, Mark])
    except msgspec.DecodeError:
        raise PermanentError(f"not a poll cursor of this side: {cursor[:80]!r}") from None


def _encode(marks: Mapping[str, Mark]) -> str | None:
    return msgspec.json.encode(dict(marks)).decode() if marks else None


def _seq(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise PermanentError(f"not an events cursor of this side: {cursor[:80]!r}")
    return int(cursor)


__all__ = ["EventsFeed", "PollFeed"]

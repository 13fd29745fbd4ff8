"""The initial sync of one map: scan both sides a page at a time, match by key, write, link.

Memory stays bounded by a page, whatever the table's size: nothing is held from one page
to the next but the state store's links.

1. The first side is scanned a page at a time (side 0, unless side 1 holds one page of
   rows at most and side 0 more: ``first_side``). For each page the rows of its
   keys on the other side are found in one batched ``find``; each key is planned (a pair,
   or a row to create on the other side) and the page is written and linked.
2. The other side is scanned the same way. Its rows linked by now were met in step 1 (or
   linked before) and are passed over unread (so a rule such a row breaks now is met
   by the live sync, at its next change), but for a link that lost the first side's
   row (restored, see below) and an unreadable row (queued). For the rest, their keys
   are found on the first side: a row found there and not linked had its record
   decided by step 1 (an error, a parked lookup) or is newer than the scan (the feed
   brings it); a row not found makes a row to create on the first side.

A row whose key another row of its side holds is a duplicate and goes to the error
queue: within a page the first in scan order keeps the key; across pages, the row
already linked keeps it (its partner's link names it, and a ``get`` checks it still
holds the key). The matches are linked (the map's ``initial_master`` decides differing
values, one-way fields take their owner's), and what is missing on one side is created
there (if the create rule allows the side it was born on; else the row goes to the
error queue), page by page.

A pair already linked (by a run a crash cut short, or for a map synced again because
its fields changed) is merged against its shadow instead, like the live sync would, so
edits made since the link are kept; fields the shadow lacks follow the initial rule. A
linked row whose partner is gone is left alone: the partner's delete is in the feed.
But a link that lost its row on a side (its id there forgotten: the side lost the table,
see resync.py) is restored: the record is re-created on that side from the other one,
or a row found there by key is linked, taking the values of the side that kept it.

It is resumable by construction: matching is by key and inserts refuse an existing
key, so a rerun after a crash links what the crashed run created instead of
duplicating it, and the intents committed before each batch of writes (recovery.py)
restore the links of writes whose outcome the crash lost.

``MapSync`` plans; it holds the two objects that do the rest for the map's sync. Its
``SyncReader`` (scan.py) reads the pages and looks rows up by key or id. Its
``SyncWrites`` (writes.py) writes each planned page (intents, batches, a row changed
since the scan, links) and owns what the sync queues, error-queue entries and parked
rows, committing them page by page; it is the reader's error sink, too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import lookups, mapping, rules
from ..adapter import Row, Values, WriteOp
from ..config import TableMap
from ..context import Context
from ..errors import ReplicatorError, RuleViolation, StoreError, TransientError
from ..model import Link, Parked
from .scan import Key, SyncReader, native_ids
from .writes import Job, Progress, Scanned, SyncReport, SyncWrites

Pair = list[Scanned | None]
"""A key's rows, side 0's and side 1's."""

Planned = tuple[list[Job], int, anyio.Event]
"""A page planned: its jobs, how many rows it had, and the event its writing sets."""

Planner = Callable[[int, list[Row], SyncReport], Awaitable[None]]
"""Plans one page of a side (``first_page``, ``other_page``)."""


class MapSync:
    """The initial sync of one map: the planning here, the reading in ``reader`` (a
    ``SyncReader``), the writing and the queued rows in ``writes`` (a ``SyncWrites``)."""

    def __init__(
        self, ctx: Context, m: TableMap, progress: Progress | None, companies: Sequence[str] = ()
    ) -> None:
        self.ctx = ctx
        self.map = m
        self.progress = progress
        self.links: list[dict[str, Link]] = [{}, {}]
        self.next_id = 0
        self.done = 0
        self.writes = SyncWrites(ctx, m)
        self.reader = SyncReader(ctx, m, companies, self.writes)
        self.outbox: MemoryObjectSendStream[Planned]
        self.in_flight: tuple[set[Key], anyio.Event] = (set(), anyio.Event())
        self.in_flight_refs: set[str] = set()  # in_flight's encoded keys, for own lookups
        self.own_lookups = any(f.lookup == m.name for f in m.all_fields)

    async def run(self) -> SyncReport:
        started = time.monotonic()
        batch = self.ctx.config.engine.batch_size
        if batch < 1:  # the caller then does not record the map as synced
            raise ReplicatorError(
                f"map {self.map.name!r}: the initial sync went through no row (batch size"
                f" {batch}); the map is not synced"
            )
        self.next_id = await self.ctx.store.next_link_id()
        report = SyncReport(self.map.name, [0, 0])
        if self.progress:
            self.progress.start(self.map.name, None)
        first = await self.first_side(batch)
        other = 1 - first
        await self.step(self.first_page, first, batch, report)
        created = report.created[other]  # rows the other side's scan meets, not counted
        await self.step(self.other_page, other, batch, report)
        report.rows[other] = max(0, report.rows[other] - created)
        report.seconds = round(time.monotonic() - started, 3)
        if self.progress:
            self.progress.finish(report)  # ends the bar's line before the log line
        self.ctx.log.info("initial_sync_done", **report.logged(self.ctx.side_names))
        return report

    async def first_side(self, batch: int) -> int:
        """The side to scan first: side 1 if its rows fit in one page and side 0's do not
        (an empty or nearly empty side: the other side's scan then meets few rows the
        sync created), else side 0. It costs one page read per side."""
        fits = []
        for side in (0, 1):
            found = await self.ctx.sides[side].scan(self.map.entities[side], None, batch)
            fits.append(found.next is None)
        return 1 if fits[1] and not fits[0] else 0

    async def step(self, planner: Planner, side: int, batch: int, report: SyncReport) -> None:
        """One step of the module docstring: ``side``'s pages are read and planned here
        while a task beside writes the page planned before (``writing``). At most two
        pages are held: the one being written, and the one being planned. Pages meet only
        through a key both hold (a duplicate): the later one then waits for the earlier
        one's writes and links (``after_written``) before it looks anything up."""
        send, receive = anyio.create_memory_object_stream[Planned](0)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self.writing, receive, report)
                async with send:
                    self.outbox = send
                    async for rows in self.reader.pages(side, batch):
                        await planner(side, rows, report)
        except BaseExceptionGroup as group:  # the writing task's failure, as it was raised
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        await self.writes.flush_errors(report)

    async def writing(
        self, receive: MemoryObjectReceiveStream[Planned], report: SyncReport
    ) -> None:
        """Write each planned page, in order, and commit its links and errors."""
        async with receive:
            async for jobs, seen, written in receive:
                await self.writes.execute(jobs, report)
                written.set()
                self.done += seen
                if self.progress:
                    self.progress.advance(self.done)

    async def first_page(self, side: int, rows: list[Row], report: SyncReport) -> None:
        """Step 1 for one page: its rows, their partners by key, planned and written."""
        own = self.reader.keyed(side, rows)
        report.rows[side] += len(own)
        await self.after_written(own)
        partners = await self.reader.partners(1 - side, own)
        pairs = {k: pair(side, row, partners.get(k)) for k, row in own.items()}
        await self.load_links(pairs.values())
        suspects: dict[str, Key] = {}
        for key, rows_ in pairs.items():
            mine, theirs = rows_[side], rows_[1 - side]
            if theirs is None or (mine and mine.row.native_id in self.links[side]):
                continue
            link = self.links[1 - side].get(theirs.row.native_id)
            if link is not None and link.ids[side] is not None:
                suspects[str(link.ids[side])] = key  # the partner is linked to another row
        await self.drop_duplicates(side, pairs, suspects)
        await self.sync_pairs(pairs, report, len(rows))

    async def other_page(self, side: int, rows: list[Row], report: SyncReport) -> None:
        """Step 2 for one page: its rows step 1 did not meet, planned and written."""
        ids = [r.native_id for r in rows]
        linked = await self.ctx.store.links_by_native(self.map.name, side, ids)
        lost = {nid: lk for nid, lk in linked.items() if lk.ids[1 - side] is None}
        met = {r.native_id for r in rows if r.error is None and r.native_id in linked}
        met -= lost.keys()
        own = self.reader.keyed(side, (r for r in rows if r.native_id not in met))
        report.rows[side] += len(met) + len(own)
        await self.after_written(own)
        partners = await self.reader.partners(1 - side, own)
        found = await self.ctx.store.links_by_native(
            self.map.name, 1 - side, native_ids(partners.values())
        )
        self.links[side], self.links[1 - side] = lost, found
        pairs: dict[Key, Pair] = {}
        suspects: dict[str, Key] = {}
        for key, mine in own.items():
            theirs = partners.get(key)
            link = found.get(theirs.row.native_id) if theirs else None
            if theirs is not None and link is None and mine.row.native_id not in lost:
                continue  # step 1 decided its record, or it is newer than that scan
            if link is not None and link.ids[side] is not None:
                suspects[str(link.ids[side])] = key  # the partner is linked to another row
            pairs[key] = pair(side, mine, theirs)
        await self.drop_duplicates(side, pairs, suspects)
        await self.sync_pairs(pairs, report, len(rows))

    async def drop_duplicates(
        self, side: int, pairs: dict[Key, Pair], suspects: Mapping[str, Key]
    ) -> None:
        """Queue the rows whose key a linked row of their side (``suspects``: its native id)
        still holds: that row keeps the key. A suspect that no longer holds it lets the
        pair be planned (and linked anew)."""
        for native_id in await self.reader.holding(side, suspects):
            key = suspects[native_id]
            row = pairs.pop(key)[side]
            assert row is not None
            self.reader.duplicate(side, row.row, key, native_id)

    async def sync_pairs(self, pairs: dict[Key, Pair], report: SyncReport, seen: int) -> None:
        """Plan one page's pairs (of ``seen`` rows) and hand them to the writing task."""
        jobs = [await self.plan(key, rows[0], rows[1], report) for key, rows in pairs.items()]
        written = anyio.Event()
        await self.outbox.send(([j for j in jobs if j is not None], seen, written))
        self.in_flight = (set(pairs), written)
        if self.own_lookups:
            self.in_flight_refs = {mapping.encode_key(k) for k in pairs}

    async def after_written(self, keys: Iterable[Key]) -> None:
        """Wait for the page being written if it holds one of ``keys`` (a key met again:
        its rows and links are read once that page's writes and links are done)."""
        held, written = self.in_flight
        if not held.isdisjoint(keys):
            await written.wait()

    async def plan(
        self, key: tuple[Any, ...], a: Scanned | None, b: Scanned | None, report: SyncReport
    ) -> Job | None:
        """What to do for one key; None if nothing is to be written (both sides agree and
        are linked, the record waits for a lookup or is refused, or its partner is gone)."""
        side = self.map.initial_master if a is not None and b is not None else int(a is None)
        scanned = [a, b][side]
        assert scanned is not None
        try:
            return await self.plan_job(key, a, b, report)
        except RuleViolation as exc:  # a value a strict value map cannot carry over
            self.writes.error(side, scanned.row, "rule", str(exc), mapping.encode_key(key))
        except (TransientError, StoreError):
            raise
        except Exception as exc:  # a bug met by this record alone: queue it, go on
            self.writes.unexpected(side, scanned.row, exc, mapping.encode_key(key))
        return None

    async def plan_job(
        self, key: tuple[Any, ...], a: Scanned | None, b: Scanned | None, report: SyncReport
    ) -> Job | None:
        rows = [a, b]
        link = self.existing_link(rows)
        job = Job(key, rows, link, link_id=link.id if link else self.new_link_id())
        if link is not None and any(r is None for r in rows):
            lost = rows.index(None)
            if link.ids[lost] is not None:
                return None  # a linked row whose partner is gone: its delete is in the feed
            return await self.restore(job, lost, report)
        if a is not None and b is not None:
            job.merged = self.merged(link, a, b)
            linked = link is not None and link.ids == [a.row.native_id, b.row.native_id]
            if linked and link is not None and link.shadow == job.merged == a.values == b.values:
                report.unchanged += 1
                return None
            if not await self.references_ready(job, self.map.initial_master, report):
                return None
            for side in (0, 1):
                self.writes.plan_update(job, side)
            return job
        source = 0 if a is not None else 1
        scanned = a or b
        assert scanned is not None
        job.merged = dict(scanned.values)
        if not await self.references_ready(job, source, report):
            return None
        if not rules.may_create(self.map, source):
            self.writes.error(
                source,
                scanned.row,
                "rule",
                rules.create_refused(self.map, source, self.ctx.side_names),
                mapping.encode_key(key),
            )
            return None
        job.ops[1 - source] = WriteOp(
            self.map.entities[1 - source],
            "insert",
            self.ctx.token(job.link_id),
            values=mapping.side_values(self.map, 1 - source, scanned.values),
            key_fields=self.map.key_names(1 - source),
            record_key=mapping.encode_key(job.key),
        )
        return job

    async def restore(self, job: Job, lost: int, report: SyncReport) -> Job | None:
        """Re-create on side ``lost`` a linked record that side lost (not a birth there:
        the create rule does not apply)."""
        scanned = job.rows[1 - lost]
        assert scanned is not None
        job.merged = dict(scanned.values)
        if not await self.references_ready(job, 1 - lost, report):
            return None
        job.ops[lost] = WriteOp(
            self.map.entities[lost],
            "insert",
            self.ctx.token(job.link_id),
            values=mapping.side_values(self.map, lost, scanned.values),
            key_fields=self.map.key_names(lost),
            record_key=mapping.encode_key(job.key),
        )
        return job

    def new_link_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def merged(self, link: Link | None, a: Scanned, b: Scanned) -> Values:
        """The agreed values of a pair: by the initial rule, or against the shadow if the
        pair is linked (met again after a crash, or synced again for a changed map)."""
        vals = (a.values, b.values)
        if link is not None and None in link.ids:  # it lost a side's row: the other wins
            return rules.initial_merge(self.map, vals, link.ids.index(None) ^ 1)
        if link is None or link.ids != [a.row.native_id, b.row.native_id]:
            return rules.initial_merge(self.map, vals)
        changed_at = (a.row.changed_at, b.row.changed_at)
        winner = rules.conflict_winner(self.map, changed_at, self.map.initial_master)
        return rules.relink_merge(self.map, link.shadow, vals, winner)

    async def references_ready(self, job: Job, side: int, report: SyncReport) -> bool:
        """Park the record if a lookup into another map is not linked; defer own-map ones.

        A deferred field is left out of the writes (and empty in the shadow); a parked
        "patch" row brings the record back, through the live sync, once its target links.
        """
        scanned = job.rows[side]
        assert scanned is not None
        for ref in lookups.references(self.map, self.ctx.maps, job.merged):
            if ref.map == self.map.name and ref.encoded in self.in_flight_refs:
                await self.in_flight[1].wait()  # its link first: a park then sees it
            if not await self.ctx.parking.missing(ref):
                continue
            own = ref.map == self.map.name
            what = "patch of" if own else "waiting for"
            self.writes.park(
                Parked(
                    map=self.map.name,
                    side=side,
                    native_id=scanned.row.native_id,
                    key=mapping.encode_key(job.key),
                    ref_map=ref.map,
                    ref_key=ref.encoded,
                    reason=f"{what} {ref.describe()}",
                    since=time.time(),
                )
            )
            if not own:
                report.parked += 1
                return False
            job.deferred.append(ref.field)
            job.merged[ref.field] = None
        return True

    async def load_links(self, pairs: Iterable[Pair]) -> None:
        """Fetch the links of a page's rows, one store query per side."""
        rows = list(pairs)
        for side in (0, 1):
            ids = native_ids(r[side] for r in rows)
            self.links[side] = await self.ctx.store.links_by_native(self.map.name, side, ids)

    def existing_link(self, rows: Pair) -> Link | None:
        for side, scanned in enumerate(rows):
            if scanned is not None and (link := self.links[side].get(scanned.row.native_id)):
                return link
        return None


def pair(side: int, mine: Scanned, theirs: Scanned | None) -> Pair:
    """A key's rows in side order, ``mine`` being ``side``'s."""
    return [mine, theirs] if side == 0 else [theirs, mine]

"""The initial sync of one map: scan both sides, plan per key, write in batches, link.

Both sides are scanned and their rows matched by integration key; the matches are
linked (the map's ``initial_master`` decides differing values, one-way fields take
their owner's), and what is missing on one side is created there (if the create rule
allows the side it was born on; else the row goes to the error queue), batch by batch.

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
restore the links of writes whose outcome the crash lost. The writing half (intents,
batches, a row changed since the scan, links) is in sync_writes.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from . import failures, lookups, mapping, rules
from .adapter import Row, Values, WriteOp
from .config import TableMap
from .context import Context
from .errors import ReplicatorError, RuleViolation, StoreError, TransientError
from .model import ErrorEntry, Link, Parked
from .sync_writes import Job, Progress, Scanned, SyncReport, SyncWrites

SCAN_BATCH = 2000


class MapSync(SyncWrites):
    """The initial sync of one map: scanning and planning here, writing in SyncWrites."""

    def __init__(
        self, ctx: Context, m: TableMap, progress: Progress | None, companies: Sequence[str] = ()
    ) -> None:
        self.ctx = ctx
        self.map = m
        self.companies = companies
        self.progress = progress
        self.errors: list[ErrorEntry] = []
        self.parks: list[Parked] = []
        self.links: list[dict[str, Link]] = [{}, {}]
        self.next_id = 0

    async def run(self) -> SyncReport:
        started = time.monotonic()
        self.next_id = await self.ctx.store.next_link_id()
        scans = [await self.scan(0), await self.scan(1)]
        report = SyncReport(self.map.name, [len(scans[0]), len(scans[1])])
        keys = list(dict.fromkeys([*scans[0], *scans[1]]))
        if self.progress:
            self.progress.start(self.map.name, len(keys))
        await self.flush_errors(report)
        batch = self.ctx.config.engine.batch_size
        done = 0
        for start in range(0, len(keys), batch) if batch >= 1 else ():
            chunk = keys[start : start + batch]
            await self.load_links(
                [scans[0].get(k) for k in chunk], [scans[1].get(k) for k in chunk]
            )
            jobs = [await self.plan(k, scans[0].get(k), scans[1].get(k), report) for k in chunk]
            await self.execute([j for j in jobs if j is not None], report)
            done = start + len(chunk)
            if self.progress:
                self.progress.advance(done)
        if done != len(keys):  # the caller then does not record the map as synced
            raise ReplicatorError(
                f"map {self.map.name!r}: the initial sync went through {done} of the "
                f"{len(keys)} keys it scanned (batch size {batch}); the map is not synced"
            )
        report.seconds = round(time.monotonic() - started, 3)
        if self.progress:
            self.progress.finish(report)  # ends the bar's line before the log line
        self.ctx.log.info("initial_sync_done", **report.logged(self.ctx.side_names))
        return report

    async def scan(self, side: int) -> dict[tuple[Any, ...], Scanned]:
        """Every row of the map's entity on ``side`` by key; bad rows go to the errors."""
        out: dict[tuple[Any, ...], Scanned] = {}
        page: str | None = None
        entity = self.map.entities[side]
        while True:
            found = await self.ctx.sides[side].scan(entity, page, SCAN_BATCH)
            for row in found.rows:
                try:
                    self.add_scanned(side, row, out)
                except Exception as exc:  # a bug met by this row alone: queue it, go on
                    self.unexpected(side, row, exc, None)
            if found.next is None:
                return out
            page = found.next

    def unexpected(self, side: int, row: Row, exc: Exception, key: str | None) -> None:
        """Queue a row whose sync raised an exception outside the errors tree (failures.py)."""
        reason = failures.record_failed(
            self.ctx.log,
            exc,
            map_name=self.map.name,
            key=key,
            side=self.ctx.side_names[side],
            change_id=None,
        )
        self.error(side, row, failures.KIND, reason, key or "")

    def add_scanned(self, side: int, row: Row, out: dict[tuple[Any, ...], Scanned]) -> None:
        if row.error is not None:
            reason = rules.unreadable(self.map, side, self.ctx.side_names, row)
            return self.error(side, row, "unreadable", reason, self.readable_key(side, row))
        try:
            values = mapping.canonical(self.map, side, row.values)
        except RuleViolation as exc:
            return self.error(side, row, "rule", str(exc))
        missing = mapping.missing_key_fields(self.map, side, values)
        if missing:
            return self.error(side, row, "rule", f"integration key field(s) {missing} empty")
        if not rules.in_companies(self.map, values, self.companies):
            return None
        key = mapping.key_of(self.map, values)
        if key in out:
            return self.error(
                side,
                row,
                "duplicate",
                f"duplicate key {mapping.encode_key(key)} "
                f"on side {self.ctx.side_names[side]!r}: also row "
                f"{out[key].row.native_id}",
            )
        out[key] = Scanned(row, values)

    def readable_key(self, side: int, row: Row) -> str:
        """The encoded key of a row that is partly unreadable, if its key fields are read."""
        try:
            values = mapping.canonical(self.map, side, row.values)
        except RuleViolation:
            return ""
        if mapping.missing_key_fields(self.map, side, values):
            return ""
        return mapping.encode_key(mapping.key_of(self.map, values))

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
            self.error(side, scanned.row, "rule", str(exc), mapping.encode_key(key))
        except (TransientError, StoreError):
            raise
        except Exception as exc:  # a bug met by this record alone: queue it, go on
            self.unexpected(side, scanned.row, exc, mapping.encode_key(key))
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
                self.plan_update(job, side)
            return job
        source = 0 if a is not None else 1
        scanned = a or b
        assert scanned is not None
        job.merged = dict(scanned.values)
        if not await self.references_ready(job, source, report):
            return None
        if not rules.may_create(self.map, source):
            self.error(
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
            if not await self.ctx.parking.missing(ref):
                continue
            own = ref.map == self.map.name
            what = "patch of" if own else "waiting for"
            self.parks.append(
                Parked(
                    self.map.name,
                    side,
                    scanned.row.native_id,
                    mapping.encode_key(job.key),
                    ref.map,
                    ref.encoded,
                    f"{what} {ref.describe()}",
                    time.time(),
                )
            )
            if not own:
                report.parked += 1
                return False
            job.deferred.append(ref.field)
            job.merged[ref.field] = None
        return True

    async def load_links(self, *rows: list[Scanned | None]) -> None:
        """Fetch the links of a batch's rows, one store query per side."""
        for side, scanned in enumerate(rows):
            ids = [r.row.native_id for r in scanned if r is not None]
            self.links[side] = await self.ctx.store.links_by_native(self.map.name, side, ids)

    def existing_link(self, rows: list[Scanned | None]) -> Link | None:
        for side, scanned in enumerate(rows):
            if scanned is not None and (link := self.links[side].get(scanned.row.native_id)):
                return link
        return None

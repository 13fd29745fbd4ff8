"""Reconciliation: replay what a lossy change feed missed, by comparing a side's rows with
the links and shadows the state store holds.

Some feeds lose changes (F&O data events are neither ordered nor guaranteed). A pass over
one map and one side recovers what they lost:

1. **Scan** the side's rows page by page, the way the initial sync reads them
   (``sync.scan.scan_pages``: the side's own filter applies), through the engine's side
   object, so rows read here are converted exactly as the pipeline's are (lookups by
   native id translated, ``native_lookups``; canonical values, ``mapping``).
2. **Compare** each row with its link and shadow, read in batches (one store query per
   page for the links, one for parked and queued records, never one per row). A row is
   replayed when it has no link, another version than the link recorded, or canonical
   values other than the shadow (``needs_replay``). Rows outside the map's ``companies``,
   parked rows (waiting for a lookup) and rows in the error queue are left alone: the
   pipeline already knows them, and a retry is the operator's call.
3. **Replay** a row by journaling ``Change(entity, native_id, "upsert")`` without values
   (the record's actor reads the row as it is then) and telling the router the map's
   journal grew, as a parking release or a CLI retry does. The journal makes a replay
   durable and keeps it in order with the feed's changes of the same record; the side's
   cursor does not move. A replay of a change the feed did deliver is a no-op (the shadow
   compare), so a pass never writes what is already in step.
4. **Deletes**, only after a scan that read every page: the map's links holding a row of
   this side are walked in pages, and a linked native id the scan did not see is a
   candidate. Candidates are confirmed with one batched ``get`` per page (a row may have
   been created or changed during the scan) and a delete is replayed for each confirmed
   gone. A failed or partial scan infers no delete: a row not seen is then not a row gone.
   On a side with a filter, ``get`` cannot tell a row gone from one that left the filter
   (which the live sync does not treat as a delete either), so such a side must also
   answer the optional ``exists(entity, native_ids)``; without it, deletes of a filtered
   map are not inferred there (``reconcile_deletes_skipped``).

Why a pass replays through the journal rather than writing itself: the actors are the
only writers of a record (per-record order, conflict merges, create and delete rules,
echo tokens); a pass that wrote would be a second engine to keep correct. Its cost is
therefore a scan plus a few store queries per page when the map is in step, and one
ordinary pipeline change per row that is not. The native ids seen by a scan are kept in
a set until its deletes are inferred (some 100 bytes a row: 100 MB for a million rows);
merging the scan with the links in one order would need the side's scan order, which is
opaque to the core.

When: one pass per map over each side whose adapter declares an interval
(``reconcile_interval_s()``, e.g. F&O's ``reconcile_minutes``) once the engine is live, then
again every interval; and on demand (``Replicator.reconcile``, ``replicator reconcile``).
Passes run one at a time; a paused (or held) map is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Literal

import anyio
import msgspec

from . import mapping, rules
from .adapter import Change, Row, Side
from .config import TableMap
from .context import Context
from .errors import ReplicatorError, RuleViolation, StoreError
from .model import Link
from .sync.scan import scan_pages

CatchUp = Callable[[str], Awaitable[None]]
"""Tells the router that a map's journal holds entries to dispatch (``Replicator._catch_up``)."""


class PassReport(msgspec.Struct, kw_only=True):
    """What one pass over one map and one side did."""

    map: str
    side: str
    complete: bool = False
    """Whether the scan read every page (only then are deletes inferred)."""
    scanned: int = 0
    replayed: int = 0
    deleted: int = 0
    pages: int = 0
    requests: int = 0
    """Calls to the side: scan pages, and the ``get``/``exists`` that confirm deletes."""
    seconds: float = 0.0
    skipped: bool = False
    """Whether the pass did not run (its map paused or held)."""
    reason: str = ""
    """Why the pass failed, or was skipped; empty for a pass that ran to its end."""


def interval_s(side: Side) -> float | None:
    """How often a side asks for passes (its optional ``reconcile_interval_s``), or None."""
    declared = getattr(side, "reconcile_interval_s", None)
    seconds = declared() if callable(declared) else None
    return float(seconds) if seconds else None


def needs_replay(m: TableMap, side: int, row: Row, link: Link | None) -> bool:
    """Whether a scanned row may carry a change the feed missed: it has no link, another
    version than the link's, or mapped values other than the shadow. A row that cannot be
    read or breaks a rule is replayed too: the pipeline queues it with its reason."""
    if link is None or row.error is not None or link.versions[side] != row.version:
        return True
    try:
        values = mapping.canonical(m, side, row.values)
    except RuleViolation:
        return True
    shadow = link.shadow
    return any(f.id not in shadow or shadow[f.id] != values[f.id] for f in m.all_fields)


def outside_companies(m: TableMap, side: int, row: Row) -> bool:
    """Whether a row's company does not take part in the map (unknown: it does)."""
    if not m.companies or row.error is not None:
        return False
    try:
        return not rules.in_companies(m, mapping.canonical(m, side, row.values))
    except RuleViolation:
        return False


class Reconciler:
    """Runs reconciliation passes of a live engine; see the module docstring."""

    def __init__(self, ctx: Context, catch_up: CatchUp, held: Callable[[], Collection[str]]):
        self.ctx = ctx
        self.catch_up = catch_up
        self.held = held
        self.lock = anyio.Lock()

    async def run(self) -> None:
        """Pass over each side that declares an interval, then again every interval."""
        async with anyio.create_task_group() as tg:
            for index, side in enumerate(self.ctx.sides):
                seconds = interval_s(side)
                if seconds is not None:
                    tg.start_soon(self.every, index, seconds)

    async def every(self, side: int, seconds: float) -> None:
        while True:
            await self.reconcile(sides=[side])
            await anyio.sleep(seconds)  # a schedule, not a wait for something to happen

    async def reconcile(
        self, maps: Sequence[str] | None = None, sides: Iterable[int] = (0, 1)
    ) -> list[PassReport]:
        """One pass per map (default: all, in config order) and side, one at a time."""
        wanted = [self.ctx.map(name) for name in maps] if maps else self.ctx.config.maps
        reports = []
        self.ctx.activity.add(1)  # a host waiting for quiet waits for the passes too
        try:
            async with self.lock:
                for m in wanted:
                    for side in sides:
                        reports.append(await self.one(m, side))
        finally:
            self.ctx.activity.done()
        return reports

    async def one(self, m: TableMap, side: int) -> PassReport:
        name = self.ctx.side_names[side]
        if m.name in self.held():
            reason = "the map is paused or held"
            report = PassReport(map=m.name, side=name, skipped=True, reason=reason)
            self.ctx.log.info("reconcile_skipped", map=m.name, side=name, reason=report.reason)
            return report
        return await Pass(self.ctx, m, side, self.catch_up).run()


class Pass:
    """One pass over one map and one side (see the module docstring's steps)."""

    def __init__(self, ctx: Context, m: TableMap, side: int, catch_up: CatchUp) -> None:
        self.ctx = ctx
        self.map = m
        self.side = side
        self.catch_up = catch_up
        self.entity = m.entities[side]
        self.seen: set[str] = set()
        self.report = PassReport(map=m.name, side=ctx.side_names[side])

    async def run(self) -> PassReport:
        """Scan, replay, infer deletes; log and return what was done."""
        log, report = self.ctx.log, self.report
        log.info("reconcile_started", map=report.map, side=report.side)
        started = time.monotonic()
        try:
            await self.scan()
            report.complete = True
            await self.deletes()
        except StoreError:
            raise  # fatal for the engine, with the store's message
        except Exception as exc:  # the side failed (or its adapter has a bug): no deletes
            report.reason = str(exc) if isinstance(exc, ReplicatorError) else repr(exc)
        report.seconds = round(time.monotonic() - started, 3)
        fields = msgspec.structs.asdict(report)
        if report.reason:
            log.error("reconcile_failed", **fields)
        else:
            log.info("reconcile_finished", **fields)
        return report

    async def scan(self) -> None:
        limit = self.ctx.config.engine.batch_size
        async for rows in scan_pages(self.ctx.sides[self.side], self.entity, limit):
            self.report.pages += 1
            self.report.requests += 1
            await self.page(rows)
        if not self.report.pages:
            self.report.requests += 1  # the one request that found an empty table

    async def page(self, rows: list[Row]) -> None:
        """Replay the rows of one page that the links and shadows do not account for."""
        m, side, store = self.map, self.side, self.ctx.store
        self.report.scanned += len(rows)
        self.seen.update(r.native_id for r in rows)
        ids = [r.native_id for r in rows if not outside_companies(m, side, r)]
        links = await store.links_by_native(m.name, side, ids)
        held = await store.held_ids(m.name, side, ids)
        by_id = {r.native_id: r for r in rows}
        stale = [
            nid
            for nid in ids
            if nid not in held and needs_replay(m, side, by_id[nid], links.get(nid))
        ]
        await self.replay(stale, "upsert")

    async def deletes(self) -> None:
        """Replay a delete for each linked row of this side gone since its link was made."""
        after, limit = 0, self.ctx.config.engine.batch_size
        while page := await self.ctx.store.linked_ids(self.map.name, self.side, after, limit):
            after = page[-1][0]
            candidates = [nid for _, nid in page if nid not in self.seen]
            if candidates:
                await self.replay(await self.gone(candidates), "delete")

    async def gone(self, candidates: list[str]) -> list[str]:
        """The candidates that name no row of the side now (one ``get``, one ``exists``)."""
        side = self.ctx.sides[self.side]
        found = await side.get(self.entity, candidates)
        self.report.requests += 1
        gone = [nid for nid in candidates if nid not in found]
        if not gone or self.map.filters[self.side] is None:
            return gone
        exists = getattr(side, "exists", None)
        if exists is None:  # gone or filtered out: the side cannot say which
            self.ctx.log.warning(
                "reconcile_deletes_skipped",
                map=self.map.name,
                side=self.report.side,
                rows=len(gone),
                reason="the side has a filter and cannot tell a row gone from one filtered out",
            )
            return []
        there: set[str] = await exists(self.entity, gone)
        self.report.requests += 1
        return [nid for nid in gone if nid not in there]

    async def replay(self, native_ids: list[str], op: Literal["upsert", "delete"]) -> None:
        """Journal a change of each row (its cursor unmoved) and have the router run them."""
        if not native_ids:
            return
        name = self.map.name
        changes = [(name, Change(self.entity, nid, op)) for nid in native_ids]
        await self.ctx.store.replay_journal(self.side, changes)
        if op == "delete":
            self.report.deleted += len(native_ids)
        else:
            self.report.replayed += len(native_ids)
        await self.catch_up(name)

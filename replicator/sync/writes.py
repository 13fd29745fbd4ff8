"""The writes of one map's initial sync: intents, batched writes, conflicts, links.

``MapSync`` (map_sync.py) holds one ``SyncWrites`` for the map's sync and hands it each
planned page. It turns the page's jobs into writes on both sides and then into links or
errors: the intents committed before each side's batch (recovery.py), a second merge for
a row a user changed since the scan, and the commit of what the batch left.

It also owns what the sync queues: the rows that go to the error queue (from the scan,
``SyncReader`` in scan.py, for which it is the ``ErrorSink``; from the planning; and from
its own writes) and the parked rows the planning hands it. ``flush_errors`` commits them,
after each page's writes and at the end of each side's scan.

A row a user changes after the scan makes the sync's conditional write answer
``conflict``: the job is merged again, keeping that change (it is newer than the
sync), and written once more.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import anyio
import msgspec

from .. import failures, mapping, rules
from ..adapter import UNKNOWN_VERSION, Change, Row, Values, WriteOp, WriteResult
from ..config import TableMap
from ..context import Context
from ..errors import RuleViolation, TransientError
from ..model import Commit, ErrorEntry, Intent, Link, Parked

WRITE_RETRIES = 5
MAX_REBASES = 3  # rounds of merging in rows changed since the scan, then the live sync


class SyncReport(msgspec.Struct):
    """What the initial sync of one map did."""

    map: str
    rows: list[int]
    linked: int = 0
    created: list[int] = msgspec.field(default_factory=lambda: [0, 0])
    updated: list[int] = msgspec.field(default_factory=lambda: [0, 0])
    unchanged: int = 0
    errors: int = 0
    parked: int = 0
    seconds: float = 0.0

    def logged(self, side_names: Sequence[str]) -> dict[str, Any]:
        """The report as logged: per-side counts by side name (``{"fno": 3, "crm": 5}``)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        for name in ("rows", "created", "updated"):
            out[name] = dict(zip(side_names, out[name], strict=True))
        return out


class Progress(Protocol):
    """Shows the progress of an initial sync (a bar on a terminal, log lines elsewhere)."""

    def start(self, map_name: str, total: int | None) -> None:
        """A map's sync begins: ``total`` rows to go through, None if not known."""

    def advance(self, done: int) -> None:
        """``done`` rows gone through so far."""

    def finish(self, report: SyncReport) -> None:
        """The map's sync ended with ``report``."""


class Scanned(msgspec.Struct):
    """A scanned row with its canonical values."""

    row: Row
    values: Values


class Job(msgspec.Struct):
    """What the sync does for one integration key: writes per side, then a link or an error."""

    key: tuple[Any, ...]
    rows: list[Scanned | None]
    link: Link | None
    merged: Values = {}
    ops: list[WriteOp | None] = msgspec.field(default_factory=lambda: [None, None])
    results: list[WriteResult | None] = msgspec.field(default_factory=lambda: [None, None])
    error: str = ""
    deferred: list[str] = msgspec.field(default_factory=list)
    link_id: int = 0
    intended: bool = False
    rebases: int = 0
    refused: tuple[int, str] | None = None

    def written(self, side: int) -> Values:
        """What an update of ``side`` changes: the merged values its row does not hold
        (deferred fields aside)."""
        scanned = self.rows[side]
        assert scanned is not None
        changed = rules.diff(self.merged, scanned.values)
        return {f: self.merged[f] for f in changed if f not in self.deferred}

    def held(self, side: int) -> Values:
        """What ``side`` holds once its writes so far are done: the merged values if it
        needs no write or its write applied, else what was scanned."""
        op, result = self.ops[side], self.results[side]
        if op is None or (result is not None and result.status == "applied"):
            return self.merged
        scanned = self.rows[side]
        return scanned.values if scanned is not None else {}


class SyncWrites:
    """Writes planned jobs and commits their outcome, errors and parked rows; see the
    module docstring."""

    def __init__(self, ctx: Context, m: TableMap) -> None:
        self.ctx = ctx
        self.map = m
        self.errors: list[ErrorEntry] = []
        """Error-queue entries collected since the last ``flush_errors``."""
        self.parks: list[Parked] = []
        """Parked rows collected since the last ``flush_errors``."""

    def error(self, side: int, row: Row, kind: str, reason: str, key: str = "") -> None:
        change = Change(self.map.entities[side], row.native_id, "upsert", values=row.values)
        self.errors.append(
            ErrorEntry.first(
                map=self.map.name,
                side=side,
                native_id=row.native_id,
                key=key,
                kind=kind,
                reason=reason,
                change=change,
            )
        )

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

    def park(self, parked: Parked) -> None:
        """Park a record whose lookup waits for a link (committed by ``flush_errors``)."""
        self.parks.append(parked)

    async def flush_errors(self, report: SyncReport) -> None:
        """Commit the errors and parked rows collected so far."""
        commits = [Commit(error=e) for e in self.errors] + [Commit(park=p) for p in self.parks]
        report.errors += len(self.errors)
        self.errors, self.parks = [], []
        if commits:
            await self.ctx.committer.handle(commits)

    def plan_update(self, job: Job, side: int) -> None:
        scanned = job.rows[side]
        assert scanned is not None
        changed = list(job.written(side))
        if changed:
            job.ops[side] = WriteOp(
                self.map.entities[side],
                "update",
                self.ctx.token(job.link_id),
                native_id=scanned.row.native_id,
                values=mapping.side_values(self.map, side, job.merged, changed),
                expected_version=scanned.row.version,
                record_key=mapping.encode_key(job.key),
            )

    async def execute(self, jobs: list[Job], report: SyncReport) -> None:
        """Write a batch of jobs on both sides, then commit their links and errors.

        Before each side's writes their intents are committed (see recovery.py), and the
        commit of the outcomes forgets them. A row a user changed since the scan answers
        ``conflict``: its job is merged again with the change and written once more.
        """
        await self.write_both(jobs)
        for _ in range(MAX_REBASES):
            rebased = [j for j in jobs if self.rebase(j)]
            if not rebased:
                break
            await self.write_both(rebased)
        commits = []
        for job in jobs:
            commit = self.outcome(job, report)
            if job.intended:
                commit = commit or Commit()
                commit.clear_intents = job.link_id
            if commit is not None:
                commits.append(commit)
        await self.flush_errors(report)
        holders = await self.ctx.committer.handle(commits) if commits else []
        refused = [(c, h) for c, h in zip(commits, holders, strict=True) if h is not None]
        for commit, holder in refused:
            if commit.link is not None and not linked_meanwhile(commit.link, holder):
                self.taken(commit.link, holder)
        if refused:  # their writes are done: the error queue holds their outcome
            await self.ctx.committer.handle(
                [Commit(clear_intents=c.clear_intents) for c, _ in refused]
            )
        await self.flush_errors(report)

    def taken(self, link: Link, holder: Link) -> None:
        """A job's link not made: one of its rows is linked to another record already (a
        side gave one id to two rows). Queued, so that a retry links it once that is
        resolved."""
        side = next(s for s in (0, 1) if link.ids[s] is not None and link.ids[s] == holder.ids[s])
        native_id = str(link.ids[side])
        self.ctx.log.warning(
            "native_id_taken",
            map=self.map.name,
            key=link.key,
            side=self.ctx.side_names[side],
            native_id=native_id,
            linked_to=holder.key,
        )
        reason = (
            f"row {native_id} on side {self.ctx.side_names[side]!r} is linked to record"
            f" {holder.key} already"
        )
        change = Change(self.map.entities[side], native_id, "upsert")
        self.errors.append(
            ErrorEntry.first(
                map=self.map.name,
                side=side,
                native_id=native_id,
                key=link.key,
                kind="duplicate",
                reason=reason,
                change=change,
            )
        )

    async def write_both(self, jobs: list[Job]) -> None:
        for side in (0, 1):
            writing = [j for j in jobs if j.ops[side] is not None and j.results[side] is None]
            if writing:
                await self.intend(side, writing)
            await self.write(side, writing)

    def rebase(self, job: Job) -> bool:
        """Merge a job again after an update met a row changed since the scan; True if it
        has writes to make.

        What a user changed on that row since the scan is newer than the sync and is
        kept (unless the other side owns the field; if both rows changed a field, the
        map's conflict policy decides); the rest stays as merged. Deferred lookups stay
        deferred. Each side is then written what it lacks, expecting the version it is
        known at. After ``MAX_REBASES`` rounds a row still changing is linked with only
        what both sides hold (``outcome``) and left to the live sync.
        """
        results = job.results
        if job.rebases >= MAX_REBASES or any(
            r is not None and r.status == "permanent" for r in results
        ):
            return False
        conflicted = {
            side: r.current
            for side, r in enumerate(results)
            if r is not None and r.status == "conflict" and r.current and job.rows[side]
        }
        if not conflicted:
            return False
        job.rebases += 1
        old, merged = job.merged, dict(job.merged)
        edits: dict[str, dict[int, Any]] = {}
        for side, current in conflicted.items():
            scanned = job.rows[side]
            assert scanned is not None
            if current.error is not None:  # unreadable now: linked with what both hold
                return False
            try:
                now = mapping.canonical(self.map, side, current.values)
            except RuleViolation:
                return False
            for f in self.map.all_fields:
                changed = now.get(f.id) != scanned.values.get(f.id)
                if changed and rules.owner(f) in (None, side) and f.id not in job.deferred:
                    edits.setdefault(f.id, {})[side] = now.get(f.id)
            job.rows[side] = Scanned(current, now)
        changed_at = tuple(
            c.changed_at if c else None for c in (conflicted.get(0), conflicted.get(1))
        )
        winner = rules.conflict_winner(self.map, changed_at, self.map.initial_master)
        for field, by_side in edits.items():
            merged[field] = by_side.get(winner, next(iter(by_side.values())))
        job.merged = merged
        for side in (0, 1):
            op, result, scanned = job.ops[side], results[side], job.rows[side]
            if side not in conflicted and op is not None and result is not None:
                if result.status != "applied":
                    continue  # still failing: left as it is
                written = {k: v for k, v in old.items() if k not in job.deferred}
                held = {**(scanned.values if scanned else {}), **written}
                if not [k for k in rules.diff(merged, held) if k not in job.deferred]:
                    continue  # the write made holds the new merge too
                job.rows[side] = Scanned(
                    Row(str(result.native_id), str(result.version), held), held
                )
            elif job.rows[side] is None:
                continue
            job.ops[side] = results[side] = None
            try:
                self.plan_update(job, side)
            except RuleViolation as exc:  # a strict value map refuses a user's value:
                job.refused = (side, str(exc))  # the record goes to the error queue
                return False
        return any(op is not None for op in job.ops)

    async def intend(self, side: int, jobs: list[Job]) -> None:
        intents = []
        now = time.time()
        for job in jobs:
            op = job.ops[side]
            assert op is not None
            written = job.written(side) if op.op == "update" else None
            intents.append(
                Intent(
                    token=op.token,
                    side=side,
                    link=self.after(job, side, op),
                    created_at=now,
                    written=written,
                )
            )
            job.intended = True
        await self.ctx.committer.handle([Commit(intents=intents)])

    def after(self, job: Job, side: int, op: WriteOp) -> Link:
        """The job's link if its write on ``side`` applies (the version there unknown).

        Its shadow holds only what both sides then hold: a field the other side is still
        to receive keeps its old shadow value (or none), so that a crash before that write
        leaves a link the live sync can trust, and a rerun decides that field again. For
        the same reason the other side's version is unknown while its row does not hold
        that shadow: ``rules.after_write``, the live pipeline's rule too (``Pair.after``),
        but for a side with no row yet, whose version stays None (``keep_none``).
        """
        other = 1 - side
        ids: list[str | None] = [r.row.native_id if r else None for r in job.rows]
        versions: list[str | None] = [r.row.version if r else None for r in job.rows]
        tokens: list[str | None] = list(job.link.tokens) if job.link else [None, None]
        result, done = job.results[other], job.ops[other]
        if result is not None and done is not None and result.status == "applied":
            ids[other] = result.native_id or ids[other]
            versions[other], tokens[other] = result.version, done.token
        if op.op == "insert":
            ids[side] = None
        versions[side], tokens[side] = UNKNOWN_VERSION, op.token
        base = job.link.shadow if job.link else {}
        after = rules.after_write(base, side, job.merged, job.held(other), versions, keep_none=True)
        return Link(
            id=job.link_id,
            map=self.map.name,
            key=mapping.encode_key(job.key),
            ids=ids,
            versions=after.versions,
            shadow=after.shadow,
            tokens=tokens,
        )

    async def write(self, side: int, jobs: list[Job]) -> None:
        pending = jobs
        for attempt in range(WRITE_RETRIES + 1):
            if not pending:
                return
            ops = [j.ops[side] for j in pending]
            results = await self.ctx.writers[side].handle([op for op in ops if op is not None])
            for job, result in zip(pending, results, strict=True):
                job.results[side] = result
            pending = [j for j in pending if (r := j.results[side]) and r.status == "transient"]
            if pending and attempt < WRITE_RETRIES:
                await anyio.sleep(0.1 * 2**attempt)
        if pending:
            raise TransientError(
                f"side {self.ctx.side_names[side]!r} kept failing: {pending[0].results[side]}"
            )

    def outcome(self, job: Job, report: SyncReport) -> Commit | None:
        """The link (or error) a written job leaves."""
        ids: list[str | None] = [r.row.native_id if r else None for r in job.rows]
        versions: list[str | None] = [r.row.version if r else None for r in job.rows]
        tokens: list[str | None] = [None, None]
        if job.refused is not None:
            self.job_error(job, *job.refused)
            return None
        held = [job.held(0), job.held(1)]
        for side in (0, 1):
            result, op = job.results[side], job.ops[side]
            if result is None or op is None:
                continue
            if result.status == "permanent":
                self.job_error(job, side, result.reason)
                return None
            if result.status == "conflict" and result.current is not None:
                # the row changed (again): it does not hold the merge; the link keeps only
                # what both sides hold, and the live sync reconciles the rest
                ids[side], versions[side] = result.current.native_id, UNKNOWN_VERSION
                held[side] = self.canonical_or_none(side, result.current)
                continue
            ids[side] = result.native_id or ids[side]
            versions[side], tokens[side] = result.version, op.token
            counter = report.created if op.op == "insert" else report.updated
            counter[side] += 1
        base = job.link.shadow if job.link else {}
        shadow = {k: base[k] for k in job.merged if k in base}
        shadow.update(
            (k, v) for k, v in job.merged.items() if held[0].get(k) == v and held[1].get(k) == v
        )
        return self.link_commit(job, ids, versions, tokens, shadow, report)

    def canonical_or_none(self, side: int, row: Row) -> Values:
        if row.error is not None:
            return {}
        try:
            return mapping.canonical(self.map, side, row.values)
        except RuleViolation:
            return {}

    def job_error(self, job: Job, side: int, reason: str) -> None:
        source = next(i for i, r in enumerate(job.rows) if r is not None)
        scanned = job.rows[source]
        assert scanned is not None
        self.error(
            source,
            scanned.row,
            "permanent",
            f"writing to {self.ctx.side_names[side]!r}: {reason}",
            mapping.encode_key(job.key),
        )

    def link_commit(
        self,
        job: Job,
        ids: list[str | None],
        versions: list[str | None],
        tokens: list[str | None],
        shadow: Values,
        report: SyncReport,
    ) -> Commit:
        link = Link(
            id=job.link_id,
            map=self.map.name,
            key=mapping.encode_key(job.key),
            ids=ids,
            versions=versions,
            shadow=shadow,
            tokens=tokens,
        )
        report.linked += 1
        return Commit(link=link, resolve=None)


def linked_meanwhile(link: Link, holder: Link) -> bool:
    """Whether ``holder`` is this very pair, linked by the live sync while the job ran (a
    re-sync beside an actor still at work on the record): nothing to queue, the live
    sync owns the record and reconciles what the job wrote."""
    return holder.key == link.key and list(holder.ids) == list(link.ids)

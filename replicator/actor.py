"""A record actor: owns one link, handles its changes one at a time, in order.

The router starts an actor on demand for a link id (or a provisional id for a record
not linked yet) and the actor stops as soon as its mailbox is empty and its last step
is committed: its state lives in the store, so memory follows activity, not table size.

Each change is handled against the current values of the changed row:

* an echo of our own write (its token is the link's last token for that side) is dropped;
* a delete follows the delete rule;
* a row not linked yet is matched by integration key on the other side, or created
  there if the create rule allows its side (else it goes to the error queue);
* a linked row is reconciled: a three-way merge of both sides against the shadow,
  written back with conditional writes (see ``reconcile``).
"""

from __future__ import annotations

import random
import time

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream

from . import lookups, mapping, rules
from .adapter import Row, Values, WriteOp, WriteResult
from .config import TableMap
from .context import Context
from .errors import PermanentError, RuleViolation, SchemaError, TransientError
from .model import Commit, ErrorEntry, JournalEntry, Link, Outcome, Parked

MAX_CONFLICT_ROUNDS = 8


class Step(Exception):
    """Ends the handling of one change with an outcome (raised from deep inside)."""

    def __init__(self, outcome: Outcome, reason: str = "", kind: str = "") -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.kind = kind


class RecordActor:
    """Handles the changes of one record. ``run`` drains the mailbox, then returns."""

    def __init__(
        self,
        ctx: Context,
        m: TableMap,
        link_id: int,
        mailbox: MemoryObjectReceiveStream[JournalEntry],
        link: Link | None,
    ) -> None:
        self.ctx = ctx
        self.map = m
        self.link_id = link_id
        self.mailbox = mailbox
        self.link = link
        self.deleted_key: str | None = None

    async def run(self) -> None:
        """Handle changes until the mailbox is empty (the router passed the stored link)."""
        while True:
            try:
                entry = self.mailbox.receive_nowait()
            except anyio.WouldBlock:
                return
            await self.handle(entry)

    async def handle(self, entry: JournalEntry) -> None:
        """Handle one change, retrying transient failures, and commit its outcome."""
        attempt = 0
        self.change_id = entry.id
        while True:
            self.waiting_for: list[lookups.Reference] = []
            self.read: Row | None = None  # the changed row, as ``current`` found it
            try:
                outcome = await self.process(entry)
                commit = self.success(entry)
                reason = ""
                break
            except Step as step:
                outcome, reason = step.outcome, step.reason
                commit = (
                    self.failure(entry, step)
                    if step.outcome in ("rejected", "error")
                    else self.success(entry)
                )
                break
            except TransientError as exc:
                attempt += 1
                await self.backoff(entry, attempt, exc)
            except (PermanentError, SchemaError) as exc:  # a side cannot serve the record
                outcome, reason = "error", str(exc)  # (e.g. a column dropped): queue it
                commit = self.failure(entry, Step("error", reason, "permanent"))
                break
        await self.ctx.committer.submit(commit)
        if commit.park is not None:
            await self.ctx.parking.recheck(self.waiting_for[0])
        self.ctx.inflight_ids.discard(entry.id)
        self.ctx.activity.done()
        self.report(entry, outcome, reason)

    async def backoff(self, entry: JournalEntry, attempt: int, exc: TransientError) -> None:
        knobs = self.ctx.config.engine
        delay = min(knobs.retry_max_s, knobs.retry_first_s * 2 ** min(attempt, 20))
        delay *= random.uniform(0.5, 1.5)  # jitter: retries of many records spread out
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        self.ctx.log.warning(
            "retrying",
            map=self.map.name,
            side=self.side_name(entry.side),
            change_id=entry.id,
            key=self.key or self.entry_key(entry),
            attempt=attempt,
            delay_s=round(delay, 3),
            reason=str(exc),
        )
        self.link = await self.ctx.store.link(self.link_id)
        await anyio.sleep(delay)

    @property
    def key(self) -> str | None:
        return self.link.key if self.link else None

    def side_name(self, side: int) -> str:
        return self.ctx.side_names[side]

    def report(self, entry: JournalEntry, outcome: Outcome, reason: str) -> None:
        level = "debug" if outcome in ("echo", "noop", "filtered") else "info"
        if outcome in ("rejected", "error"):
            level = "error"
        getattr(self.ctx.log, level)(
            "change",
            map=self.map.name,
            key=self.key or self.deleted_key or self.entry_key(entry),
            side=self.side_name(entry.side),
            change_id=entry.id,
            native_id=entry.change.native_id,
            op=entry.change.op,
            outcome=outcome,
            **({"reason": reason} if reason else {}),
            latency_ms=round((time.time() - entry.received_at) * 1000, 1),
        )

    def entry_key(self, entry: JournalEntry) -> str | None:
        values = entry.change.values
        if values is None:
            return None
        try:
            return mapping.encode_key(
                mapping.key_of(self.map, mapping.canonical(self.map, entry.side, values))
            )
        except RuleViolation:
            return None

    def success(self, entry: JournalEntry) -> Commit:
        link = self.link
        dropped = link is None
        return Commit(
            acks=[entry.id],
            link=link,
            drop_link=self.link_id if dropped else None,
            resolve=(self.map.name, entry.side, entry.change.native_id),
            park=self.parked(entry),
        )

    def failure(self, entry: JournalEntry, step: Step) -> Commit:
        now = time.time()
        if entry.change.values is None and self.read is not None:  # a retry or a release:
            change = msgspec.structs.replace(  # queue what was refused, with its key
                entry.change, values=self.read.values, version=self.read.version
            )
            entry = msgspec.structs.replace(entry, change=change)
        error = ErrorEntry(
            0,
            self.map.name,
            entry.side,
            entry.change.native_id,
            self.key or self.entry_key(entry) or "",
            step.kind or "error",
            step.reason,
            1,
            now,
            now,
            entry.change,
        )
        return Commit(
            acks=[entry.id],
            link=self.link,
            drop_link=self.link_id if self.link is None else None,
            error=error,
        )

    # -- handling one change -----------------------------------------------------------

    async def process(self, entry: JournalEntry) -> Outcome:
        s, change = entry.side, entry.change
        link = self.link
        if link is not None and change.token is not None and change.token == link.tokens[s]:
            return "echo"
        if change.op == "delete":
            return await self.on_delete(s, change.native_id)
        row = self.read = await self.current(s, entry)
        if row is None:
            return "filtered"
        values = self.canonical(s, row)
        if not rules.in_companies(self.map, values):
            return "filtered"
        values = await self.resolve_references(values)
        if link is None:
            return await self.on_new(s, row, values)
        if link.ids[s] != row.native_id:
            raise Step(
                "rejected",
                f"duplicate key {link.key} on side {self.side_name(s)!r}: "
                f"row {row.native_id} has the key of row {link.ids[s]}",
                "duplicate",
            )
        return await self.reconcile(Pair(link, s, {s: (row, values)}))

    async def resolve_references(self, values: Values) -> Values:
        """Park on a lookup target that is not linked; defer lookups into this map.

        A deferred field is written as if unchanged (the shadow's value, or empty for a new
        record) and the record waits for its target, to be patched when it is linked.
        """
        out = dict(values)
        for ref in lookups.references(self.map, self.ctx.maps, values):
            if not await self.ctx.parking.missing(ref):
                continue
            self.waiting_for.append(ref)
            if ref.map != self.map.name:
                raise Step("parked", f"waiting for {ref.describe()}")
            out[ref.field] = self.link.shadow.get(ref.field) if self.link else None
        return out

    def parked(self, entry: JournalEntry) -> Parked | None:
        """The parked row for what this record waits for, if anything."""
        if not self.waiting_for:
            return None
        ref = self.waiting_for[0]
        what = "patch of" if ref.map == self.map.name else "waiting for"
        key = self.key or self.entry_key(entry) or ""
        reason = f"{what} {ref.describe()}"
        return Parked(
            self.map.name,
            entry.side,
            entry.change.native_id,
            key,
            ref.map,
            ref.encoded,
            reason,
            time.time(),
        )

    async def current(self, s: int, entry: JournalEntry) -> Row | None:
        """The changed row as it is now (``None`` if gone or filtered out).

        A change's own values were read with the feed and may be stale by now: the row
        may have been written since (merging old values would undo that write) or
        deleted (linking it would pull a dead row's values into the other side, and its
        delete would then take the partner with it). They are used only when they are
        the state the link already holds; else the row is read again.
        """
        change = entry.change
        link = self.link
        fresh = link is not None and link.versions[s] == change.version
        if change.values is not None and change.version is not None and fresh:
            return Row(change.native_id, change.version, change.values, change.changed_at)
        rows = await self.ctx.sides[s].get(self.map.entities[s], [change.native_id])
        return rows.get(change.native_id)

    async def on_delete(self, s: int, native_id: str) -> Outcome:
        link = self.link
        if link is None or link.ids[s] != native_id:
            return "noop"
        t = 1 - s
        self.link = None
        self.deleted_key = link.key
        if not rules.may_delete(self.map, s):
            raise Step(
                "rejected",
                f"deleted on {self.side_name(s)!r}, but map "
                f"{self.map.name!r} replicates deletes only from "
                f"{self.sides_text(self.map.delete)}; the row on "
                f"{self.side_name(t)!r} is kept and unlinked",
                "rule",
            )
        op = WriteOp(
            self.map.entities[t], "delete", self.ctx.token(self.link_id), native_id=link.ids[t]
        )
        result = await self.write(t, op)
        if result.status == "permanent":
            raise Step("error", result.reason, "permanent")
        return "applied"

    def sides_text(self, sides: frozenset[int]) -> str:
        return ", ".join(repr(self.side_name(i)) for i in sorted(sides)) or "no side"

    async def on_new(self, s: int, row: Row, values: Values) -> Outcome:
        t = 1 - s
        missing = mapping.missing_key_fields(self.map, s, values)
        if missing:
            raise Step(
                "rejected",
                f"integration key field(s) {missing} empty on side {self.side_name(s)!r}",
                "rule",
            )
        key = mapping.key_of(self.map, values)
        found = await self.ctx.sides[t].find(
            self.map.entities[t], self.map.key_names(t), [mapping.side_key(self.map, t, key)]
        )
        existing = next(iter(found.values()), None)
        link = Link.new(self.link_id, self.map.name, mapping.encode_key(key))
        link.ids[s] = row.native_id
        if existing is None:
            existing = await self.create(s, row, values, link)
            if existing is None:
                return "applied"
        link.ids[t] = existing.native_id
        self.link = link
        other = self.canonical(t, existing)
        return await self.reconcile(Pair(link, s, {s: (row, values), t: (existing, other)}))

    async def create(self, s: int, row: Row, values: Values, link: Link) -> Row | None:
        """Insert the record on the other side; its row if one with the key appeared."""
        t = 1 - s
        if not rules.may_create(self.map, s):
            raise Step(
                "rejected",
                rules.create_refused(self.map, s, self.ctx.side_names),
                "rule",
            )
        if not await self.ctx.sides[s].get(self.map.entities[s], [row.native_id]):
            raise Step(  # the change's values are stale: re-creating it would resurrect it
                "conflict",
                f"row {row.native_id} was deleted on {self.side_name(s)!r} meanwhile; "
                "the delete wins",
            )
        token = self.ctx.token(self.link_id)
        op = WriteOp(
            self.map.entities[t],
            "insert",
            token,
            values=self.target_values(t, values),
            key_fields=self.map.key_names(t),
        )
        result = await self.write(t, op)
        if result.status == "conflict" and result.current is not None:
            return result.current
        self.check(result)
        link.ids[t] = result.native_id
        link.versions = [None, None]
        link.versions[s], link.versions[t] = row.version, result.version
        link.tokens[t] = token
        link.shadow = values
        self.link = link
        return None

    def canonical(self, side: int, row: Row) -> Values:
        try:
            return mapping.canonical(self.map, side, row.values)
        except RuleViolation as exc:
            raise Step("rejected", str(exc), "rule") from exc

    def target_values(self, t: int, values: Values) -> Values:
        try:
            return mapping.side_values(self.map, t, values)
        except RuleViolation as exc:
            raise Step("rejected", str(exc), "rule") from exc

    async def write(self, side: int, op: WriteOp) -> WriteResult:
        result = await self.ctx.writers[side].submit(op)
        if result.status == "transient":
            raise TransientError(result.reason, retry_after=result.retry_after)
        return result

    def check(self, result: WriteResult) -> None:
        if result.status == "permanent":
            raise Step("error", result.reason, "permanent")
        if result.status == "conflict":
            raise TransientError(f"write conflict: {result.reason}")

    # -- the reconcile loop -------------------------------------------------------------

    async def reconcile(self, pair: Pair) -> Outcome:
        """Merge both sides against the shadow and write what differs, conditionally.

        A side whose row we did not read is assumed to hold the shadow at the link's
        version; if that is wrong the conditional write answers ``conflict`` with the
        current row and the merge runs again with it.
        """
        outcome: Outcome = "noop"
        for _ in range(MAX_CONFLICT_ROUNDS):
            winner = rules.conflict_winner(self.map, pair.changed_at, pair.source)
            merged = rules.merge(self.map, pair.link.shadow, (pair.vals[0], pair.vals[1]), winner)
            self.log_conflicts(pair, merged)
            if merged.conflicts:
                outcome = "conflict"
            retry = False
            for side in (1 - pair.source, pair.source):
                wrote = await self.write_side(pair, side, merged.values)
                if wrote is None:
                    retry = True
                    break
                if wrote and outcome == "noop":
                    outcome = "applied"
            if not retry:
                pair.settle(merged.values)
                pair.link.key = mapping.encode_key(mapping.key_of(self.map, merged.values))
                return outcome
        raise TransientError(f"the record kept changing during {MAX_CONFLICT_ROUNDS} merges")

    async def write_side(self, pair: Pair, side: int, merged: Values) -> bool | None:
        """Write the fields of ``side`` that differ: True if written, None on a conflict."""
        changed = rules.diff(merged, pair.vals[side])
        if not changed:
            return False
        link = pair.link
        token = self.ctx.token(self.link_id)
        op = WriteOp(
            self.map.entities[side],
            "update",
            token,
            native_id=link.ids[side],
            values=self.target_values(side, {k: merged[k] for k in changed}),
            expected_version=pair.versions[side],
        )
        result = await self.write(side, op)
        if result.status == "conflict":
            if result.current is None:
                raise Step(
                    "conflict",
                    f"row {link.ids[side]} was deleted on "
                    f"{self.side_name(side)!r} meanwhile; the delete wins",
                )
            pair.known(side, result.current, self.canonical(side, result.current))
            return None
        self.check(result)
        link.tokens[side] = token
        pair.wrote(side, result.version, merged)
        return True

    def log_conflicts(self, pair: Pair, merged: rules.Merge) -> None:
        for c in merged.conflicts:
            self.ctx.log.warning(
                "conflict",
                map=self.map.name,
                key=pair.link.key,
                field=c.field,
                side=self.side_name(pair.source),
                change_id=self.change_id,
                base=c.base,
                **{self.side_name(i): c.values[i] for i in (0, 1)},
                winner=self.side_name(c.winner),
                policy=self.map.conflict
                if self.map.conflict == "newest"
                else self.side_name(int(self.map.conflict)),
            )


class Pair:
    """Both sides of a link during a reconcile: values known or assumed, and versions."""

    def __init__(self, link: Link, source: int, rows: dict[int, tuple[Row, Values]]) -> None:
        self.link = link
        self.source = source
        self.vals: list[Values] = [dict(link.shadow), dict(link.shadow)]
        self.versions: list[str | None] = list(link.versions)
        self.changed_at: list[float | None] = [None, None]
        for side, (row, values) in rows.items():
            self.known(side, row, values)

    def known(self, side: int, row: Row, values: Values) -> None:
        self.vals[side] = values
        self.versions[side] = row.version
        self.changed_at[side] = row.changed_at

    def wrote(self, side: int, version: str | None, merged: Values) -> None:
        """``side`` now holds ``merged``: fields both sides hold become the shadow."""
        self.vals[side] = dict(merged)
        self.versions[side] = version
        other = self.vals[1 - side]
        for k, v in merged.items():
            if other.get(k) == v:
                self.link.shadow[k] = v

    def settle(self, merged: Values) -> None:
        """Both sides hold ``merged``: it is the new shadow; the key follows it."""
        self.link.shadow = dict(merged)
        self.link.versions = list(self.versions)

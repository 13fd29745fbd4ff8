"""A record actor: owns one link, handles its changes one at a time, in order.

The router starts an actor on demand for a link id (or a provisional id for a record
not linked yet) and the actor stops as soon as its mailbox is empty and its last step
is committed: its state lives in the store, so memory follows activity, not table size.

How a change is applied (echo, delete, new record, reconcile) is in apply.py; this
module is the lifecycle around it: the mailbox, retries with backoff, the commit of each
outcome, and the ``change`` log event.

**Why the actor stays a coroutine with a mailbox** (issue 10's design call). The
pipeline is batched at every stage an actor waits on: the router resolves a dispatch with
a few queries (lookup.py), the readers turn the actors' row reads into one side call per
entity (reader.py), the writers their writes into one transaction (writer.py), and the
committer their intents and outcomes into one state-store transaction, one thread hop
(committer.py). Hundreds of actors in flight each wait at one of those stages, so each
stage's batch is made of many records' work, and the stages overlap: one batch of
writes runs while the next batch's reads and the previous batch's commit do. The actor
itself stays a plain sequential coroutine, which keeps what DESIGN §3 needs easy to
see: one change at a time per record (per-record order), the actor as the only owner
of its link while it runs, the intent committed before the write it announces.

What a record costs beyond its own work is kept small rather than removed: its mailbox
is a deque (actors.py), it runs in a worker task the directory reuses from one actor to the
next instead of starting a task per record, a batch's waiters share one event
(batcher.py), and nothing hands an item on through a pass of the event loop when there is
room. Measured on the live benchmark, those waits were most of a change's CPU; what is
left is the merge itself and the state store's encoding. A state machine driven by a
batch loop would save the last per-record awaits, at the cost of turning this
straight-line code into explicit states; the stage boundaries above are where its
batches would go, if the per-record cost must fall further.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol

import anyio
import msgspec

from .. import failures
from ..config import TableMap
from ..context import Context
from ..errors import PermanentError, SchemaError, StoreError, TransientError
from ..model import Commit, ErrorEntry, JournalEntry, Link, Outcome
from .apply import Applier, Decision


class Owner(Protocol):
    """What an actor tells the directory that runs it (actors.py)."""

    writing: dict[str, tuple[int, str]]
    """Where its writes' tokens are registered while it runs (``Applier.intend``)."""

    def finished(self, entry: JournalEntry) -> None:
        """``entry``'s outcome is committed."""

    def requeue(self, entry: JournalEntry, link_id: int) -> None:
        """Hand ``entry`` back: routed again, by its own link or key, once ``link_id``'s
        actor is done (another row its write touched)."""


class RecordActor:
    """Handles the changes of one record. ``run`` drains the mailbox, then returns.

    ``record`` (apply.py) is the record's link and the steps that apply a change to it;
    the actor is their lifecycle: one change at a time, retries, commits and the log.
    """

    def __init__(
        self,
        ctx: Context,
        m: TableMap,
        link_id: int,
        mailbox: deque[JournalEntry],
        link: Link | None,
        owner: Owner,
    ) -> None:
        self.ctx = ctx
        self.map = m
        self.link_id = link_id
        self.mailbox = mailbox
        self.owner = owner
        self.record = Applier(ctx, m, link_id, link, owner.writing)

    async def run(self) -> None:
        """Handle changes until the mailbox is empty (the router passed the stored link)."""
        while self.mailbox:
            await self.handle(self.mailbox.popleft())

    async def handle(self, entry: JournalEntry) -> None:
        """Handle one change, retrying transient failures, and commit its outcome."""
        attempt = 0
        while True:
            decided = await self.decide(entry)
            if decided is None:
                return
            outcome, reason, commit = decided
            if (
                self.record.intended
            ):  # the step's outcome is committed with it: its intents are done
                commit.clear_intents = self.link_id
            holder = await self.ctx.committer.submit(commit)
            if holder is None:
                break
            attempt += 1  # not made: another record holds a row this step linked
            await self.backoff(entry, attempt, self.taken(commit, holder))
        self.record.intended = False
        if commit.park is not None:
            await self.ctx.parking.recheck(self.record.waiting_for[0])
        self.owner.finished(entry)
        self.report(entry, outcome, reason)

    async def decide(self, entry: JournalEntry) -> tuple[Outcome, str, Commit] | None:
        """Apply one change, retrying transient failures: its outcome, reason and commit
        (None if it was handed back to be routed again)."""
        attempt = 0
        while True:
            self.record.begin(entry)
            try:
                return await self.attempt(entry)
            except TransientError as exc:
                attempt += 1
                await self.backoff(entry, attempt, exc)

    async def attempt(self, entry: JournalEntry) -> tuple[Outcome, str, Commit] | None:
        """One try at a change: its outcome, reason and commit (None if handed back).

        A ``TransientError`` propagates (``decide`` retries); a ``StoreError`` too (fatal
        for the engine); any other exception fails only this record (failures.py).
        """
        try:
            decision = await self.record.process(entry)
            if decision.outcome not in ("requeued", "rejected", "error"):  # (in the try: a bug
                return decision.outcome, decision.reason, self.success(entry)  # queues it too)
        except (PermanentError, SchemaError) as exc:  # a side cannot serve the record
            decision = Decision("error", str(exc), "permanent")  # (e.g. a column dropped)
        except (TransientError, StoreError):
            raise
        except Exception as exc:  # a bug met by this record alone: queue it, go on
            decision = await self.unexpected(entry, exc)
        if decision.outcome == "requeued":
            self.owner.requeue(entry, self.link_id)
            self.report(entry, decision.outcome, decision.reason)
            return None
        failed = decision.outcome in ("rejected", "error")
        commit = self.failure(entry, decision) if failed else self.success(entry)
        return decision.outcome, decision.reason, commit

    async def unexpected(self, entry: JournalEntry, exc: Exception) -> Decision:
        """Log the failure of the record whose handling raised ``exc``, to be queued with
        the link as last committed (the step may have changed it half-way)."""
        self.record.link = await self.ctx.store.link(self.link_id)
        reason = failures.record_failed(
            self.ctx.log,
            exc,
            map_name=self.map.name,
            key=self.record.key or self.record.deleted_key or self.record.entry_key(entry),
            side=self.record.side_name(entry.side),
            change_id=entry.id,
        )
        return Decision("error", reason, failures.KIND)

    def taken(self, commit: Commit, holder: Link) -> TransientError:
        """Log that the step's link met ``holder`` on a native id; the error to retry on."""
        link = commit.link
        assert link is not None
        side = next(s for s in (0, 1) if link.ids[s] is not None and link.ids[s] == holder.ids[s])
        self.ctx.log.warning(
            "native_id_taken",
            map=self.map.name,
            key=link.key,
            side=self.record.side_name(side),
            change_id=self.record.change_id,
            native_id=link.ids[side],
            linked_to=holder.key,
        )
        return TransientError(
            f"row {link.ids[side]} on side {self.record.side_name(side)!r} is still linked to"
            f" record {holder.key}: waiting for that record's delete"
        )

    async def backoff(self, entry: JournalEntry, attempt: int, exc: TransientError) -> None:
        delay = self.ctx.config.engine.backoff().delay(attempt, exc.retry_after)
        key = self.record.key or self.record.entry_key(entry)
        self.ctx.observers.retrying(entry, self.record.side_name(entry.side), key, str(exc))
        self.ctx.log.warning(
            "retrying",
            map=self.map.name,
            side=self.record.side_name(entry.side),
            change_id=entry.id,
            key=key,
            attempt=attempt,
            delay_s=round(delay, 3),
            reason=str(exc),
        )
        self.record.link = await self.ctx.store.link(self.link_id)
        await anyio.sleep(delay)

    def report(self, entry: JournalEntry, outcome: Outcome, reason: str) -> None:
        key = self.record.key or self.record.deleted_key or self.record.entry_key(entry)
        self.ctx.observers.decided(entry, self.record.side_name(entry.side), key, outcome, reason)
        level = "debug" if outcome in ("echo", "noop", "filtered") else "info"
        if outcome in ("rejected", "error"):
            level = "error"
        getattr(self.ctx.log, level)(
            "change",
            map=self.map.name,
            key=key,
            side=self.record.side_name(entry.side),
            change_id=entry.id,
            native_id=entry.change.native_id,
            op=entry.change.op,
            outcome=outcome,
            **({"reason": reason} if reason else {}),
            latency_ms=round((time.time() - entry.received_at) * 1000, 1),
        )

    def success(self, entry: JournalEntry) -> Commit:
        link = self.record.link
        dropped = link is None
        return Commit(
            acks=[entry.id],
            link=link,
            drop_link=self.link_id if dropped else None,
            resolve=(self.map.name, entry.side, entry.change.native_id),
            park=self.record.parked(entry),
        )

    def failure(self, entry: JournalEntry, decision: Decision) -> Commit:
        """The commit that queues the record ``decision`` refused (``rejected``, ``error``)."""
        if entry.change.values is None and self.record.read is not None:  # a retry or a release:
            change = msgspec.structs.replace(  # queue what was refused, with its key
                entry.change, values=self.record.read.values, version=self.record.read.version
            )
            entry = msgspec.structs.replace(entry, change=change)
        error = ErrorEntry.first(
            map=self.map.name,
            side=entry.side,
            native_id=entry.change.native_id,
            key=self.record.key or self.record.entry_key(entry) or "",
            kind=decision.kind or "error",
            reason=decision.reason,
            change=entry.change,
        )
        return Commit(
            acks=[entry.id],
            link=self.record.link,
            drop_link=self.link_id if self.record.link is None else None,
            error=error,
        )

    # -- handling one change -----------------------------------------------------------

"""The directory of running record actors: their mailboxes, the workers that run them,
and the provisional ids of records not linked yet.

The router (router.py) decides which record a change belongs to; this module owns what
that needs to know of the actors at work. A record has at most one actor; while it runs,
its later changes queue in its mailbox, in order, and the actor is the only owner of its
link. It ends once the mailbox is empty and its last step is committed, with no await in
between, so memory follows activity, not table size.

A record not linked yet is known by its integration key: the first change of a key gets
a provisional id (a fresh link id), and every row that meets the same key while that
actor runs is routed to it, so two sides creating one record at once meet in one actor.

Workers: starting a task costs more than waking one, so the task that ran an actor waits
for the next one (up to ``SPARE_WORKERS`` wait; the rest end).
"""

from __future__ import annotations

from collections import deque

import anyio
from anyio.abc import TaskGroup

from ..config import TableMap
from ..context import Context
from ..model import JournalEntry, Link
from .actor import RecordActor
from .replay import Replay

BATCH = 500
"""The most entries the router dispatches at once."""

SPARE_WORKERS = 2 * BATCH
"""The most workers that wait for an actor to run once theirs is done: a dispatch may
start ``BATCH`` actors at once, and the next one as many while those run."""

Native = tuple[str, int, str]
"""A row: (map, side, native id)."""
RecordKey = tuple[str, str]
"""A record by integration key: (map, encoded key)."""
ActorJob = tuple[TableMap, int, Link | None]
"""An actor to run: its map, its link (or provisional) id and its link as stored."""


class _Idle:
    """A worker waiting for its next actor."""

    __slots__ = ("wake", "job")

    def __init__(self) -> None:
        self.wake = anyio.Event()
        self.job: ActorJob | None = None


class Actors:
    """The running actors, by link (or provisional) id; see the module docstring.

    ``replay`` (replay.py) is told when an entry is done (``finished``), left in the journal
    (``hold_back``), and when an actor ends that had changes held back there (``released``:
    its mailbox was full, or it handed a change back): the map catches up then.
    """

    def __init__(self, ctx: Context, tg: TaskGroup, replay: Replay) -> None:
        self.ctx = ctx
        self.tg = tg
        self.replay = replay
        self.writing: dict[str, tuple[int, str]] = {}
        """The tokens of running actors' writes: (link id, map). The router sends the echo
        of a row they inserted, not linked yet, to the actor that wrote it."""
        self.mailboxes: dict[int, deque[JournalEntry]] = {}
        self.idle: list[_Idle] = []
        self.limiter = anyio.CapacityLimiter(ctx.config.engine.max_actors)
        self.provisional: dict[RecordKey, int] = {}
        """The provisional id of each record not linked yet whose actor runs."""
        self.provisional_of: dict[int, tuple[RecordKey, list[Native]]] = {}
        self.busy_rows: dict[Native, int] = {}
        """The actor each row not linked (yet) was routed to, while it runs."""
        self.adopted: dict[int, list[Native]] = {}
        self.overflowed: set[int] = set()
        """Actors with changes held back in the journal (see ``released``)."""
        self.ended: set[int] = set()
        self.ended_keys: set[RecordKey] = set()
        """The records whose actors ended since the dispatch's lookup (``new_dispatch``)."""
        self.next_id = 0

    async def start(self) -> None:
        self.next_id = await self.ctx.store.next_link_id()

    def new_dispatch(self) -> None:
        """A dispatch looks links up now: from here on, actors that end may leave them stale."""
        self.ended.clear()
        self.ended_keys.clear()

    def running(self, link_id: int) -> bool:
        return link_id in self.mailboxes

    def busy_with(self, native: Native) -> int | None:
        """The running actor a row not linked was routed to (maybe on a reused id)."""
        return self.busy_rows.get(native)

    def adopt(self, link_id: int, native: Native) -> None:
        """Route the row ``native`` (the echo of ``link_id``'s insert) to that actor."""
        self.busy_rows[native] = link_id
        self.adopted.setdefault(link_id, []).append(native)

    def provisional_id(self, record: RecordKey) -> int | None:
        return self.provisional.get(record)

    def ended_since_lookup(self, record: RecordKey) -> bool:
        """Whether the record's actor ended since the dispatch's lookup (it may have
        stored the record's link since)."""
        return record in self.ended_keys

    def route_new(self, record: RecordKey, native: Native) -> int:
        """The provisional id of a record not linked, fresh if none runs, for ``native``."""
        provisional = self.provisional.get(record)
        if provisional is None:
            provisional = self.next_id
            self.next_id += 1
            self.provisional[record] = provisional
            self.provisional_of[provisional] = (record, [])
        self.busy_rows[native] = provisional
        self.provisional_of[provisional][1].append(native)
        return provisional

    def overflow(self, link_id: int) -> None:
        """A change of ``link_id`` was held back in the journal: catch up once it ends."""
        self.overflowed.add(link_id)

    def finished(self, entry: JournalEntry) -> None:
        """An actor committed an entry's outcome."""
        self.replay.finished(entry)

    def requeue(self, entry: JournalEntry, link_id: int) -> None:
        """An actor hands back a change that is not its record's (another row its write
        touched): it is routed again, by its own link or key, once that actor is done."""
        self.replay.hold_back(self.ctx.map(entry.map), entry)
        self.overflow(link_id)

    async def send(self, m: TableMap, link_id: int, entry: JournalEntry, link: Link | None) -> bool:
        """Queue an entry in its actor's mailbox, starting the actor (with ``link``) if
        idle. False if it must stay in the journal (the mailbox is full or was)."""
        mailbox = self.mailboxes.get(link_id)
        if link_id in self.overflowed:
            return False
        if mailbox is None:
            if link is not None and link_id in self.ended:  # committed since we read it
                link = await self.ctx.store.link(link_id)
            try:  # a free slot costs no pass through the event loop
                self.limiter.acquire_on_behalf_of_nowait(link_id)
            except anyio.WouldBlock:
                await self.limiter.acquire_on_behalf_of(link_id)
            self.mailboxes[link_id] = deque((entry,))
            self.start_actor((m, link_id, link))
            return True
        if len(mailbox) >= self.ctx.config.engine.mailbox_size:
            self.overflowed.add(link_id)  # the record is stuck (retrying): do not wait
            return False
        mailbox.append(entry)  # no checkpoint since the lookup: the actor cannot end between
        return True

    def start_actor(self, job: ActorJob) -> None:
        """Run an actor in a worker waiting for one, else in a new worker."""
        if self.idle:
            worker = self.idle.pop()
            worker.job = job
            worker.wake.set()
        else:
            self.tg.start_soon(self.worker, job)

    async def worker(self, job: ActorJob | None) -> None:
        """Run actors one after the other: the one it was started with, then those handed
        to it while it waits (a few KB each)."""
        while job is not None:
            await self.run_actor(*job)
            if len(self.idle) >= SPARE_WORKERS:
                return
            waiting = _Idle()
            self.idle.append(waiting)
            await waiting.wake.wait()
            job = waiting.job

    async def run_actor(self, m: TableMap, link_id: int, link: Link | None) -> None:
        """Run an actor until its mailbox is empty, then forget it (no await in between)."""
        actor = RecordActor(self.ctx, m, link_id, self.mailboxes[link_id], link, self)
        try:
            await actor.run()
        finally:
            record = actor.record
            keys = (link.key if link else None, record.key, record.deleted_key)
            self.ended_keys.update((m.name, key) for key in keys if key is not None)
            for token in record.tokens:
                self.writing.pop(token, None)
            del self.mailboxes[link_id]
            self.ended.add(link_id)
            self.forget_provisional(link_id)
            self.limiter.release_on_behalf_of(link_id)
            if link_id in self.overflowed:
                self.overflowed.discard(link_id)
                self.replay.released(m.name)

    def forget_provisional(self, link_id: int) -> None:
        """An actor of a record not linked before is done: its link (if any) is stored."""
        found = self.provisional_of.pop(link_id, None)
        natives = self.adopted.pop(link_id, [])
        if found is not None:
            del self.provisional[found[0]]
            self.ended_keys.add(found[0])
            natives += found[1]
        for native in natives:
            self.busy_rows.pop(native, None)

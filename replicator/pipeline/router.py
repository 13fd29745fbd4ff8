"""The router: finds each change's record actor, starting actors on demand (actors.py
holds the running actors, their mailboxes and provisional ids; this module decides).

A change of a linked row goes to the actor of its link. A row not linked yet goes by
integration key, so two sides creating the same key at once meet in one actor and are
linked, not duplicated. When the journal is read again (at start, when a map resumes,
after a held-back change's actor ended, when the CLI queued a retry) and which entries
are due is replay.py's; the directory of running actors is actors.py's.

A dispatch is resolved in batches: one store query per map and side by native id
(``linked``), then one per map by key for the rows not linked (lookup.py). The router
never waits for a commit: the acknowledgements of entries that need no actor (echoes,
no-ops) are committed by a task of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import failures
from ..config import TableMap
from ..context import Context
from ..errors import ReplicatorError, StoreError, TransientError
from ..model import Commit, JournalEntry, Link, Outcome
from .actors import BATCH, Actors
from .lookup import Found, lookup
from .replay import Replay


class CatchUp(msgspec.Struct, frozen=True):
    """Ask the router to dispatch what the journal holds for ``map``."""

    map: str


class Hold(msgspec.Struct, frozen=True):
    """Tell the router which maps the operator paused (see ``Replay.hold``, replay.py)."""

    paused: frozenset[str]


Message = JournalEntry | CatchUp | Hold


class Router:
    """Routes journal entries to record actors; see the module docstring."""

    def __init__(self, ctx: Context, tg: TaskGroup) -> None:
        self.ctx = ctx
        self.tg = tg
        self.messages: MemoryObjectSendStream[Message]
        self.replay = Replay(ctx, tg, self.replayed, self.wake)
        self.actors = Actors(ctx, tg, self.replay)

    @property
    def paused(self) -> set[str]:
        """The maps held (paused, or waiting for a prerequisite that is)."""
        return self.replay.paused

    async def start(self, paused: frozenset[str]) -> None:
        """Prepare link ids, hold paused maps and replay what the journal holds."""
        await self.actors.start()
        await self.replay.hold(paused)

    async def replayed(self, entries: list[JournalEntry]) -> None:
        await self.dispatch(entries, live=False)

    async def wake(self, map_name: str) -> None:
        """Ask for a map's catch-up through the stream (only ``run`` dispatches)."""
        await self.messages.send(CatchUp(map_name))

    async def run(self, inbox: MemoryObjectReceiveStream[Message]) -> None:
        """Dispatch entries from the intakes, in batches, until the stream closes.

        ``CatchUp`` messages (a resume, a release of parked records, a retry from the CLI)
        come through the same stream, so only this task ever dispatches.
        """
        async with inbox:
            async for first in inbox:
                batch = [first]
                while len(batch) < BATCH:
                    try:
                        batch.append(inbox.receive_nowait())
                    except anyio.WouldBlock:
                        break
                await self.dispatch([e for e in batch if isinstance(e, JournalEntry)])
                for item in batch:
                    if isinstance(item, CatchUp):
                        await self.replay.catch_up(item.map)
                        self.ctx.activity.done()  # counted by the sender
                    elif isinstance(item, Hold):
                        await self.replay.hold(item.paused)
                        self.ctx.activity.done()

    async def dispatch(self, entries: list[JournalEntry], *, live: bool = True) -> None:
        """Send entries (counted in ``activity``) to their actors; drop those not due."""
        due = [e for e in entries if self.replay.due(e, live)]
        self.actors.new_dispatch()
        links = await self.linked(due)
        found = await lookup(self.ctx, [e for e in due if self.unlinked(e, links)])
        echoes = []
        for entry in due:
            link = links.get((entry.map, entry.side, entry.change.native_id))
            if link is not None and self.is_echo(entry, link):
                echoes.append((entry, link.key))
            elif link is None and (writer := self.writing_actor(entry)) is not None:
                await self.send(self.ctx.map(entry.map), writer, entry, None)
            else:
                await self.route(self.ctx.map(entry.map), entry, link, found)
        if echoes:
            self.tg.start_soon(self.finish, echoes, "echo")

    def unlinked(self, entry: JournalEntry, links: dict[tuple[str, int, str], Link]) -> bool:
        """Whether an entry is of a row not linked and not of a running actor's write (its
        key is looked up with the dispatch's others)."""
        native = (entry.map, entry.side, entry.change.native_id)
        return native not in links and entry.change.token not in self.actors.writing

    def is_echo(self, entry: JournalEntry, link: Link) -> bool:
        """The echo of our own write to an idle record: dropped without starting an actor."""
        token = entry.change.token
        running = self.actors.running(link.id)
        return token is not None and token == link.tokens[entry.side] and not running

    def writing_actor(self, entry: JournalEntry) -> int | None:
        """The busy actor whose write this unlinked row's change echoes, if any.

        A row we just inserted is not linked until the actor's step commits; its echo, and
        whatever a user does to the row meanwhile (a delete), must wait in that actor's
        mailbox, in order, not be judged without the link.
        """
        token = entry.change.token
        found = None if token is None else self.actors.writing.get(token)
        if found is None:
            return None
        writer, map_name = found
        if not self.actors.running(writer) or map_name != entry.map:
            return None  # e.g. a row of another map a trigger made in our write
        self.actors.adopt(writer, (entry.map, entry.side, entry.change.native_id))
        return writer

    async def finish(
        self, entries: Sequence[tuple[JournalEntry, str | None]], outcome: Outcome
    ) -> None:
        """Acknowledge entries that need no actor (with their keys, if known), in one commit."""
        await self.ctx.committer.submit(Commit(acks=[e.id for e, _ in entries]))
        for e, key in entries:
            self.replay.forget(e)
            self.ctx.observers.decided(e, self.ctx.side_names[e.side], key, outcome)
            self.ctx.log.debug(
                "change",
                map=e.map,
                key=key,
                side=self.ctx.side_names[e.side],
                change_id=e.id,
                native_id=e.change.native_id,
                op=e.change.op,
                outcome=outcome,
            )
        self.ctx.activity.done(len(entries))

    async def linked(self, entries: list[JournalEntry]) -> dict[tuple[str, int, str], Link]:
        """The links of the entries' rows, one store query per map and side."""
        groups: dict[tuple[str, int], list[str]] = {}
        for e in entries:
            groups.setdefault((e.map, e.side), []).append(e.change.native_id)
        out: dict[tuple[str, int, str], Link] = {}
        for (map_name, side), ids in groups.items():
            found = await self.ctx.store.links_by_native(map_name, side, ids)
            out.update({(map_name, side, nid): link for nid, link in found.items()})
        return out

    async def route(
        self, m: TableMap, entry: JournalEntry, link: Link | None, found: Found
    ) -> None:
        """Send an entry to the actor of its link, or of its key; ack it if nothing to do."""
        if link is None:
            try:
                link_id, link = await self.resolve(m, entry, found)
            except TransientError as exc:  # its side is away: it waits in the journal
                return self.replay.retry_later(m, entry, exc)
            except StoreError:
                raise
            except Exception as exc:  # the row cannot be read to find its actor
                return await self.refuse(m, entry, exc)
        else:
            link_id = link.id
        if link_id is None:
            self.tg.start_soon(self.finish, [(entry, None)], "noop")
            return
        await self.send(m, link_id, entry, link)

    async def refuse(self, m: TableMap, entry: JournalEntry, exc: Exception) -> None:
        """Queue a change whose row could not be read to find its actor (a bug, a schema
        problem; not a side that is away, see ``Replay.retry_later``)."""
        side = self.ctx.side_names[entry.side]
        if isinstance(exc, ReplicatorError):  # e.g. a column the side no longer has
            kind, reason = "permanent", f"cannot read the row on side {side!r}: {exc}"
        else:
            kind = failures.KIND
            reason = failures.record_failed(
                self.ctx.log, exc, map_name=m.name, key=None, side=side, change_id=entry.id
            )
        error = failures.error_entry(entry, kind, reason)
        await self.ctx.committer.submit(Commit(acks=[entry.id], error=error))
        self.replay.forget(entry)
        self.ctx.observers.decided(entry, side, None, "error", reason)
        self.ctx.log.error(
            "change",
            map=m.name,
            side=side,
            change_id=entry.id,
            native_id=entry.change.native_id,
            op=entry.change.op,
            outcome="error",
            reason=reason,
        )
        self.ctx.activity.done()

    async def resolve(
        self, m: TableMap, entry: JournalEntry, found: Found
    ) -> tuple[int | None, Link | None]:
        """The link (or a provisional id) of a row not linked by native id, by its key
        (as the dispatch's lookup found it, unless its record's actor ended since)."""
        change = entry.change
        native = (m.name, entry.side, change.native_id)
        busy = self.actors.busy_with(native)
        if busy is not None:  # the row's actor is still at work (maybe on a reused id)
            return busy, None
        if change.op == "delete":  # linked since the batch's lookup, or nothing to do
            link = await self.ctx.store.link_by_native(m.name, entry.side, change.native_id)
            return (link.id, link) if link is not None else (None, None)
        if entry.id not in found.keys and entry.id not in found.failed:
            found = await lookup(self.ctx, [entry])  # not looked up with the dispatch
        if entry.id in found.failed:
            raise found.failed[entry.id]
        key = found.keys[entry.id]
        if key is None:
            return None, None
        record = (m.name, key)
        if self.actors.provisional_id(record) is None:
            link = found.links.get(record)
            if self.actors.ended_since_lookup(record):  # its actor may have stored it since
                link = await self.ctx.store.link_by_key(m.name, key)
            if link is not None:
                return link.id, link
        return self.actors.route_new(record, native), None

    async def send(self, m: TableMap, link_id: int, entry: JournalEntry, link: Link | None) -> None:
        """Queue an entry with its actor (see ``Actors.send``), or leave it in the journal."""
        if not await self.actors.send(m, link_id, entry, link):
            self.replay.hold_back(m, entry)

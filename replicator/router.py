"""The router: finds each change's record actor, starting actors on demand.

A change of a linked row goes to the actor of its link. A row not linked yet goes by
integration key, so two sides creating the same key at once meet in one actor and are
linked, not duplicated. The router also replays the journal: at start (what a crash
left unfinished), when a map resumes, and when the CLI queued a retry. An entry is
never in flight twice: a live entry the catch-up already read (``caught_up``) is skipped,
and the catch-up skips entries dispatched live and not finished (``ctx.inflight_ids``).
"""

from __future__ import annotations

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from . import mapping
from .actor import RecordActor
from .config import TableMap
from .context import Context
from .errors import RuleViolation
from .model import Commit, JournalEntry


class Router:
    """Routes journal entries to record actors; see the module docstring."""

    def __init__(self, ctx: Context, tg: TaskGroup) -> None:
        self.ctx = ctx
        self.tg = tg
        self.actors: dict[int, MemoryObjectSendStream[JournalEntry]] = {}
        self.provisional: dict[tuple[str, str], int] = {}
        self.provisional_of: dict[int, tuple[str, str]] = {}
        self.caught_up: dict[str, int] = {m.name: 0 for m in ctx.config.maps}
        self.paused: set[str] = set()
        self.limiter = anyio.CapacityLimiter(ctx.config.engine.max_actors)
        self.next_id = 0

    async def start(self) -> None:
        """Prepare link ids and replay what the journal holds."""
        self.next_id = await self.ctx.store.next_link_id()
        for m in self.ctx.config.maps:
            await self.catch_up(m.name)

    async def catch_up(self, map_name: str) -> None:
        """Dispatch the journaled changes of a map not dispatched yet, oldest first."""
        if map_name in self.paused:
            return
        while True:
            after = self.caught_up[map_name]
            entries = await self.ctx.store.journal_after(map_name, after, 500)
            if not entries:
                return
            self.caught_up[map_name] = entries[-1].id
            self.ctx.activity.add(len(entries))
            for entry in entries:
                await self.dispatch(entry, live=False)

    async def run(self, inbox: MemoryObjectReceiveStream[JournalEntry]) -> None:
        """Dispatch entries from the intakes until the stream closes."""
        async with inbox:
            async for entry in inbox:
                await self.dispatch(entry)

    async def dispatch(self, entry: JournalEntry, *, live: bool = True) -> None:
        """Send one entry (counted in ``activity``) to its actor, or drop it if not due."""
        inflight = self.ctx.inflight_ids
        if (entry.map in self.paused or entry.id in inflight
                or (live and entry.id <= self.caught_up[entry.map])):
            self.ctx.activity.done()
            return
        inflight.add(entry.id)
        m = self.ctx.map(entry.map)
        link_id = await self.resolve(m, entry)
        if link_id is None:
            await self.ctx.committer.submit(Commit(acks=[entry.id]))
            inflight.discard(entry.id)
            self.ctx.activity.done()
            return
        await self.send(m, link_id, entry)

    async def resolve(self, m: TableMap, entry: JournalEntry) -> int | None:
        """The link id (or a provisional one) for an entry; None if there is nothing to do."""
        change = entry.change
        link = await self.ctx.store.link_by_native(m.name, entry.side, change.native_id)
        if link is not None:
            return link.id
        if change.op == "delete":
            return None
        key = await self.key(m, entry)
        if key is None:
            return None
        found = self.provisional.get((m.name, key))
        if found is not None:
            return found
        link = await self.ctx.store.link_by_key(m.name, key)
        if link is not None:
            return link.id
        link_id = self.next_id
        self.next_id += 1
        self.provisional[(m.name, key)] = link_id
        self.provisional_of[link_id] = (m.name, key)
        return link_id

    async def key(self, m: TableMap, entry: JournalEntry) -> str | None:
        """The encoded integration key of an unlinked row; a unique stand-in if unreadable."""
        change = entry.change
        values = change.values
        if values is None:
            rows = await self.ctx.sides[entry.side].get(m.entities[entry.side], [change.native_id])
            if change.native_id not in rows:
                return None
            values = rows[change.native_id].values
        try:
            canonical = mapping.canonical(m, entry.side, values)
        except RuleViolation:
            return f"!{entry.side}:{change.native_id}"
        return mapping.encode_key(mapping.key_of(m, canonical))

    async def send(self, m: TableMap, link_id: int, entry: JournalEntry) -> None:
        mailbox = self.actors.get(link_id)
        if mailbox is None:
            await self.limiter.acquire_on_behalf_of(link_id)
            send, receive = anyio.create_memory_object_stream[JournalEntry](
                self.ctx.config.engine.mailbox_size)
            self.actors[link_id] = mailbox = send
            send.send_nowait(entry)
            self.tg.start_soon(self.run_actor, m, link_id, receive)
            return
        await mailbox.send(entry)

    async def run_actor(self, m: TableMap, link_id: int,
                        receive: MemoryObjectReceiveStream[JournalEntry]) -> None:
        """Run an actor until its mailbox is empty, then forget it (no await in between)."""
        try:
            await RecordActor(self.ctx, m, link_id, receive).run()
        finally:
            send = self.actors.pop(link_id)
            send.close()
            receive.close()
            key = self.provisional_of.pop(link_id, None)
            if key is not None:
                del self.provisional[key]
            self.limiter.release_on_behalf_of(link_id)

    def pause(self, map_name: str) -> None:
        """Stop dispatching a map; its changes stay in the journal."""
        self.paused.add(map_name)

    async def resume(self, map_name: str) -> None:
        """Dispatch a map again, catching up from the journal in order."""
        self.paused.discard(map_name)
        await self.catch_up(map_name)

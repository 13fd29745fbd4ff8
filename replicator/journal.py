"""The intake of one side: reads its change feed and journals it before anything else.

Each batch of changes is appended to the journal together with the advanced cursor in
one state-store transaction; only then is the side told it may forget them (``ack``)
and are they dispatched. A crash can therefore never lose a change the side reported.
"""

from __future__ import annotations

import time

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from .adapter import Change
from .context import Context
from .errors import PermanentError, ReplicatorError, SchemaError, TransientError
from .model import JournalEntry

MAX_OUTAGE_BACKOFF_S = 10.0


class Intake:
    """Reads side ``side``'s changes into the journal and on to the router."""

    def __init__(self, ctx: Context, side: int, out: MemoryObjectSendStream[JournalEntry]) -> None:
        self.ctx = ctx
        self.side = side
        self.out = out
        self.poll_s = float(ctx.config.sides[side].options.get("poll_interval_ms", 50)) / 1000
        self.down_since: float | None = None

    async def run(self) -> None:
        """Read, journal and dispatch until cancelled; ride out outages of the side."""
        cursor = await self.ctx.store.cursor(self.side)
        failures = 0
        async with self.out:
            while True:
                try:
                    cursor = await self.step(cursor)
                    failures = 0
                    self.up()
                except (TransientError, PermanentError, SchemaError) as exc:
                    failures += 1  # unreachable, or unreadable (a mapped table changed)
                    await self.outage(exc, failures)

    async def step(self, cursor: str | None) -> str | None:
        """One read: journal what came, or wait for more. Returns the new cursor."""
        side = self.ctx.sides[self.side]
        started = self.ctx.activity.tick()
        batch = await side.read_changes(cursor, self.ctx.config.engine.batch_size)
        if not batch.changes:
            self.ctx.activity.read_empty(self.side, started)
            await side.wait_for_changes(self.poll_s)
            return cursor
        items = self.mapped(batch.changes)
        entries = await self.ctx.store.append_journal(self.side, items, batch.cursor)
        if batch.cursor is not None:
            await side.ack(batch.cursor)
        self.ctx.activity.add(len(entries))
        sent = 0
        try:
            for entry in entries:
                await self.out.send(entry)
                sent += 1
        finally:  # stopped mid-batch: the rest stays journaled for the next start
            if sent < len(entries):
                self.ctx.activity.done(len(entries) - sent)
        return batch.cursor

    def mapped(self, changes: list[Change]) -> list[tuple[str, Change]]:
        """The changes of mapped entities, each with its map's name."""
        maps = self.ctx.by_entity[self.side]
        return [(maps[c.entity].name, c) for c in changes if c.entity in maps]

    async def outage(self, exc: ReplicatorError, failures: int) -> None:
        now = anyio.current_time()
        if self.down_since is None:
            self.down_since = now
            self.ctx.read_down[self.side] = time.time()
            self.ctx.log.error("side_down", side=self.ctx.side_names[self.side], reason=str(exc))
        await anyio.sleep(min(MAX_OUTAGE_BACKOFF_S, 0.1 * 2 ** min(failures, 10)))

    def up(self) -> None:
        if self.down_since is not None:
            self.ctx.log.warning(
                "side_up",
                side=self.ctx.side_names[self.side],
                outage_s=round(anyio.current_time() - self.down_since, 1),
            )
            self.down_since = None
            self.ctx.read_down.pop(self.side, None)

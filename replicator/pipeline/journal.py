"""The intake of one side: reads its change feed and journals it before anything else.

Each batch of changes is appended to the journal together with the advanced cursor in
one state-store transaction; only then is the side told it may forget them (``ack``)
and are they dispatched. A crash can therefore never lose a change the side reported.

A ``reset`` (the side lost a table) is noted before the cursor passes it, and the intake
then re-syncs the map (sync/resync.py) before it reads on.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from ..adapter import Change
from ..backoff import Backoff
from ..context import Context
from ..errors import ReplicatorError, StoreError
from ..model import JournalEntry
from ..sync import resync
from .batcher import put
from .router import Hold, Message

OUTAGE_BACKOFF = Backoff(first_s=0.2, most_s=10.0)
"""How an intake whose feed fails waits before reading again."""


async def journal_batch(
    ctx: Context, side: int, cursor: str | None
) -> tuple[list[JournalEntry], str | None, bool] | None:
    """Read one batch of ``side``'s changes after ``cursor`` into the journal, with the new
    cursor, then let the side forget them. The entries, the cursor and whether a map lost
    its table (noted for ``resync.run_pending``); None if no change."""
    batch = await ctx.sides[side].read_changes(cursor, ctx.config.engine.batch_size)
    if not batch.changes:
        return None
    items, lost = await mapped(ctx, side, batch.changes)
    entries = await ctx.store.append_journal(side, items, batch.cursor)
    if batch.cursor is not None:
        await ctx.sides[side].ack(batch.cursor)
    return entries, batch.cursor, lost


async def mapped(ctx: Context, side: int, changes: list[Change]) -> tuple[list[Any], bool]:
    """The changes of mapped entities, by map; a reset is noted and drops the changes of
    its map before it (they name rows of the table that is gone)."""
    maps = ctx.by_entity[side]
    items: list[tuple[str, Change]] = []
    lost = False
    for change in changes:
        m = maps.get(change.entity)
        if m is None:
            continue
        if change.op != "reset":
            items.append((m.name, change))
        elif await resync.note_lost(ctx, side, m):
            items = [(name, c) for name, c in items if name != m.name]
            lost = True
    return items, lost


MAX_WAIT_S = 60.0
"""The longest an intake waits for a side to say changes may be there. The side returns
earlier when they may be: it knows its own feed (SQLite polls a file every few ms, a
memory side has an event, Dataverse adapts its poll to the traffic, up to its own most)."""


class Intake:
    """Reads side ``side``'s changes into the journal and on to the router."""

    def __init__(
        self, ctx: Context, side: int, out: MemoryObjectSendStream[Message] | None = None
    ) -> None:
        self.ctx = ctx
        self.side = side
        self.out = out
        self.poll_s = float(ctx.config.sides[side].options.get("poll_interval_ms", 50)) / 1000
        self.down_since: float | None = None
        self.lost = True  # a re-sync noted before a crash is run first

    async def run(self) -> None:
        """Read, journal and dispatch until cancelled; ride out outages of the side."""
        out = self.out
        assert out is not None, "an intake that dispatches needs a stream"
        cursor = await self.ctx.store.cursor(self.side)
        failures = 0
        async with out:
            while True:
                try:
                    if self.lost:
                        await self.resync(out)
                    cursor = await self.step(cursor, out)
                    failures = 0
                except StoreError:
                    raise  # fatal for the engine, with the store's message
                except Exception as exc:  # unreachable, unreadable, or the adapter's bug
                    failures += 1
                    await self.outage(exc, failures)

    async def journal_all(self) -> None:
        """Journal everything the side has reported so far, dispatching nothing (recovery
        looks for the echoes of lost writes there); ride out outages of the side."""
        cursor = await self.ctx.store.cursor(self.side)
        failures = 0
        while True:
            try:
                read = await journal_batch(self.ctx, self.side, cursor)
            except StoreError:
                raise
            except Exception as exc:  # as in ``run``
                failures += 1
                await self.outage(exc, failures)
                continue
            failures = 0
            self.up()
            if read is None:
                return
            cursor = read[1]  # a lost table noted here is re-synced at start-up

    async def resync(self, out: MemoryObjectSendStream[Message]) -> None:
        """Re-sync the maps whose table this side lost, the router holding them meanwhile."""
        names = await resync.pending(self.ctx, self.side)
        if not names:
            self.lost = False
            return
        self.ctx.activity.add(1)  # busy until the map caught up again
        try:
            await self.hold(out)
            for name in names:
                await resync.resync_map(self.ctx, self.side, name)
            await self.hold(out)  # resumed: the map catches up with what it journaled
            self.lost = False
        finally:
            self.ctx.activity.done()

    async def hold(self, out: MemoryObjectSendStream[Message]) -> None:
        """Tell the router which maps are paused now (as ``Replicator.refresh`` does)."""
        states = await self.ctx.store.map_states()
        self.ctx.activity.add(1)
        await out.send(Hold(frozenset(name for name, (_, p, _) in states.items() if p)))

    async def step(self, cursor: str | None, out: MemoryObjectSendStream[Message]) -> str | None:
        """One read: journal what came, or wait for more. Returns the new cursor."""
        started = self.ctx.activity.tick()
        read = await journal_batch(self.ctx, self.side, cursor)
        self.up()  # before the empty read counts toward quiet: a quiet host sees it up
        if read is None:
            self.ctx.activity.read_empty(self.side, started)
            await self.idle()
            return cursor
        entries, cursor, self.lost = read
        self.ctx.activity.add(len(entries))
        sent = 0
        try:
            for entry in entries:
                await put(out, entry)
                sent += 1
        finally:  # stopped mid-batch: the rest stays journaled for the next start
            if sent < len(entries):
                self.ctx.activity.done(len(entries) - sent)
        return cursor

    async def idle(self) -> None:
        """Wait until the side says changes may be there (it knows its own feed), or, while
        a host waits for quiet, at most the side's poll interval (quiet needs a fresh empty
        read of every side)."""
        side, activity = self.ctx.sides[self.side], self.ctx.activity
        if activity.quiet_waiters:
            await side.wait_for_changes(self.poll_s)
            return
        wanted = activity.quiet_wanted
        try:
            async with anyio.create_task_group() as tg:

                async def woken() -> None:
                    await wanted.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(woken)
                await side.wait_for_changes(MAX_WAIT_S)
                tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:  # the side's wait failed (an outage): as it raised,
            if len(group.exceptions) == 1:  # so ``outage`` names the side's reason, not a group
                raise group.exceptions[0] from None
            raise

    async def outage(self, exc: Exception, failures: int) -> None:
        """The side's feed failed: down (logged once), retried with backoff. An exception
        outside the errors tree is the adapter's bug: its type and traceback are logged."""
        now = anyio.current_time()
        if self.down_since is None:
            self.down_since = now
            self.ctx.read_down[self.side] = time.time()
            side = self.ctx.side_names[self.side]
            if isinstance(exc, ReplicatorError):
                self.ctx.log.error("side_down", side=side, reason=str(exc))
            else:
                reason = f"{type(exc).__name__}: {exc}"
                self.ctx.log.error("side_down", side=side, reason=reason, exc_info=exc)
        await anyio.sleep(OUTAGE_BACKOFF.delay(failures))

    def up(self) -> None:
        if self.down_since is not None:
            self.ctx.log.warning(
                "side_up",
                side=self.ctx.side_names[self.side],
                outage_s=round(anyio.current_time() - self.down_since, 1),
            )
            self.down_since = None
            self.ctx.read_down.pop(self.side, None)

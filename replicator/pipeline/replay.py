"""The journal's replay and the maps held: what the router dispatches besides live changes.

The journal holds every change not finished. The router (router.py) dispatches the live
ones as the intakes journal them; this module decides when a map's journal is read again
and from where (a *catch-up*):

* at start, for what a crash left unfinished, and when a map runs again after a pause
  or once the maps it waits for (its prerequisites, ordering.py) run;
* after an actor that had changes held back in the journal ended (``released``: a change
  queued behind a busy record, or handed back by the actor, waits there, not in memory);
* after a backoff, for a change whose row could not be read to find its actor
  (``retry_later``: its side is away), doubling while it keeps failing;
* when the CLI queued a retry (through the router's stream, ``CatchUp``).

An entry is never in flight twice: a live entry the catch-up already read is not due
(``caught_up``), and the catch-up skips entries dispatched live and not finished
(``inflight``: an entry leaves it when its actor, or the router, is done with it). Where
a map's next catch-up starts is the oldest entry held back (``rewind``), else the newest
it read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
from anyio.abc import TaskGroup

from .. import ordering
from ..config import TableMap
from ..context import Context
from ..errors import TransientError
from ..model import JournalEntry

CATCH_UP_PAGE = 500  # journal entries a catch-up reads and dispatches at a time


class Replay:
    """Which entries are due and when each map's journal is read again; see the module
    docstring. ``dispatch`` sends a page of entries read from the journal; ``wake`` asks
    for a map's catch-up through the router's stream (only the router dispatches)."""

    def __init__(
        self,
        ctx: Context,
        tg: TaskGroup,
        dispatch: Callable[[list[JournalEntry]], Awaitable[None]],
        wake: Callable[[str], Coroutine[Any, Any, None]],
    ) -> None:
        self.ctx = ctx
        self.tg = tg
        self.dispatch = dispatch
        self.wake = wake
        self.caught_up: dict[str, int] = {m.name: 0 for m in ctx.config.maps}
        """The newest journal id each map's catch-up read (a live entry up to it is skipped)."""
        self.rewind: dict[str, int] = {}
        """Where each map's next catch-up starts, if before ``caught_up`` (held back)."""
        self.paused: set[str] = set()
        """The maps held: paused by the operator, or waiting for a prerequisite that is."""
        self.retrying: set[str] = set()
        """Maps with a catch-up waiting out a backoff (``retry_later``)."""
        self.retries: dict[str, int] = {}
        """Failed catch-ups in a row, per map (reset by a clean one)."""
        self.inflight: set[int] = set()
        """The journal ids dispatched and not finished (``finished``, ``hold_back``)."""

    async def catch_up(self, map_name: str) -> None:
        """Dispatch the journaled changes of a map not dispatched yet, oldest first."""
        if map_name in self.paused:
            return
        after = min(self.caught_up[map_name], self.rewind.pop(map_name, self.caught_up[map_name]))
        while True:
            entries = await self.ctx.store.journal_after(map_name, after, CATCH_UP_PAGE)
            if not entries:
                if map_name not in self.retrying:  # nothing failed to route: start afresh
                    self.retries.pop(map_name, None)
                return
            after = entries[-1].id
            self.caught_up[map_name] = max(self.caught_up[map_name], after)
            self.ctx.activity.add(len(entries))
            await self.dispatch(entries)

    def due(self, entry: JournalEntry, live: bool) -> bool:
        """Whether to dispatch an entry now; marks it in flight if so."""
        inflight = self.inflight
        if (
            entry.map in self.paused
            or entry.id in inflight
            or (live and entry.id <= self.caught_up[entry.map])
        ):
            self.ctx.activity.done()
            return False
        inflight.add(entry.id)
        return True

    def finished(self, entry: JournalEntry) -> None:
        """An entry's outcome is committed (or it was handed back): no longer in flight."""
        self.forget(entry)
        self.ctx.activity.done()

    def forget(self, entry: JournalEntry) -> None:
        """An entry is no longer in flight (its caller counts it done in ``activity``)."""
        self.inflight.discard(entry.id)

    def hold_back(self, m: TableMap, entry: JournalEntry) -> None:
        """Leave an entry in the journal until its record's actor is done (no head-of-line
        blocking: the router goes on with other records); then the map catches up."""
        self.rewind[m.name] = min(self.rewind.get(m.name, entry.id), entry.id - 1)
        self.finished(entry)

    def released(self, map_name: str) -> None:
        """An actor with changes held back in the journal ended: the map catches up."""
        self.ctx.activity.add(1)
        self.tg.start_soon(self.wake, map_name)

    def retry_later(self, m: TableMap, entry: JournalEntry, exc: TransientError) -> None:
        """Leave a change whose row cannot be read now in the journal; the map catches up
        again after a backoff (doubling while it keeps failing, reset by a clean catch-up)."""
        self.hold_back(m, entry)
        if m.name in self.retrying:
            return
        attempt = self.retries[m.name] = self.retries.get(m.name, 0) + 1
        delay = self.ctx.config.engine.backoff().delay(attempt, exc.retry_after)
        self.ctx.observers.retrying(entry, self.ctx.side_names[entry.side], None, str(exc))
        self.ctx.log.warning(
            "retrying",
            map=m.name,
            side=self.ctx.side_names[entry.side],
            change_id=entry.id,
            native_id=entry.change.native_id,
            attempt=attempt,
            delay_s=round(delay, 3),
            reason=str(exc),
        )
        self.retrying.add(m.name)
        self.ctx.activity.add(1)  # until the router has read what it catches up
        self.tg.start_soon(self._catch_up_later, m.name, delay)

    async def _catch_up_later(self, map_name: str, delay: float) -> None:
        await anyio.sleep(delay)
        self.retrying.discard(map_name)
        await self.wake(map_name)

    async def hold(self, paused: frozenset[str]) -> None:
        """Hold the paused maps and those whose prerequisites are held; catch up the rest.

        A held map's changes stay in the journal; once it runs again they are dispatched
        in journal order.
        """
        held = ordering.held_by(self.ctx.prerequisites, paused)
        for name in sorted(set(held) - self.paused):
            self.ctx.log.warning("map_held", map=name, waiting_for=held[name])
        for name in sorted(self.paused - set(held)):
            self.ctx.log.info("map_running", map=name)
        self.paused = set(held)
        for m in self.ctx.config.maps:
            await self.catch_up(m.name)

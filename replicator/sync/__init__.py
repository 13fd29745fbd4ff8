"""Initial sync ("initial writes"): bring two sides that already hold data into step.

``InitialSync`` decides what to sync: new maps in prerequisite order, maps whose fields
changed since their last sync, companies added to a map. Before the first scan each
side's cursor is pinned to its feed's head, so changes made during the sync are
replayed by the live sync afterwards. ``MapSync`` (map_sync.py) syncs one map: its
``SyncReader`` scans the sides a page at a time (scan.py), it plans each page, and its
``SyncWrites`` writes and links the page (writes.py). resync.py re-syncs a map whose
table a side lost and re-created.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..config import TableMap
from ..context import Context
from ..ordering import topological_order
from .map_sync import MapSync
from .writes import Progress, SyncReport

__all__ = ["InitialSync", "Progress", "SyncReport", "fields_fingerprint", "sync_order"]


def sync_order(ctx: Context, names: Sequence[str] | None) -> list[TableMap]:
    """The maps to sync, prerequisites first."""
    order = topological_order(ctx.prerequisites)
    return [ctx.map(n) for n in order if names is None or n in names]


def fields_fingerprint(m: TableMap) -> str:
    """The map's fields as they matter to the shadow: names, directions, value maps, defaults."""
    return json.dumps(
        [
            [*f.names, f.direction, f.value_map.name if f.value_map else None, f.default]
            for f in m.all_fields
        ],
        default=str,
    )


UNCAPTURED = "uncaptured"
"""The fields fingerprint of a map whose changes were not all replicated for a while:
``replicator uninstall`` removed its capture, or a run without it in the config passed
over them. Its next start syncs it again, like a map whose fields changed."""


class InitialSync:
    """Runs the initial sync of some maps; see the module docstring."""

    def __init__(self, ctx: Context, progress: Progress | None = None) -> None:
        self.ctx = ctx
        self.progress = progress

    async def run(self, names: Sequence[str] | None, *, only_new: bool = False) -> list[SyncReport]:
        states = await self.ctx.store.map_states()
        reports = []
        for m in sync_order(self.ctx, names):
            if only_new and states.get(m.name, (None, False, None))[0] is not None:
                continue
            await self.pin_cursors()
            reports.append(await MapSync(self.ctx, m, self.progress).run())
            await self.ctx.store.set_synced(m.name)
            await self.remember_companies(m)
            await self.ctx.store.set_meta(f"fields:{m.name}", fields_fingerprint(m))
        return reports

    async def changed_maps(self) -> list[SyncReport]:
        """Sync again the maps whose fields changed since their last sync (a field added,
        removed or redirected), so linked records come in step on the new fields at once,
        and the maps whose changes were not captured for a while (``UNCAPTURED``)."""
        states = await self.ctx.store.map_states()
        await self.mark_absent(states)
        changed: list[str] = []
        uncaptured: list[str] = []
        for m in sync_order(self.ctx, None):
            before = await self.ctx.store.get_meta(f"fields:{m.name}")
            if before is not None and before != fields_fingerprint(m):
                (uncaptured if before == UNCAPTURED else changed).append(m.name)
            elif before is None and states.get(m.name, (None, False, None))[0] is not None:
                await self.ctx.store.set_meta(f"fields:{m.name}", fields_fingerprint(m))
        if changed:
            self.ctx.log.warning("map_fields_changed", maps=changed, action="initial sync")
        if uncaptured:
            why = "changes not captured meanwhile (uninstalled, or out of the config)"
            self.ctx.log.warning("map_resync", maps=uncaptured, reason=why, action="initial sync")
        names = changed + uncaptured  # run() syncs them in prerequisite order
        return await self.run(names) if names else []

    async def mark_absent(self, states: dict[str, tuple[float | None, bool, str | None]]) -> None:
        """A synced map this run's config lacks: its changes pass by unreplicated, so it
        is synced again if it comes back."""
        for name, (synced_at, _, _) in states.items():
            if synced_at is not None and name not in self.ctx.maps:
                await self.ctx.store.set_meta(f"fields:{name}", UNCAPTURED)

    async def new_companies(self) -> list[SyncReport]:
        """Sync the existing rows of companies added to a map's ``companies`` since last run.

        With ``sync_existing_companies = false`` only their changes from now on flow.
        """
        reports = []
        for m in sync_order(self.ctx, None):
            before = await self.ctx.store.get_meta(f"companies:{m.name}")
            if before is None or not m.companies:
                await self.remember_companies(m)
                continue
            added = sorted(set(m.companies) - set(json.loads(before)))
            if added and m.sync_existing_companies:
                self.ctx.log.info("companies_added", map=m.name, companies=added)
                reports.append(await MapSync(self.ctx, m, self.progress, added).run())
            await self.remember_companies(m)
        return reports

    async def remember_companies(self, m: TableMap) -> None:
        await self.ctx.store.set_meta(f"companies:{m.name}", json.dumps(sorted(m.companies)))

    async def pin_cursors(self) -> None:
        for i, side in enumerate(self.ctx.sides):
            if await self.ctx.store.cursor(i) is None:
                await self.ctx.store.set_cursor(i, await side.head_cursor())

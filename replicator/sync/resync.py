"""A table a side lost: the map is re-synced against its shadows.

A side reports with a ``reset`` change that it lost the rows of an entity (a table
dropped and re-created; see the adapter protocol). Its native ids in the links then name
no row, its changes still journaled refer to rows that are gone, and what was written to
the new table before capture came back was never reported. So, as Dual-write's and
SymmetricDS's users expect after losing a table (a reload from the side that kept the
data, never a mass delete on it):

* ``note_lost`` (as the reset is journaled, before the cursor passes it, in one store
  transaction): the side's ids in the map's links and its journaled changes of the map
  are forgotten, the map is paused ("re-syncing") and the re-sync is noted;
* ``run_pending`` re-syncs the map (``MapSync``): rows found on the side again are linked
  by key, taking the values of the side that kept them; a linked record the side lost is
  re-created there from the other side (it is a restore, not a birth: the create rule
  does not apply); a row only the new table holds is a new record (the create rule
  applies); links left without a row on the side are dropped. Then the map resumes
  (unless the operator had paused it) and catches up with what it journaled meanwhile.

The note survives a crash: the next start re-syncs. ``status`` shows the map as
``re-syncing`` and, after, when and why it was re-synced.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..config import TableMap
from ..context import Context
from ..ordering import topological_order
from ..store import Store
from .map_sync import MapSync

PENDING = "resync:{side}:{map}"
DONE = "resynced:{map}"


async def note_lost(ctx: Context, side: int, m: TableMap) -> bool:
    """Side ``side`` lost the rows of map ``m``'s entity; False if ``m`` was never synced
    (its initial sync is still to come and will find the rows as they are)."""
    synced_at, paused, reason = (await ctx.store.map_states()).get(m.name, (None, False, None))
    if synced_at is None:
        return False
    at = time.time()
    name, entity = ctx.side_names[side], m.entities[side]
    note = {"side": name, "entity": entity, "at": at, "paused": paused, "reason": reason}
    why = f"re-syncing: table {entity!r} on side {name!r} was re-created"
    await ctx.store.lose_rows(m.name, side, PENDING.format(side=side, map=m.name), note, why)
    ctx.log.warning("table_recreated", side=name, entity=entity, map=m.name, action="re-sync")
    return True


async def pending(ctx: Context, side: int) -> list[str]:
    """The maps whose table side ``side`` lost and that wait for their re-sync, in order."""
    names = []
    for name in topological_order(ctx.prerequisites):
        if await ctx.store.get_meta(PENDING.format(side=side, map=name)):
            names.append(name)
    return names


async def run_pending(ctx: Context, side: int) -> None:
    """Re-sync every map whose table side ``side`` lost, prerequisites first."""
    for name in await pending(ctx, side):
        await resync_map(ctx, side, name)


async def resync_map(ctx: Context, side: int, name: str) -> None:
    """Re-sync one map whose table side ``side`` lost, then resume it (see the docstring)."""
    key = PENDING.format(side=side, map=name)
    note = json.loads(await ctx.store.get_meta(key) or "{}")
    report = await MapSync(ctx, ctx.map(name), None).run()
    dropped = await ctx.store.drop_unpaired(name)
    note["done"] = time.time()
    await ctx.store.set_meta(DONE.format(map=name), json.dumps(note))
    await ctx.store.set_meta(key, "")
    await ctx.store.set_paused(name, bool(note.get("paused")), note.get("reason"))
    ctx.log.warning(
        "map_resynced",
        map=name,
        side=note.get("side"),
        entity=note.get("entity"),
        created=report.created,
        linked=report.linked,
        errors=report.errors,
        unlinked=dropped,
    )


async def resync_status(store: Store, m: TableMap, side_names: list[str]) -> dict[str, Any]:
    """``resyncing`` (a lost table being re-synced) and ``resynced`` (the last one) of a map."""
    pending = []
    for side in range(len(side_names)):
        raw = await store.get_meta(PENDING.format(side=side, map=m.name))
        if raw:
            pending.append(json.loads(raw))
    done = await store.get_meta(DONE.format(map=m.name))
    return {"resyncing": pending or None, "resynced": json.loads(done) if done else None}


def describe(entry: dict[str, Any]) -> str:
    """A re-sync note in words, for ``status``."""
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
    text = f"table {entry['entity']!r} on side {entry['side']!r} was re-created ({at})"
    if "done" in entry:
        done = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["done"]))
        return f"{text}; re-synced {done}"
    return f"{text}; re-syncing"

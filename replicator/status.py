"""Status: per map its state, links, backlog, parked, errors and replication lag."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .config import Config
from .ordering import held_by
from .store import Store
from .sync.resync import resync_status

if TYPE_CHECKING:
    from .context import Context


async def map_status(config: Config, store: Store, running: bool) -> list[dict[str, Any]]:
    """One entry per map, read from the state store (works with or without a daemon)."""
    states = await store.map_states()
    paused = {name for name, (_, is_paused, _) in states.items() if is_paused}
    held = held_by(config.prerequisite_graph(), paused)
    now = time.time()
    out = []
    for m in config.maps:
        synced_at, _, reason = states.get(m.name, (None, False, None))
        counts = await store.map_counts(m.name)
        oldest = counts.pop("oldest")
        lost = await resync_status(store, m, [s.name for s in config.sides])
        state = "re-syncing" if lost["resyncing"] else map_state(m.name, synced_at, held, running)
        out.append(
            {
                "map": m.name,
                "state": state,
                **counts,
                **lost,
                "paused_reason": reason,
                "waiting_for": held.get(m.name) if held.get(m.name) != m.name else None,
                "lag_s": round(now - oldest, 3) if oldest else 0.0,
                "synced_at": synced_at,
            }
        )
    return out


def map_state(name: str, synced_at: float | None, held: dict[str, str], running: bool) -> str:
    """``paused``, ``waiting for X`` (a prerequisite is paused), ``not synced``, ``running``."""
    if held.get(name) == name:
        return "paused"
    if name in held:
        return f"waiting for {held[name]}"
    if synced_at is None:
        return "not synced"
    return "running" if running else "stopped"


async def outages(store: Store) -> dict[str, float]:
    """Sides the daemon cannot read now, with when that started (epoch seconds)."""
    return dict(json.loads(await store.get_meta("outages") or "{}"))


async def collect_status(ctx: Context) -> dict[str, Any]:
    """The status of a running engine."""
    now = time.time()
    return {
        "maps": await map_status(ctx.config, ctx.store, True),
        "outages": {
            ctx.side_names[i]: {"since": since, "seconds": round(now - since, 1)}
            for i, since in ctx.outages().items()
        },
        "inflight": ctx.activity.inflight,
        "store_locked_since": ctx.store.db.locked_since,
    }

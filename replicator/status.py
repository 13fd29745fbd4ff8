"""Status: per map its state, links, backlog, parked, errors and replication lag."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .config import Config
from .store import Store

if TYPE_CHECKING:
    from .context import Context
    from .router import Router


async def map_status(
    config: Config, store: Store, running: set[str] | None
) -> list[dict[str, Any]]:
    """One entry per map, read from the state store (works with or without a daemon)."""
    states = await store.map_states()
    now = time.time()
    out = []
    for m in config.maps:
        synced_at, paused, reason = states.get(m.name, (None, False, None))
        counts = await store.map_counts(m.name)
        oldest = counts.pop("oldest")
        if paused:
            state = "paused"
        elif synced_at is None:
            state = "not synced"
        else:
            state = "running" if running is None or m.name in running else "synced"
        out.append(
            {
                "map": m.name,
                "state": state,
                **counts,
                "paused_reason": reason,
                "lag_s": round(now - oldest, 3) if oldest else 0.0,
                "synced_at": synced_at,
            }
        )
    return out


async def collect_status(ctx: Context, router: Router | None) -> dict[str, Any]:
    """The status of a running engine."""
    running = None if router is None else {m.name for m in ctx.config.maps} - router.paused
    maps = await map_status(ctx.config, ctx.store, running)
    return {
        "maps": maps,
        "inflight": ctx.activity.inflight,
        "active_actors": 0 if router is None else len(router.actors),
    }

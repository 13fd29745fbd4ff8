"""Activity (``/activity``): the engine's recent change events, newest first, live.

The events come from ``Operations.recent_changes`` (the engine's ``observe.Activity``
ring buffer): what became of each change, in words, with its record and reason.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from ..mapping import decode_key
from ..observe import ChangeEvent
from .app import key_text

if TYPE_CHECKING:
    from .app import Console, Page

SHOWN = 100
OUTCOME_WORDS = {
    "applied": "written to the other side",
    "echo": "our own write coming back (dropped)",
    "noop": "nothing to write",
    "conflict": "conflict resolved and written",
    "refused": "refused by a rule (error queue)",
    "error": "failed (error queue)",
    "retry": "failed for now; tried again",
    "parked": "waiting for a record it refers to",
    "filtered": "outside the map's filter",
}


def shown(e: ChangeEvent) -> dict[str, Any]:
    at = e.committed_at or e.read_at
    latency = "" if e.latency_s is None else f"done in {e.latency_s * 1000:.0f} ms"
    record = key_text(decode_key(e.key)) if e.key else "—"
    return {
        "time": time.strftime("%H:%M:%S", time.localtime(at)),
        "map": e.map,
        "side": e.side,
        "record": record,
        "op": "deleted" if e.op == "delete" else "created or changed",
        "outcome": OUTCOME_WORDS.get(e.outcome, e.outcome),
        "kind": e.outcome,
        "detail": "; ".join(d for d in (e.reason, latency) if d),
    }


def events(console: Console, request: Request) -> dict[str, Any]:
    only = request.query_params.get("map") or None
    running = console.ops.replicator is not None
    return {
        "events": [shown(e) for e in console.ops.recent_changes(SHOWN, map=only)],
        "empty": "No change has been seen since the daemon started."
        if running
        else "This console is not inside a running replicator: there is no activity to show.",
        "only": only or "",
    }


async def activity_page(console: Console, request: Request) -> Response:
    maps = [m.name for m in console.ops.config.maps]
    return console.page(
        request, "activity.html", title="Activity", map_names=maps, **events(console, request)
    )


async def activity_fragment(console: Console, request: Request) -> Response:
    return console.fragment(request, "activity_rows.html", **events(console, request))


def routes() -> list[tuple[str, Page, list[str]]]:
    return [
        ("/activity", activity_page, ["GET"]),
        ("/fragments/activity", activity_fragment, ["GET"]),
    ]

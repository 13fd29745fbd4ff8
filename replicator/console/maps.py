"""The maps page (``/``): one row per table map, its figures refreshed live, and the
pause and resume buttons (forms with the CSRF token)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..http.auth import check_csrf, local_target, read_form

if TYPE_CHECKING:
    from .app import Console, Page

HOUR_S = 3600


def tone(state: str) -> str:
    """The colour class of a state."""
    if state.startswith("waiting"):
        return "waiting"
    if state in {"running", "paused", "stopped"}:
        return state
    return "sync" if "sync" in state else "other"


def state_of(m: dict[str, Any], daemon: str) -> tuple[str, str]:
    """A map's state in words, and a note (why paused, what it waits for)."""
    state = m["state"]
    if state == "not synced" and daemon == "running":
        return "initial sync", f"first sync running: {m['links']} records linked so far"
    if state == "paused":
        return state, m.get("paused_reason") or ""
    if m.get("waiting_for"):
        return state, f"{m['waiting_for']} is paused; this map runs once it runs"
    return state, ""


def errors_since(entries: list[dict[str, Any]], since: float) -> Counter[str]:
    """Per map, the error-queue entries seen (again) at or after ``since``."""
    return Counter(
        e["map"] for e in entries if datetime.fromisoformat(e["last_seen"]).timestamp() >= since
    )


def map_row(m: dict[str, Any], daemon: str, entities: str, errors_hour: int) -> dict[str, Any]:
    state, note = state_of(m, daemon)
    return {
        "map": m["map"],
        "entities": entities,
        "state": state,
        "tone": tone(state),
        "note": note,
        "links": m["links"],
        "backlog": m["backlog"],
        "parked": m["parked"],
        "lag": f"{m['lag_s']:.1f}",
        "errors": m["errors"],
        "errors_hour": errors_hour,
        "action": "resume" if m["state"] == "paused" else "pause",
    }


async def rows(console: Console) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The status, and one row per map for the table."""
    status = await console.status()
    recent = errors_since(await console.ops.errors(), console.clock() - HOUR_S)
    entities = {m.name: " ↔ ".join(m.entities) for m in console.ops.config.maps}
    daemon = status["daemon"]
    return status, [
        map_row(m, daemon, entities.get(m["map"], ""), recent[m["map"]]) for m in status["maps"]
    ]


async def maps_page(console: Console, request: Request) -> Response:
    status, table = await rows(console)
    outages = ", ".join(f"{side} (for {o['seconds']} s)" for side, o in status["outages"].items())
    return console.page(
        request, "maps.html", title="Maps", rows=table, daemon=status["daemon"], outages=outages
    )


async def maps_fragment(console: Console, request: Request) -> Response:
    _, table = await rows(console)
    return console.fragment(request, "maps_rows.html", rows=table)


async def pause(console: Console, request: Request) -> Response:
    return await set_paused(console, request, paused=True)


async def resume(console: Console, request: Request) -> Response:
    return await set_paused(console, request, paused=False)


async def set_paused(console: Console, request: Request, *, paused: bool) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    name = request.path_params["name"]
    await (console.ops.pause(name) if paused else console.ops.resume(name))
    return RedirectResponse(local_target(form.get("next")), status_code=303)


def routes() -> list[tuple[str, Page, list[str]]]:
    return [
        ("/", maps_page, ["GET"]),
        ("/fragments/maps", maps_fragment, ["GET"]),
        ("/maps/{name}/pause", pause, ["POST"]),
        ("/maps/{name}/resume", resume, ["POST"]),
    ]

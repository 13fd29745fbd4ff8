"""A map's page (``/maps/<name>``): its field maps in Dual-write's notation, value maps,
key, rules, prerequisites and companies, and a chart of its last hour."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..operations import describe_map
from .app import NotFound
from .chart import hour_chart
from .maps import rows

if TYPE_CHECKING:
    from .app import Console, Page

TRANSFORMED = {"=": "><", ">": ">>", "<": "<<"}
"""Dual-write writes a field map that translates its value with a doubled arrow."""


def notation(f: dict[str, Any]) -> str:
    """``=``, ``>``, ``<``; doubled (``><``, ``>>``, ``<<``) with a value map or default."""
    arrow: str = f["arrow"]
    transformed = f["value_map"] is not None or f["default"] is not None
    return TRANSFORMED[arrow] if transformed else arrow


def notes(f: dict[str, Any]) -> list[str]:
    out = []
    if f["value_map"] is not None:
        out.append(f"value map {f['value_map']['name']}")
    if f["default"] is not None:
        out.append(f"default {f['default']!r} when the source has none")
    if f["lookup"] is not None:
        out.append(f"looks up a record of {f['lookup']}")
    if f["direction"] != "both":
        out.append(f"only {f['direction']}")
    if not f.get("enabled", True):
        out.append("off: not replicated")
    return out


def shown_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**f, "notation": notation(f), "notes": notes(f)} for f in fields]


def value_maps(fields: list[dict[str, Any]], first_side: str) -> list[dict[str, Any]]:
    """The value maps the field maps use, each once, with the fields that use it."""
    found: dict[str, dict[str, Any]] = {}
    for f in fields:
        vm = f["value_map"]
        if vm is None:
            continue
        entry = found.setdefault(vm["name"], {"name": vm["name"], "pairs": [], "used_by": []})
        entry["pairs"] = sorted(vm["pairs"].items())
        entry["used_by"].append(f["names"][first_side])
    return list(found.values())


def table_map(console: Console, name: str) -> dict[str, Any]:
    config = console.ops.config
    for m in config.maps:
        if m.name == name:
            return describe_map(config, m)
    raise NotFound([f"{config.path.name}: no map named {name!r}"])


def chart_of(console: Console, name: str) -> str:
    now = console.clock()
    return hour_chart(console.samples.of(name).last_hour(now), now, f"map {name}")


def saved_notice(console: Console, request: Request) -> str:
    """What the edit page's save did, from its redirect (map names only if configured)."""
    q = request.query_params
    if q.get("saved") != "1":
        return ""
    names = {m.name for m in console.ops.config.maps}
    resync = [n for n in q.get("resync", "").split(",") if n in names]
    text = f"Saved to {console.ops.config.path.name} and applied while running."
    return text + (f" Re-syncing: {', '.join(resync)}." if resync else "")


async def map_page(console: Console, request: Request) -> Response:
    name = request.path_params["name"]
    m = table_map(console, name)
    _, table = await rows(console)
    row = next(r for r in table if r["map"] == name)
    sides = console.side_names
    described = {**m, "key": shown_fields(m["key"]), "fields": shown_fields(m["fields"])}
    return console.page(
        request,
        "map.html",
        title=f"Map {name}",
        m=described,
        row=row,
        sides=sides,
        value_maps=value_maps(m["fields"], sides[0]),
        chart=chart_of(console, name),
        editable=name not in console.ops.config.map_files,
        notice=saved_notice(console, request),
    )


async def chart_fragment(console: Console, request: Request) -> Response:
    name = request.path_params["name"]
    table_map(console, name)  # an unknown map is a 404, not an empty chart
    await console.status()  # a fresh lag sample
    return HTMLResponse(chart_of(console, name))


def routes() -> list[tuple[str, Page, list[str]]]:
    return [
        ("/maps/{name}", map_page, ["GET"]),
        ("/fragments/maps/{name}/chart", chart_fragment, ["GET"]),
    ]

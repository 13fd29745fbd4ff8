"""Editing a map (``/maps/<name>/edit``), within what is safe while it runs: a field map
on or off, a field's direction, a value map's pairs, the conflict policy.

The form posts the whole map as shown; only what differs from the config in force
becomes an edit (edits.py). *Preview* shows the TOML diff and validate's own lines, and
only an accepted preview offers *Save*, which carries the hash of the text previewed:
a save whose edits would now write anything else (the form or the file changed since)
is shown as a fresh preview instead. ``Operations.edit`` then applies the config to the
running daemon and writes the file (comments and order kept). A refused edit saves
nothing and shows validate's lines as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..edits import ConflictPolicy, Edit, FieldDirection, FieldEnabled, ValueMapSet, sha256
from ..errors import ConfigError, StaleEdit
from ..http.auth import check_csrf, read_form
from .map_page import shown_fields, table_map, value_maps
from .value_pairs import format_pairs, parse_pairs

if TYPE_CHECKING:
    from .app import Console, Page

ARROW_CHOICES = ("=", ">", "<")
CHANGED_SINCE = "The map or its file changed since the preview: check this preview and save again."


def field_edits(m: dict[str, Any], form: dict[str, str], first: str) -> list[Edit]:
    """The on/off and direction edits of the form's field rows that changed. Rows are
    numbered; each names its field, so a form of an older config is refused, not misread."""
    out: list[Edit] = []
    for i, f in enumerate(m["fields"]):
        name = f["names"][first]
        if form.get(f"field-{i}", name) != name:
            raise ConfigError(
                [
                    f"map {m['name']}: the field maps changed since the form was "
                    "loaded: reload the page"
                ]
            )
        enabled = f"on-{i}" in form
        if enabled != f["enabled"]:
            out.append(FieldEnabled(map=m["name"], field=name, enabled=enabled))
        arrow = form.get(f"dir-{i}", f["arrow"])
        if arrow not in ARROW_CHOICES:
            raise ConfigError([f"map {m['name']}, field {name}: direction {arrow!r} is not = > <"])
        if arrow != f["arrow"]:
            out.append(FieldDirection(map=m["name"], field=name, direction=arrow))
    return out


def pair_edits(m: dict[str, Any], form: dict[str, str], first: str) -> list[Edit]:
    """A value-map edit for each value map whose pairs the form changed."""
    out: list[Edit] = []
    for vm in value_maps(m["fields"], first):
        text = form.get(f"vm-{vm['name']}")
        if text is None:
            continue
        pairs = parse_pairs(text, vm["name"])
        if pairs != dict(vm["pairs"]):
            out.append(ValueMapSet(map=m["name"], field=vm["used_by"][0], pairs=pairs))
    return out


def edits_of(m: dict[str, Any], form: dict[str, str], first: str) -> list[Edit]:
    """Every edit the form asks for (none: nothing changed)."""
    edits = field_edits(m, form, first) + pair_edits(m, form, first)
    policy = form.get("conflict", m["conflict"])
    if policy != m["conflict"]:
        edits.append(ConflictPolicy(map=m["name"], policy=policy))
    return edits


def form_view(console: Console, m: dict[str, Any], form: dict[str, str] | None) -> dict[str, Any]:
    """What the form shows: the map as configured, or as the operator last sent it."""
    first = console.side_names[0]
    fields = []
    for i, f in enumerate(shown_fields(m["fields"])):
        on = f["enabled"] if form is None else f"on-{i}" in form
        arrow = f["arrow"] if form is None else form.get(f"dir-{i}", f["arrow"])
        fields.append({**f, "i": i, "on": on, "chosen": arrow})
    maps = [
        {**vm, "text": form_text(form, f"vm-{vm['name']}", format_pairs(dict(vm["pairs"])))}
        for vm in value_maps(m["fields"], first)
    ]
    conflict = form_text(form, "conflict", m["conflict"])
    return {"fields": fields, "vms": maps, "conflict": conflict}


def form_text(form: dict[str, str] | None, name: str, configured: str) -> str:
    return configured if form is None else form.get(name, configured)


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """The diff's lines, each with its class: ``file``, ``hunk``, ``add``, ``del`` or ``same``."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        else:
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        out.append((kind, line))
    return out


def render(
    console: Console,
    request: Request,
    m: dict[str, Any],
    form: dict[str, str] | None,
    *,
    shown: dict[str, Any] | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    """The edit page: the form (as sent, if it was), and what a preview or save found."""
    sides = console.side_names
    arrows = [("=", "both ways"), (">", f"{sides[0]} to {sides[1]}")]
    arrows.append(("<", f"{sides[1]} to {sides[0]}"))
    return console.page(
        request,
        "edit.html",
        title=f"Edit map {m['name']}",
        m=m,
        sides=sides,
        arrows=arrows,
        policies=[*sides, "newest"],
        view=form_view(console, m, form),
        shown=shown,
        diff=diff_lines(shown["diff"]) if shown else [],
        previewed=sha256(shown["text"]) if shown and shown.get("text") else "",
        problem=problem,
        locked=None,
        status_code=status_code,
    )


def included_from(console: Console, name: str) -> str | None:
    """The included map file map ``name`` comes from (the editor changes only the config
    file itself), or ``None`` when the config file defines it."""
    return console.ops.config.map_files.get(name)


def locked(console: Console, request: Request, m: dict[str, Any], source: str) -> Response:
    config = console.ops.config.path.name
    text = (
        f"Map {m['name']} is defined in {source}, which {config} includes: the console edits "
        f"only {config} itself. Copy the map into {config} (in place of the include) to edit it."
    )
    return console.page(
        request, "edit.html", title=f"Edit map {m['name']}", m=m, locked=text, status_code=409
    )


async def edit_page(console: Console, request: Request) -> Response:
    m = table_map(console, request.path_params["name"])
    if (source := included_from(console, m["name"])) is not None:
        return locked(console, request, m, source)
    return render(console, request, m, None)


async def edit_post(console: Console, request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    m = table_map(console, request.path_params["name"])
    if (source := included_from(console, m["name"])) is not None:
        return locked(console, request, m, source)
    try:
        edits = edits_of(m, form, console.side_names[0])
    except ConfigError as exc:
        return render(console, request, m, form, problem="\n".join(exc.problems), status_code=400)
    if not edits:
        return render(console, request, m, form, shown={"diff": "", "errors": [], "none": True})
    shown = await console.ops.preview_edits(edits)
    if form.get("action") != "save":
        return render(console, request, m, form, shown=shown)
    if shown["errors"]:
        return render(console, request, m, form, shown=shown, status_code=400)
    if form.get("previewed") != sha256(shown["text"]):
        return render(
            console, request, m, form, shown=shown, problem=CHANGED_SINCE, status_code=409
        )
    return await save(console, request, m, form, edits)


async def save(
    console: Console, request: Request, m: dict[str, Any], form: dict[str, str], edits: list[Edit]
) -> Response:
    """Save the previewed edits; back to the map's page, which says what happened."""
    try:
        done = await console.ops.edit(edits)
    except StaleEdit as exc:
        return render(console, request, m, form, problem=str(exc), status_code=409)
    except ConfigError as exc:  # the running engine refused the new config
        return render(console, request, m, form, problem="\n".join(exc.problems), status_code=400)
    if done["errors"]:
        return render(console, request, m, form, shown=done, status_code=400)
    query = urlencode({"saved": "1", "resync": ",".join(done["resync"])})
    return RedirectResponse(f"/maps/{quote(m['name'], safe='')}?{query}", status_code=303)


def routes() -> list[tuple[str, Page, list[str]]]:
    return [
        ("/maps/{name}/edit", edit_page, ["GET"]),
        ("/maps/{name}/edit", edit_post, ["POST"]),
    ]

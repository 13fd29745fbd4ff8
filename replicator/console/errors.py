"""The error queue (``/errors``): filtered by map, side and reason, each record's change
and reason in words, with retry and discard per record and for those picked."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import ConfigError
from ..http.auth import check_csrf, read_form
from .app import key_text

if TYPE_CHECKING:
    from .app import Console, Page

FILTERS = ("map", "side", "reason")
OP_WORDS = {"upsert": "created or changed", "delete": "deleted", "reset": "table re-created"}


def what_happened(e: dict[str, Any]) -> str:
    """The change in words: ``accounts row 7 created or changed on crm``."""
    change = e["change"]
    if change is None:
        return f"a {e['kind']} of row {e['native_id']} on {e['side']}"
    op = OP_WORDS.get(change["op"], change["op"])
    text = f"{change['entity']} row {change['native_id']} {op} on {e['side']}"
    values = change.get("values")
    if values:
        shown = ", ".join(f"{k} = {v!r}" for k, v in sorted(values.items()))
        text += f" ({shown})"
    return text


def shown(e: dict[str, Any]) -> dict[str, Any]:
    last = datetime.fromisoformat(e["last_seen"]).astimezone()
    return {
        **e,
        "record": key_text(e["key"]) or e["native_id"],
        "what": what_happened(e),
        "last_seen": last.strftime("%Y-%m-%d %H:%M:%S"),
    }


def filters_of(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in FILTERS}


async def errors_page(console: Console, request: Request) -> Response:
    filters = filters_of(request)
    entries = await console.ops.errors(**{k: v or None for k, v in filters.items()})
    back = urlencode({k: v for k, v in filters.items() if v})
    return console.page(
        request,
        "errors.html",
        title="Error queue",
        entries=[shown(e) for e in entries],
        filters=filters,
        filtered=any(filters.values()),
        back=back,
        map_names=[m.name for m in console.ops.config.maps],
        sides=console.side_names,
        notice=notice_of(request),
    )


def notice_of(request: Request) -> str:
    """What the last action did, from the counts it redirected with (never free text)."""
    q = request.query_params
    done = []
    if q.get("retried", "").isdigit():
        done.append(f"{q['retried']} queued for a fresh attempt")
    if q.get("discarded", "").isdigit():
        done.append(f"{q['discarded']} discarded")
    return "; ".join(done).capitalize() + "." if done else ""


def picked(form: dict[str, str]) -> list[int]:
    return sorted(int(k[5:]) for k in form if k.startswith("pick-") and k[5:].isdigit())


def action_of(form: dict[str, str]) -> tuple[str, list[int]]:
    """``("retry" | "discard", ids)`` from the button pressed; ``ConfigError`` otherwise."""
    verb, _, which = form.get("action", "").partition("-")
    if verb not in {"retry", "discard"}:
        raise ConfigError(["the error queue form was sent without retry or discard"])
    if which == "selected":
        ids = picked(form)
        if not ids:
            raise ConfigError([f"pick at least one record to {verb}"])
        return verb, ids
    if not which.isdigit():
        raise ConfigError([f"the error queue form named no record to {verb}"])
    return verb, [int(which)]


async def act(console: Console, request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    verb, ids = action_of(form)
    if verb == "retry":
        counts = {"retried": await console.ops.retry(ids)}
    else:
        counts = {"discarded": await console.ops.discard(ids)}
    kept = {k: v for k, v in parse_qsl(form.get("back", "")) if k in FILTERS and v}
    query = urlencode({**kept, **counts})
    return RedirectResponse(f"/errors?{query}", status_code=303)


def routes() -> list[tuple[str, Page, list[str]]]:
    return [("/errors", errors_page, ["GET"]), ("/errors", act, ["POST"])]

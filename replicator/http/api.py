"""``/api/…``: JSON for everything the CLI does, answered by the daemon's ``Operations``.

::

    GET  /api/status                      what `replicator status --json` prints
    GET  /api/maps                        the maps as configured (field maps with = > <)
    GET  /api/errors?map=&side=&reason=   what `replicator errors --json` prints, filtered
    POST /api/errors/retry                {"ids": [3, 4]} or {"ids": null} (all) -> {"queued": n}
    POST /api/errors/discard              {"ids": [3, 4]}                       -> {"discarded": n}
    POST /api/maps/<name>/pause           -> {"map": name, "paused": true}
    POST /api/maps/<name>/resume          -> {"map": name, "paused": false}
    POST /api/reconcile                   {"maps": ["customers"]} or {"maps": null} (all)
                                          -> {"passes": [{map, side, scanned, replayed, ...}]}
    POST /api/maps/<name>/preview         {"edits": [<edit>, ...]} -> {"diff", "errors", "text"}
    POST /api/maps/<name>/edit            the same; saved and applied -> ... "saved": true

An edit (edits.py) is ``{"edit": "enabled" | "direction" | "value_map" | "conflict", ...}``,
its map the path's (``"map"`` may be left out). An edit that validate refuses gets 400 with
validate's lines as ``problems`` and the ``diff``; a file changed since the page read it 409.

A bad request gets 400 ``{"error": ..., "problems": [...]}`` (a ``ConfigError``'s lines, as
the CLI prints them), a replicator that cannot do it now 503 ``{"error": ...}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..edits import Edit
from ..errors import ConfigError, ReplicatorError, StaleEdit
from ..operations import Operations
from .limits import TooLarge, read_body

MAX_BODY = 64 * 1024


class IdsBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of retry and discard: the entries' ids (``null``: all, for retry)."""

    ids: list[int] | None


class MapsBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of reconcile: the maps to pass over (``null``: all)."""

    maps: list[str] | None = None


class EditsBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of preview and edit: the edits of the path's map."""

    edits: list[dict[str, Any]]


Handler = Callable[[Request], Awaitable[Response]]


def answering(handler: Callable[[Request, Operations], Awaitable[Any]]) -> Handler:
    """A route from ``handler(request, ops) -> JSON value``; errors become 400 or 503."""

    async def route(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request, request.app.state.ops))
        except ConfigError as exc:
            shown = exc.answer if isinstance(exc, EditRefused) else {}
            body = {**shown, "error": str(exc), "problems": exc.problems}
            return JSONResponse(body, status_code=400)
        except StaleEdit as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        except ReplicatorError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)

    return route


async def ids_body(request: Request, *, all_allowed: bool) -> list[int] | None:
    try:
        ids = msgspec.json.decode(await read_body(request, MAX_BODY), type=IdsBody).ids
    except TooLarge as exc:
        raise ConfigError([str(exc)]) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError([f'the body must be {{"ids": [<id>, ...]}}: {exc}']) from exc
    if ids is None and not all_allowed:
        raise ConfigError(["discard needs the ids of the entries, not null"])
    return ids


async def status(request: Request, ops: Operations) -> Any:
    return await ops.status()


async def maps(request: Request, ops: Operations) -> Any:
    return await ops.maps()


async def errors(request: Request, ops: Operations) -> Any:
    q = request.query_params
    return await ops.errors(map=q.get("map"), side=q.get("side"), reason=q.get("reason"))


async def retry(request: Request, ops: Operations) -> Any:
    return {"queued": await ops.retry(await ids_body(request, all_allowed=True))}


async def discard(request: Request, ops: Operations) -> Any:
    ids = await ids_body(request, all_allowed=False)
    return {"discarded": await ops.discard(ids or [])}


async def pause(request: Request, ops: Operations) -> Any:
    name = request.path_params["name"]
    await ops.pause(name)
    return {"map": name, "paused": True}


async def resume(request: Request, ops: Operations) -> Any:
    name = request.path_params["name"]
    await ops.resume(name)
    return {"map": name, "paused": False}


async def reconcile(request: Request, ops: Operations) -> Any:
    try:
        body = await read_body(request, MAX_BODY)
        maps = msgspec.json.decode(body, type=MapsBody).maps if body.strip() else None
    except TooLarge as exc:
        raise ConfigError([str(exc)]) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError([f'the body must be {{"maps": [<map>, ...]}} or empty: {exc}']) from exc
    return {"passes": await ops.reconcile(maps)}


async def edits_body(request: Request) -> list[Edit]:
    """The edits of a preview or edit body, each of the path's map."""
    name = request.path_params["name"]
    try:
        items = msgspec.json.decode(await read_body(request, MAX_BODY), type=EditsBody).edits
        for item in items:
            if item.setdefault("map", name) != name:
                raise ConfigError([f"an edit of map {item['map']!r} sent to map {name!r}"])
        return msgspec.convert(items, list[Edit])
    except TooLarge as exc:
        raise ConfigError([str(exc)]) from exc
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError([f'the body must be {{"edits": [<edit>, ...]}}: {exc}']) from exc


async def preview_edits(request: Request, ops: Operations) -> Any:
    return await ops.preview_edits(await edits_body(request))


async def edit(request: Request, ops: Operations) -> Any:
    done = await ops.edit(await edits_body(request))
    if done["errors"]:
        raise EditRefused(done)
    return done


class EditRefused(ConfigError):
    """An edit validate refuses: 400 with its lines and the preview."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer["errors"])
        self.answer = answer


def api_routes() -> list[BaseRoute]:
    return [
        Route("/api/status", answering(status)),
        Route("/api/maps", answering(maps)),
        Route("/api/errors", answering(errors)),
        Route("/api/errors/retry", answering(retry), methods=["POST"]),
        Route("/api/errors/discard", answering(discard), methods=["POST"]),
        Route("/api/maps/{name}/pause", answering(pause), methods=["POST"]),
        Route("/api/maps/{name}/resume", answering(resume), methods=["POST"]),
        Route("/api/reconcile", answering(reconcile), methods=["POST"]),
        Route("/api/maps/{name}/preview", answering(preview_edits), methods=["POST"]),
        Route("/api/maps/{name}/edit", answering(edit), methods=["POST"]),
    ]

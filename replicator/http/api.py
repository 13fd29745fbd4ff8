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

from ..errors import ConfigError, ReplicatorError
from ..operations import Operations
from .limits import TooLarge, read_body

MAX_BODY = 64 * 1024


class IdsBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of retry and discard: the entries' ids (``null``: all, for retry)."""

    ids: list[int] | None


class MapsBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of reconcile: the maps to pass over (``null``: all)."""

    maps: list[str] | None = None


Handler = Callable[[Request], Awaitable[Response]]


def answering(handler: Callable[[Request, Operations], Awaitable[Any]]) -> Handler:
    """A route from ``handler(request, ops) -> JSON value``; errors become 400 or 503."""

    async def route(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request, request.app.state.ops))
        except ConfigError as exc:
            return JSONResponse({"error": str(exc), "problems": exc.problems}, status_code=400)
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
    ]

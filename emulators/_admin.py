"""The emulators' test hooks over HTTP: the ``/_emulator/`` prefix and its admin-key guard.

Not part of any real service: routes under ``/_emulator/``, each authenticated by the admin key
of ``emulator.json`` (``Authorization: Bearer <admin_key>``, else 401). A body that is not JSON
or does not fit the route's struct is a 400 naming the route. Each emulator's ``admin.py``
lists its own routes and wraps them with ``guarded``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PREFIX = "/_emulator/"
Handler = Callable[[Request], Awaitable[Response]]


def problem(status: int, message: str) -> Response:
    """An error answer of the admin routes (never the emulated service's shape)."""
    return JSONResponse({"error": {"code": "emulator", "message": message}}, status_code=status)


def guarded(key: str, handler: Handler) -> Handler:
    """``handler`` behind the admin key, with bad bodies answered 400."""

    async def guarded_handler(request: Request) -> Response:
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), key.encode()):
            return problem(401, "the admin routes need the admin key of emulator.json")
        try:
            return await handler(request)
        except msgspec.ValidationError as error:
            return problem(400, f"{request.url.path}: {error}")
        except msgspec.DecodeError as error:
            return problem(400, f"{request.url.path}: the body is not JSON ({error})")

    return guarded_handler


def routes(key: str, handlers: list[tuple[str, str, Handler]]) -> list[Route]:
    """``(path, method, handler)`` triples as guarded routes under the prefix."""
    return [
        Route(PREFIX + path, guarded(key, handler), methods=[method])
        for path, method, handler in handlers
    ]

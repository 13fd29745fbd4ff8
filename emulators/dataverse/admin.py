"""The emulator's test hooks over HTTP, for tests that run it as a process of its own.

Not part of the Web API (the real service has nothing like it): routes under ``/_emulator/``,
each authenticated by the admin key of ``emulator.json`` (``Authorization: Bearer <admin_key>``,
else 401). What ``DataverseEmulator``'s own attributes offer in-process, over HTTPS:

- ``POST /_emulator/faults`` with ``{"throttle": n, "retry_after_s": s}`` (the next n requests
  of any user answer 429 with that Retry-After; ``"code"`` picks the service protection code)
  or ``{"fail": n, "status": 503}`` (the next n answer that 5xx) -> 204;
- ``POST /_emulator/expire-tokens``: every access token issued so far is expired -> 204;
- ``POST /_emulator/expire-change-tracking`` with ``{"entity_set": "accounts"}`` -> 204;
- ``GET /_emulator/requests``: the request log, ``{"counts": [[method, kind, n], ...]}``
  (kinds as in ``requestlog.py``; the hooks themselves are not counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators._admin import Handler, routes
from emulators.dataverse.protection import REQUESTS, Protection


class Faults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What ``POST /_emulator/faults`` injects (either or both)."""

    throttle: int = 0
    retry_after_s: float = 1.0
    code: str = REQUESTS
    fail: int = 0
    status: int = 503


class Expiry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    entity_set: str


def admin_routes(
    key: str,
    protection: Protection,
    expire_tokens: Callable[[], None],
    expire_change_tracking: Callable[[str], None],
    counts: Callable[[], list[tuple[str, str, int]]],
) -> list[Route]:
    """The ``/_emulator/`` routes, guarded by ``key``."""

    async def faults(request: Request) -> Response:
        wanted = msgspec.json.decode(await request.body(), type=Faults)
        if wanted.throttle:
            protection.throttle(wanted.throttle, wanted.retry_after_s, wanted.code)
        if wanted.fail:
            protection.fail(wanted.fail, wanted.status)
        return Response(status_code=204)

    async def tokens(request: Request) -> Response:
        expire_tokens()
        return Response(status_code=204)

    async def tracking(request: Request) -> Response:
        expire_change_tracking(msgspec.json.decode(await request.body(), type=Expiry).entity_set)
        return Response(status_code=204)

    async def requests(request: Request) -> Response:
        listed: list[Any] = [list(row) for row in counts()]
        return JSONResponse({"counts": listed})

    handlers: list[tuple[str, str, Handler]] = [
        ("faults", "POST", faults),
        ("expire-tokens", "POST", tokens),
        ("expire-change-tracking", "POST", tracking),
        ("requests", "GET", requests),
    ]
    return routes(key, handlers)

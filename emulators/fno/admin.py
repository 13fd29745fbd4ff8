"""The F&O emulator's test hooks over HTTP (``emulators/_admin.py``: ``/_emulator/`` routes
behind the admin key of ``emulator.json``). The real service has nothing like them.

- ``POST /_emulator/faults`` with ``{"throttle": n, "retry_after_s": s}`` (the next n requests
  answer 429 with that Retry-After) and/or ``{"fail": n, "status": 503}`` -> 204;
- ``POST /_emulator/expire-tokens``: every access token issued so far is expired -> 204;
- the data-event emitter's routes (``events_admin.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators._admin import Handler, routes
from emulators.fno.throttling import Throttling


class Faults(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What ``POST /_emulator/faults`` injects (either or both)."""

    throttle: int = 0
    retry_after_s: float = 1.0
    fail: int = 0
    status: int = 503


def admin_routes(
    key: str,
    throttling: Throttling,
    expire_tokens: Callable[[], None],
    more: list[tuple[str, str, Handler]],
) -> list[Route]:
    """The ``/_emulator/`` routes, guarded by ``key`` (``more``: the emitter's)."""

    async def faults(request: Request) -> Response:
        wanted = msgspec.json.decode(await request.body(), type=Faults)
        if wanted.throttle:
            throttling.throttle(wanted.throttle, wanted.retry_after_s)
        if wanted.fail:
            throttling.fail(wanted.fail, wanted.status)
        return Response(status_code=204)

    async def tokens(request: Request) -> Response:
        expire_tokens()
        return Response(status_code=204)

    handlers: list[tuple[str, str, Handler]] = [
        ("faults", "POST", faults),
        ("expire-tokens", "POST", tokens),
        *more,
    ]
    return routes(key, handlers)

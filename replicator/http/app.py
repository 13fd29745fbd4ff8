"""``build_app(ops, http_config)``: the daemon's Starlette app (DESIGN §10).

Starlette because it is small, typed and runs on anyio, as the core does, and the
emulators already use it; hypercorn serves it (``server.py``). Routes of this package
come first, then ``extra`` in order (``/metrics``, then the console mounted at ``/``,
which must be last as it takes every path left)::

    app = build_app(ops, config.http, extra=[Route("/metrics", metrics), Mount("/", console)])
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ..config import HttpConfig
from ..config.http_settings import resolve_token
from ..operations import Operations
from .api import api_routes
from .auth import Guard, TokenGate, login, logout
from .health import healthz
from .hooks import hook
from .metrics import metrics

log = structlog.get_logger("replicator")
LOCAL_HOSTS = ["localhost", "127.0.0.1", "::1", "[::1]"]


def build_app(
    ops: Operations,
    http_config: HttpConfig,
    *,
    extra: Sequence[BaseRoute] = (),
    token: str | None = None,
) -> Starlette:
    """The app for ``ops``; the token is ``token`` or else read from ``token_env``
    (``ConfigError`` if that variable is empty)."""
    token = token or resolve_token(http_config)
    secure = http_config.tls_cert is not None
    guard = Guard(token, secrets.token_bytes(32), secure_cookie=secure)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/hooks/{side}", hook, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        *api_routes(),
        *extra,
    ]
    middleware = [Middleware(TokenGate, guard=guard)]
    if token is None:  # loopback only: answer no Host but this machine's (DNS rebinding)
        hosts = [*LOCAL_HOSTS, http_config.host]
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=hosts))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={500: unexpected})
    app.state.ops = ops
    app.state.http = http_config
    app.state.guard = guard
    return app


async def unexpected(request: Request, exc: Exception) -> Response:
    """A handler's bug: logged (the path, not the query: it may hold a hook's key), 500."""
    log.error("http_request_failed", method=request.method, path=request.url.path, error=repr(exc))
    return JSONResponse({"error": "internal error; the daemon's log has the details"}, 500)


def endpoint_routes(ops: Operations) -> list[BaseRoute]:
    """The routes of the other parts of the endpoint, in order: ``/metrics``, then the
    console mounted at ``/`` (last: it takes every path left). The daemon and
    ``Replicator.asgi_app()`` both serve these."""
    from ..console import Console  # the console's templates load only when it is served

    return [Route("/metrics", metrics), Mount("/", routes=Console(ops).routes())]

"""The console's frame: its templates, the pages' shared context, its routes.

``Console(ops).routes()`` is what the endpoint mounts at ``/``. Every page reads and acts
through ``Operations`` only (never the store), renders with Jinja2 autoescaping (every
value shown is HTML-escaped), and every form carries the CSRF token ``check_csrf`` asks
for. A page that cannot be answered now (no state store yet, an unknown map) is still a
page, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import ConfigError, ReplicatorError
from ..http.auth import csrf_token, guard_of
from ..operations import Operations
from .samples import Samples

NAV = [("/", "Maps"), ("/errors", "Error queue"), ("/activity", "Activity")]
HTMX = "static/htmx.min.js"
"""htmx 2 (0BSD licence, ``static/htmx.LICENSE``), from the npm package ``htmx.org``."""


class NotFound(ConfigError):
    """What a page was asked about does not exist (a map not in the config): 404."""


Page = Callable[["Console", Request], Awaitable[Response]]


class Console:
    """The operator console of one ``Operations``: its pages and what they remember (the
    samples behind the charts)."""

    def __init__(self, ops: Operations, *, clock: Callable[[], float] = time.time) -> None:
        self.ops = ops
        self.clock = clock
        self.samples = Samples()
        self.unwatch = ops.watch_changes(self.samples.on_change)
        """Stops the samples hearing the engine (they hear it for as long as it runs)."""
        self.templates = Environment(
            loader=PackageLoader("replicator.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
        )

    def routes(self) -> list[BaseRoute]:
        from . import activity, editing, errors, map_page, maps

        return [
            Route("/static/htmx.min.js", htmx),
            *self.wrap(maps.routes()),
            *self.wrap(map_page.routes()),
            *self.wrap(editing.routes()),
            *self.wrap(errors.routes()),
            *self.wrap(activity.routes()),
        ]

    def wrap(self, pages: list[tuple[str, Page, list[str]]]) -> list[BaseRoute]:
        return [Route(path, self.answering(page), methods=methods) for path, page, methods in pages]

    def answering(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            try:
                return await page(self, request)
            except ConfigError as exc:
                status = 404 if isinstance(exc, NotFound) else 400
                return self.problem(request, "\n".join(exc.problems) or str(exc), status)
            except ReplicatorError as exc:
                return self.problem(request, str(exc), 503)

        return route

    # -- rendering -------------------------------------------------------------------------

    def render(self, name: str, **context: Any) -> str:
        return self.templates.get_template(name).render(**context)

    def page(
        self, request: Request, name: str, *, title: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A whole page: the frame (navigation, sign-out) around template ``name``."""
        frame = {
            "title": title,
            "nav": NAV,
            "here": request.url.path,
            "csrf": csrf_token(request),
            "signed_in": guard_of(request).token is not None,
            "problem": context.pop("problem", None),
        }
        return HTMLResponse(self.render(name, **frame, **context), status_code=status_code)

    def fragment(self, request: Request, name: str, **context: Any) -> HTMLResponse:
        """Part of a page, for htmx to swap in."""
        return HTMLResponse(self.render(name, csrf=csrf_token(request), **context))

    def problem(self, request: Request, text: str, status_code: int) -> HTMLResponse:
        """A page that only says what is wrong (``text`` is escaped like every value)."""
        return self.page(
            request, "base.html", title="Problem", problem=text, status_code=status_code
        )

    # -- what pages share -----------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """``Operations.status()``, its lags noted for the charts."""
        status = await self.ops.status()
        self.samples.record_status(status["maps"], self.clock())
        return status

    @property
    def side_names(self) -> list[str]:
        return [s.name for s in self.ops.config.sides]


def key_text(key: object) -> str:
    """A record's integration key for people: ``usmf / US-001`` (text as it is)."""
    if isinstance(key, list):
        return " / ".join(str(k) for k in key)
    return str(key)


@lru_cache(maxsize=1)
def htmx_source() -> bytes:
    return files("replicator.console").joinpath(HTMX).read_bytes()


async def htmx(request: Request) -> Response:
    """htmx, served from the package (no site elsewhere is asked for anything)."""
    headers = {"cache-control": "max-age=86400"}
    return Response(htmx_source(), media_type="text/javascript", headers=headers)

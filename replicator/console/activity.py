"""Activity (``/activity``): the recent change events, newest first, refreshed live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from .app import Console, Page


async def activity_page(console: Console, request: Request) -> Response:
    return console.page(request, "activity.html", title="Activity", events=[], empty=empty())


async def activity_fragment(console: Console, request: Request) -> Response:
    return console.fragment(request, "activity_rows.html", events=[], empty=empty())


def empty() -> str:
    return "No change has been seen yet."


def routes() -> list[tuple[str, Page, list[str]]]:
    return [
        ("/activity", activity_page, ["GET"]),
        ("/fragments/activity", activity_fragment, ["GET"]),
    ]


__all__: list[Any] = []

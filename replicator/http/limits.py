"""Request bodies read within a bound: nothing the endpoint reads can grow without limit."""

from __future__ import annotations

from starlette.requests import Request


class TooLarge(Exception):
    """A body over the limit of the route that reads it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the body is larger than {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or ``TooLarge`` as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(limit)
    return bytes(body)

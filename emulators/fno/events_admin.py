"""The data-event emitter's admin routes (under ``/_emulator/``, behind the admin key; the real
service sets these up on its Business events page):

- ``POST /_emulator/subscriptions`` with ``{"endpoint": "https://...?code=KEY", "entity_set":
  "CustomersV3", "events": ["create", "update", "delete"], "ca_file": "/path/ca.pem"}``
  -> 201 ``{"id": ...}`` (400 naming what is wrong);
- ``GET /_emulator/subscriptions``; ``POST /_emulator/subscriptions/remove`` with ``{"id": ...}``;
- ``POST /_emulator/event-faults`` with ``events.Faults``' fields (seed, duplicate, reorder,
  loss, retries, retry_interval_s, timeout_s, hold_s) -> 204;
- ``GET /_emulator/events``: delivered, lost, errors (the error log), held, pending;
- ``POST /_emulator/events/resend`` with ``{"event_ids": [...]}`` (or ``{}``: all) ->
  ``{"resent": n}``; ``POST /_emulator/events/release``: deliver the held events now.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulators._admin import Handler, problem
from emulators.fno.events import Emitter
from emulators.fno.subscriptions import Faults, Subscription


class _Removal(msgspec.Struct, forbid_unknown_fields=True):
    id: str


class _Resend(msgspec.Struct, forbid_unknown_fields=True):
    event_ids: list[str] | None = None


def events_routes(emitter: Emitter) -> list[tuple[str, str, Handler]]:
    """The emitter's ``(path, method, handler)`` triples for ``emulators._admin.routes``."""

    async def subscribe(request: Request) -> Response:
        wanted = msgspec.json.decode(await request.body(), type=Subscription)
        try:
            return JSONResponse({"id": emitter.subscribe(wanted)}, status_code=201)
        except ValueError as error:
            return problem(400, str(error))

    async def listing(request: Request) -> Response:
        return JSONResponse({"subscriptions": emitter.status()["subscriptions"]})

    async def remove(request: Request) -> Response:
        try:
            emitter.unsubscribe(msgspec.json.decode(await request.body(), type=_Removal).id)
        except ValueError as error:
            return problem(404, str(error))
        return Response(status_code=204)

    async def faults(request: Request) -> Response:
        try:
            emitter.configure(msgspec.json.decode(await request.body(), type=Faults))
        except ValueError as error:
            return problem(400, str(error))
        return Response(status_code=204)

    async def events(request: Request) -> Response:
        return JSONResponse(emitter.status())

    async def resend(request: Request) -> Response:
        wanted = msgspec.json.decode(await request.body() or b"{}", type=_Resend)
        return JSONResponse({"resent": await emitter.resend(wanted.event_ids)})

    async def release(request: Request) -> Response:
        await emitter.release()
        return Response(status_code=204)

    return [
        ("subscriptions", "POST", subscribe),
        ("subscriptions", "GET", listing),
        ("subscriptions/remove", "POST", remove),
        ("event-faults", "POST", faults),
        ("events", "GET", events),
        ("events/resend", "POST", resend),
        ("events/release", "POST", release),
    ]

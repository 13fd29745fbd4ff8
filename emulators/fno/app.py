"""The F&O emulator's HTTP app (Starlette): Entra ID's endpoints and OData under ``/data/``.

Every OData request is authenticated (401 with ``WWW-Authenticate`` for a missing or expired
token), may meet an injected refusal (``throttling.py``), and is routed here to
``$metadata``, ``$batch`` or an entity set's handlers. After each request, the changes it
committed go to the data-event emitter.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulators import _batch
from emulators._entra import Authority, entra_routes
from emulators.fno import batch, errors, metadata, reads, writes
from emulators.fno.call import DATA_PATH, Answer, Call, error_answer
from emulators.fno.definitions import EntityDef, Registry
from emulators.fno.store import Change, Store
from emulators.fno.throttling import Throttling
from emulators.fno.urls import Address, normalise_key, parse_path

log = structlog.get_logger()
Publish = Callable[[list[Change]], Awaitable[None]]


class Service:
    """What the handlers share: definitions, rows, the authority, throttling, settings."""

    def __init__(
        self,
        *,
        registry: Registry,
        store: Store,
        authority: Authority,
        company: str,
        page_size: int,
        max_batch: int = batch.MAX_REQUESTS,
    ) -> None:
        self.registry = registry
        self.store = store
        self.authority = authority
        self.company = company
        self.page_size = page_size
        self.throttling = Throttling()
        self.dialect = batch.dialect(max_batch)
        self.base_url = ""  # set once the port is known
        self.publish: Publish | None = None

    async def dispatch(self, call: Call) -> Answer:
        """The answer to one OData call (top level or a part of a batch)."""
        try:
            return await self._route(call)
        except errors.FnoError as error:
            return error_answer(error)
        except Exception:  # a bug of the emulator: answer as the service would, keep the trace
            log.exception("emulator_failed", method=call.method, path=call.path)
            return error_answer(errors.FnoError(500, "An error has occurred."))

    async def _route(self, call: Call) -> Answer:
        if call.path == "$metadata" and call.method == "GET":
            return metadata.answer(self.registry)
        if call.path == "$batch" and call.method == "POST":
            return await self._batch(call)
        address = parse_path(call.path)
        entity = self.registry.entity(address.entity_set)
        if entity is None:
            raise errors.FnoError(
                404, f"No HTTP resource was found that matches the request URI '{call.url}'."
            )
        return self._on_rows(call, entity, address)

    def _on_rows(self, call: Call, entity: EntityDef, address: Address) -> Answer:
        key = None if address.key is None else normalise_key(entity, address.key)
        method = call.method
        if address.rest == "/$count" and key is None and method == "GET":
            return reads.count(call, entity, self.store, self.registry)
        if address.rest:
            raise errors.FnoError(501, f"The emulator does not serve '{address.rest}'.")
        if method == "GET":
            if key is None:
                return reads.read_collection(
                    call, entity, self.store, self.registry, self.page_size
                )
            return reads.read_row(call, entity, self.store, self.registry, key)
        if method == "POST" and key is None:
            return writes.create(call, entity, self.store, self.registry)
        if method == "PATCH" and key is not None:
            return writes.update(call, entity, self.store, self.registry, key)
        if method == "DELETE" and key is not None:
            return writes.delete(call, entity, self.store, key)
        raise errors.FnoError(405, f"The HTTP method '{method}' is not allowed on '{call.path}'.")

    async def _batch(self, call: Call) -> Answer:
        try:
            parts = _batch.parse_batch(
                call.headers.get("content-type", ""), call.body, self.dialect
            )
        except _batch.BatchError as error:
            raise errors.bad_payload(str(error)) from None
        go_on = _batch.prefers_continue_on_error(call.headers.get("prefer"))

        async def run(part: _batch.SubRequest) -> _batch.SubResponse:
            inner = self.call(part.method, part.url, part.headers, part.body, call.user)
            answer = await self.dispatch(inner)
            return _batch.SubResponse(
                status=answer.status, headers=answer.headers, body=answer.body
            )

        results = await _batch.run_batch(
            parts, run, self.store.atomic, self.dialect, continue_on_error=go_on
        )
        content_type, body = _batch.render_batch(results)
        status = _batch.batch_status(results, continue_on_error=go_on)
        return Answer(status=status, headers={"Content-Type": content_type}, body=body)

    def call(
        self, method: str, target: str, headers: dict[str, str], body: bytes, user: str
    ) -> Call:
        return Call(
            base_url=self.base_url,
            method=method,
            target=target,
            headers=headers,
            body=body,
            company=self.company,
            user=user,
        )

    def unauthorized(self) -> Answer:
        # F&O answers a bad token with 401 and an empty body; the challenge names the tenant.
        authorize = f"{self.base_url}/{self.authority.tenant_id}/oauth2/authorize"
        challenge = f'Bearer error="invalid_token", authorization_uri="{authorize}"'
        return Answer(status=401, headers={"WWW-Authenticate": challenge})


def build_app(service: Service, extra: Sequence[BaseRoute] = ()) -> Starlette:
    """Entra ID's endpoints, OData at ``/data/`` and ``extra`` routes (the admin hooks)."""

    async def data(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()  # still %-encoded
        target = raw.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
        app = service.authority.caller(request.headers.get("authorization"))
        if app is None:
            return _response(service.unauthorized())
        refusal = service.throttling.next()
        if refusal is not None:
            return _response(error_answer(refusal))
        body = await request.body()
        call = service.call(request.method, target, dict(request.headers), body, app.user_id)
        answer = await service.dispatch(call)
        changes = service.store.drain()
        if changes and service.publish is not None:
            await service.publish(changes)
        return _response(answer)

    routes = [
        *entra_routes(service.authority, lambda: service.base_url, lambda method: None),
        Route(DATA_PATH + "{path:path}", data, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
        *extra,
    ]
    return Starlette(routes=routes)


def _response(answer: Answer) -> Response:
    headers = {**answer.headers, "ms-dyn-aid": str(uuid.uuid4())}  # F&O's activity id header
    return Response(answer.body, status_code=answer.status, headers=headers)

"""The emulator's HTTP app (Starlette): Entra ID's endpoints and the Web API under
``/api/data/v9.2/``. Every API request is authenticated (401 with ``WWW-Authenticate``), goes
through service protection (429 with ``Retry-After``) and carries ``x-ms-dop-hint``; a
``$batch`` runs its parts through the same handler, as one protected request.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulators._entra import App, Authority, entra_routes
from emulators.dataverse import batch, errors, metadata, reads, writes
from emulators.dataverse.call import API_PATH, Answer, Call, error_answer, json_answer
from emulators.dataverse.protection import Protection
from emulators.dataverse.requestlog import RequestLog, kind_of
from emulators.dataverse.tableinfo import TableInfo
from emulators.dataverse.tables import Tables
from emulators.dataverse.urls import Address, normalise, parse_resource

log = structlog.get_logger()
_REF = re.compile(r"^/(?P<nav>\w+)/\$ref$")
_PROPERTY = re.compile(r"^/(?P<name>\w+)$")


class Organization:
    """The ids WhoAmI answers with."""

    def __init__(self) -> None:
        self.organization_id = str(uuid.uuid4())
        self.business_unit_id = str(uuid.uuid4())


class Service:
    """What the handlers share: the store, the authority, protection, the log, the base URL."""

    def __init__(
        self,
        *,
        db: Tables,
        authority: Authority,
        protection: Protection,
        requests: RequestLog,
        retention_s: float | None,
    ) -> None:
        self.db = db
        self.authority = authority
        self.protection = protection
        self.requests = requests
        self.retention_s = retention_s
        self.organization = Organization()
        self.base_url = ""  # set once the port is known

    async def dispatch(self, call: Call) -> Answer:
        """The answer to one Web API call (top-level or a part of a batch)."""
        try:
            return await self._route(call)
        except errors.ApiError as error:
            return error_answer(error)
        except Exception:  # a bug of the emulator: answer like the service, keep the trace
            log.exception("emulator_failed", method=call.method, path=call.path)
            return error_answer(errors.ApiError(500, "0x80040216", "An unexpected error occurred."))

    async def _route(self, call: Call) -> Answer:
        if call.path == "WhoAmI" and call.method == "GET":
            return self._whoami(call)
        if call.path == "$batch" and call.method == "POST":
            return await self._batch(call)
        if metadata.is_metadata(call.path):
            if call.method != "GET":
                raise errors.bad_query("The emulator does not change table definitions.", 405)
            return metadata.answer(call)
        address = parse_resource(call.path)
        if (
            not self.db.has(address.entity_set)
            or address.entity_set != self.db.store(address.entity_set).info.entity_set
        ):
            raise errors.bad_query(
                f"Resource not found for the segment '{address.entity_set}'.", 404
            )
        info = self.db.store(address.entity_set).info
        address = normalise(info, address)
        return self._on_rows(call, info, address)

    def _on_rows(self, call: Call, info: TableInfo, address: Address) -> Answer:
        one = address.guid is not None or address.key is not None
        if call.method == "GET" and address.rest == "/$count" and not one:
            return reads.count(call, info)
        ref = _REF.match(address.rest)
        if ref and one and call.method in ("PUT", "DELETE"):
            return writes.reference(call, info, address, ref["nav"])
        prop = _PROPERTY.match(address.rest)
        if prop and one and call.method in ("PUT", "DELETE"):
            return writes.single_property(call, info, address, prop["name"])
        if address.rest:
            raise errors.bad_query(f"The emulator does not serve '{address.rest}'.", 501)
        if call.method == "GET":
            return reads.read_row(call, info, address) if one else reads.read_collection(call, info)
        if call.method == "POST" and not one:
            return writes.create(call, info)
        if call.method == "PATCH" and one:
            return writes.upsert(call, info, address)
        if call.method == "DELETE" and one:
            return writes.delete(call, info, address)
        raise errors.ApiError(
            405, "0x80060888", f"The HTTP method '{call.method}' is not allowed on this resource."
        )

    def _whoami(self, call: Call) -> Answer:
        return json_answer(
            200,
            {
                "@odata.context": f"{call.api_url}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": self.organization.business_unit_id,
                "UserId": call.user,
                "OrganizationId": self.organization.organization_id,
            },
        )

    async def _batch(self, call: Call) -> Answer:
        try:
            parts = batch.parse_batch(call.headers.get("content-type", ""), call.body)
        except batch.BatchError as error:
            raise errors.payload("$batch", str(error)) from None
        go_on = batch.prefers_continue_on_error(call.headers.get("prefer"))

        async def run(part: batch.SubRequest) -> batch.SubResponse:
            inner = self.call(part.method, part.url, part.headers, part.body, call.user)
            self.requests.record(inner.method, kind_of(inner.method, inner.path, inner.query))
            answer = await self.dispatch(inner)
            return batch.SubResponse(status=answer.status, headers=answer.headers, body=answer.body)

        results = await batch.run_batch(parts, run, self.db.atomic, continue_on_error=go_on)
        content_type, body = batch.render_batch(results)
        status = batch.batch_status(results, continue_on_error=go_on)
        return Answer(
            status=status, headers={"Content-Type": content_type, "OData-Version": "4.0"}, body=body
        )

    def call(
        self, method: str, target: str, headers: dict[str, str], body: bytes, user: str
    ) -> Call:
        return Call(
            db=self.db,
            base_url=self.base_url,
            method=method,
            target=target,
            headers=headers,
            body=body,
            user=user,
            retention_s=self.retention_s,
        )

    def unauthorized(self) -> Answer:
        authorize = f"{self.base_url}/{self.authority.tenant_id}/oauth2/authorize"
        challenge = (
            'Bearer error="invalid_token", error_description="Error during token validation!",'
            f" authorization_uri={authorize}, resource_id={self.base_url}/"
        )
        error = errors.ApiError(
            401,
            errors.UNAUTHORIZED,
            "The access token is missing, expired or not valid (ExpiredAuthTicket, "
            "InvalidAuthTicket).",
            {"WWW-Authenticate": challenge},
        )
        return error_answer(error)


def _response(answer: Answer, extra: dict[str, str]) -> Response:
    request_id = str(uuid.uuid4())  # the service names every answer; clients log it
    ids = {"x-ms-service-request-id": request_id, "REQ_ID": request_id}
    headers = {**answer.headers, **extra, **ids}
    return Response(answer.body, status_code=answer.status, headers=headers)


def build_app(service: Service, extra: Sequence[BaseRoute] = ()) -> Starlette:
    """The Starlette app serving Entra ID's endpoints and the Web API (and ``extra`` routes:
    the test hooks of ``admin.py``)."""

    async def api(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()  # still %-encoded
        target = raw.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
        path = request.url.path.removeprefix(API_PATH)
        service.requests.record(
            request.method, kind_of(request.method, path, dict(request.query_params))
        )
        app = service.authority.caller(request.headers.get("authorization"))
        if app is None:
            return _response(service.unauthorized(), service.protection.headers(None))
        return await _protected(service, app, request, target)

    routes = [
        *entra_routes(
            service.authority,
            lambda: service.base_url,
            lambda method: service.requests.record(method, "token"),
        ),
        Route(API_PATH + "{path:path}", api, methods=["GET", "POST", "PATCH", "DELETE", "PUT"]),
        *extra,
    ]
    return Starlette(routes=routes)


async def _protected(service: Service, app: App, request: Request, target: str) -> Response:
    refusal = service.protection.enter(app.user_id)
    if refusal is not None:
        headers = {"Content-Type": "application/json; odata.metadata=minimal", **refusal.headers()}
        answer = Answer(status=refusal.status, headers=headers, body=refusal.body())
        return _response(answer, service.protection.headers(app.user_id))
    try:
        call = service.call(
            request.method, target, dict(request.headers), await request.body(), app.user_id
        )
        answer = await service.dispatch(call)
    finally:
        service.protection.leave(app.user_id)
    return _response(answer, service.protection.headers(app.user_id))

"""``POST /hooks/<side>``: push notifications (webhooks) for a side's change feed.

Not behind the endpoint's token: the service that calls it authenticates to the side
itself (``HookReceiver.receive_hook`` checks, e.g. with ``hook_key_matches``). The route
only keeps the request within bounds, each refusal logged with its reason:
405 for another method, 404 for an unknown side or one that takes no hooks, 413 for a
body over 1 MiB. Whatever else happens, the side's reply is the answer.
"""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..adapter import HookReceiver
from ..errors import ReplicatorError
from ..operations import Operations
from .limits import TooLarge, read_body

MAX_BODY = 1024 * 1024
log = structlog.get_logger("replicator")


def refused(side: str, status: int, reason: str) -> JSONResponse:
    log.warning("hook_refused", side=side, status=status, reason=reason)
    return JSONResponse({"error": reason}, status_code=status)


async def hook(request: Request) -> JSONResponse:
    side = request.path_params["side"]
    if request.method != "POST":
        return refused(side, 405, f"a hook is a POST, not a {request.method}")
    ops: Operations = request.app.state.ops
    receiver = ops.hook_receiver(side)
    if receiver is None:
        return refused(side, 404, f"no side {side!r} takes hooks here")
    try:
        body = await read_body(request, MAX_BODY)
    except TooLarge as exc:
        return refused(side, 413, str(exc))
    return await deliver(receiver, side, body, request)


async def deliver(receiver: HookReceiver, side: str, body: bytes, request: Request) -> JSONResponse:
    query = dict(request.query_params)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        reply = await receiver.receive_hook(body, query, headers)
    except ReplicatorError as exc:
        return refused(side, 503, f"the side could not take the hook: {exc}")
    if reply.status >= 400:
        log.warning("hook_refused", side=side, status=reply.status, reason="by the side")
    return JSONResponse(reply.body, status_code=reply.status)

"""``/metrics``: the running engine's Prometheus metrics (``replicator.metrics``).

Metrics live in the daemon's process: an ``Operations`` without a running engine has
none to give and answers 503 saying so. The gauges come from ``Operations.status()``,
which reads the state store through a connection of its own, so a scrape never waits
on the engine's. Behind the token like every path but ``/healthz``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ReplicatorError
from ..metrics import CONTENT_TYPE
from ..operations import Operations

NO_ENGINE = (
    "no replicator runs in this process: metrics are kept by the running daemon"
    " (`replicator run`), or by Replicator.asgi_app() in a host"
)


async def metrics(request: Request) -> Response:
    ops: Operations = request.app.state.ops
    rep = ops.replicator
    if rep is None:
        return JSONResponse({"error": NO_ENGINE}, status_code=503)
    try:
        status = await ops.status()
    except ReplicatorError as exc:  # e.g. no state store yet
        return JSONResponse({"error": str(exc)}, status_code=503)
    return Response(rep.metrics.render(status), media_type=CONTENT_TYPE)

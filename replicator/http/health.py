"""``/healthz``: liveness and readiness for a container orchestrator.

200 ``{"status": "ok"}`` while the daemon runs and every side answers (or has been away
for less than ``[http] down_grace_s``, 60 s by default: a side that blinks is not a reason
to restart anything); 503 ``{"status": "down", "reason": ...}`` naming each side that has
been unreachable for longer. Never behind the token, and it tells nothing secret.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from ..operations import Operations


def down_reasons(outages: dict[str, float], grace_s: float, now: float) -> list[str]:
    """``side 'crm' unreachable for 75 s (grace 60 s)`` for each side down past its grace."""
    return [
        f"side {name!r} unreachable for {now - since:.0f} s (grace {grace_s:g} s)"
        for name, since in sorted(outages.items())
        if now - since > grace_s
    ]


async def healthz(request: Request) -> JSONResponse:
    ops: Operations = request.app.state.ops
    grace_s: float = request.app.state.http.down_grace_s
    reasons = down_reasons(await ops.outages(), grace_s, time.time())
    if reasons:
        return JSONResponse({"status": "down", "reason": "; ".join(reasons)}, status_code=503)
    return JSONResponse({"status": "ok"})

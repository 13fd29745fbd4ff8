"""Serve an ASGI app over TLS with hypercorn inside the caller's anyio task group.

``await task_group.start(serve_tls, app, tls, host, port)`` returns the bound port (port 0 picks
a free one) once the socket listens; cancelling the task group (or setting ``stop``) shuts
the server down. The serving itself is the daemon's own (``replicator.http.server``).
"""

from __future__ import annotations

import anyio
import anyio.abc

from emulators._tls import TlsFiles
from replicator.http.server import ASGIApp, listening_socket, serve


async def serve_tls(
    app: ASGIApp,
    tls: TlsFiles,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    stop: anyio.Event | None = None,
    grace_s: float = 2.0,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on https://host:port until ``stop`` is set (then hypercorn closes its
    connections gracefully, for at most ``grace_s``) or the task is cancelled."""
    sock = listening_socket(host, port)
    await serve(
        app,
        sock,
        certfile=tls.cert_file,
        keyfile=tls.key_file,
        stop=stop,
        grace_s=grace_s,
        task_status=task_status,
    )

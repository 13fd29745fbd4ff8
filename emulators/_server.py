"""Serve an ASGI app over TLS with hypercorn inside the caller's anyio task group.

``await task_group.start(serve_tls, app, tls, host, port)`` returns the bound port (port 0 picks
a free one) once the socket listens; cancelling the task group (or setting ``stop``) shuts
the server down. The serving itself is the daemon's own (``replicator.http.server``).
``Serving`` is what an emulator's ``__aenter__``/``__aexit__`` use: TLS files, serve, stop.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import anyio
import anyio.abc

from emulators._tls import TlsFiles, make_tls
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


class Serving:
    """An emulator's server while its ``async with`` block runs: the task group it serves in
    (other tasks of the emulator may start there too) and the event that stops it."""

    def __init__(self) -> None:
        self._group: anyio.abc.TaskGroup | None = None
        self._stop = anyio.Event()

    @property
    def group(self) -> anyio.abc.TaskGroup:
        assert self._group is not None, "start() first"
        return self._group

    async def start(self, app: ASGIApp, directory: Path, host: str, port: int) -> int:
        """New TLS files under ``directory``, then serve ``app``; the bound port."""
        tls = make_tls(directory)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        bound: int = await self._group.start(
            partial(serve_tls, app, tls, host, port, stop=self._stop)
        )
        return bound

    async def stop(self) -> None:
        """Stop serving and wait for every task of the group (cancel others first)."""
        self._stop.set()  # hypercorn shuts down gracefully; cancelling it mid-serve breaks it
        await self.group.__aexit__(None, None, None)

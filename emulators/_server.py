"""Serve an ASGI app over TLS with hypercorn inside the caller's anyio task group.

``await task_group.start(serve_tls, app, tls, host, port)`` returns the bound port (port 0 picks
a free one) once the socket listens; cancelling the task group (or setting ``stop``) shuts
the server down.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from ssl import SSLError
from typing import Any

import anyio
import anyio.abc
from hypercorn.asyncio import serve
from hypercorn.config import Config

from emulators._tls import TlsFiles

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _config(tls: TlsFiles, fd: int) -> Config:
    config = Config()
    config.bind = [f"fd://{fd}"]
    config.certfile = str(tls.cert_file)
    config.keyfile = str(tls.key_file)
    config.accesslog = None
    config.errorlog = None
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0
    return config


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
    sock = _listening_socket(host, port)
    bound = int(sock.getsockname()[1])
    config = _config(tls, sock.detach())
    stopping = stop or anyio.Event()
    with _quiet_shutdown(stopping):
        await _serve(app, config, stopping, grace_s, task_status, bound)


async def _serve(
    app: ASGIApp,
    config: Config,
    stopping: anyio.Event,
    grace_s: float,
    task_status: anyio.abc.TaskStatus[int],
    bound: int,
) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(_cut_off, stopping, grace_s, group.cancel_scope)
        task_status.started(bound)
        try:
            await serve(app, config, shutdown_trigger=stopping.wait)
        except (TimeoutError, asyncio.InvalidStateError):
            # A client that keeps its TLS connection open (msal's requests session does)
            # makes hypercorn's graceful close time out, or break when cut off: both are the
            # end of serving once stop was set.
            if not stopping.is_set():
                raise
        group.cancel_scope.cancel()


@contextmanager
def _quiet_shutdown(stopping: anyio.Event) -> Iterator[None]:
    """Client connections cut off by the shutdown (a TLS close that times out, a reset) are
    the end of serving, not errors: asyncio would print each one's traceback."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        cut_off = isinstance(context.get("exception"), TimeoutError | ConnectionError | SSLError)
        if stopping.is_set() and cut_off:
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        yield
    finally:
        loop.set_exception_handler(previous)


async def _cut_off(stopping: anyio.Event, grace_s: float, scope: anyio.CancelScope) -> None:
    await stopping.wait()
    await anyio.sleep(grace_s)  # a deadline for the graceful close, not a wait for work
    scope.cancel()

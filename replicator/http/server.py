"""Serve an ASGI app with hypercorn inside the caller's anyio task group.

``sock = listening_socket(host, port)`` binds first (so a port in use is an error at
start, before anything else runs); ``await task_group.start(serve, app, sock)`` returns
once hypercorn serves. Setting ``stop`` closes the server gracefully (for at most
``grace_s``); cancelling the task group cuts it off. Hypercorn handles each connection
in a task of its own, so a client that never finishes its request holds only its own.

Hypercorn's worker is asyncio's (there is no anyio one): this module is the one place the
core touches asyncio, to quiet the tracebacks asyncio prints for connections cut off
by the shutdown.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from ssl import SSLError
from typing import Any

import anyio
import anyio.abc
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config

from ..errors import ReplicatorError

CUT_OFF = (TimeoutError, ConnectionError, SSLError, asyncio.CancelledError)
"""What a connection cut off by the shutdown ends with."""
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening; ``ReplicatorError`` if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ReplicatorError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def _config(fd: int, certfile: Path | None, keyfile: Path | None) -> Config:
    config = Config()
    config.bind = [f"fd://{fd}"]
    if certfile is not None and keyfile is not None:
        config.certfile = str(certfile)
        config.keyfile = str(keyfile)
    config.accesslog = None
    config.errorlog = None
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0
    return config


async def serve(
    app: ASGIApp,
    sock: socket.socket,
    *,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    stop: anyio.Event | None = None,
    grace_s: float = 2.0,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``sock`` (https with ``certfile`` and ``keyfile``) until ``stop`` is
    set or the task is cancelled; ``task_status`` gets the bound port."""
    bound = bound_port(sock)
    config = _config(sock.detach(), certfile, keyfile)
    stopping = stop or anyio.Event()
    with _quiet_shutdown(stopping):
        async with anyio.create_task_group() as group:
            group.start_soon(_cut_off, stopping, grace_s, group.cancel_scope)
            task_status.started(bound)
            try:
                await hypercorn_serve(app, config, shutdown_trigger=stopping.wait)
            except (TimeoutError, asyncio.InvalidStateError):
                # A client that keeps its connection open (a TLS session, a hung request)
                # makes hypercorn's graceful close time out, or break when cut off: both
                # are the end of serving once stop was set.
                if not stopping.is_set():
                    raise
            group.cancel_scope.cancel()


@contextmanager
def _quiet_shutdown(stopping: anyio.Event) -> Iterator[None]:
    """Client connections cut off by the shutdown, or left by their client, are the end of
    a connection, not errors: asyncio would print each one's traceback (see ``client_gone``)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if client_gone(context, stopping.is_set()):
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


def client_gone(context: dict[str, Any], stopping: bool) -> bool:
    """Whether an exception asyncio reports is a connection's end rather than a fault.

    While stopping, any cut-off is. While serving, one of a client's connection is: a TLS
    client that went away without closing its session (a CLI that exited, a pooled
    connection dropped) makes the server's TLS shutdown time out 30 s later, and asyncio
    reports that from the connection's callback, though every response was sent.
    """
    if not isinstance(context.get("exception"), CUT_OFF):
        return False
    return stopping or "client_connected_cb" in str(context.get("message", ""))


async def _cut_off(stopping: anyio.Event, grace_s: float, scope: anyio.CancelScope) -> None:
    await stopping.wait()
    await anyio.sleep(grace_s)  # a deadline for the graceful close, not a wait for work
    scope.cancel()

"""The daemon's endpoint: its app served on the socket bound at start (``cli.cmd_run``),
for as long as the daemon runs."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import anyio
import structlog

from ..config import Config
from ..config.http_settings import check_tls_files, resolve_token
from ..operations import Operations
from .app import build_app, endpoint_routes
from .server import listening_socket, serve

if TYPE_CHECKING:
    from ..engine import Replicator


class Endpoint:
    """The daemon's HTTP endpoint, bound at start (``bind``), served while ``serve`` runs."""

    def __init__(self, config: Config, sock: socket.socket, token: str | None) -> None:
        self.config = config
        self.sock = sock
        self.token = token

    @classmethod
    def bind(cls, config: Config) -> Endpoint | None:
        """The endpoint ``[http] listen`` asks for, its socket listening (None without
        ``listen``); ``ConfigError`` for a missing token or TLS file, ``ReplicatorError``
        for an address that cannot be bound."""
        http = config.http
        if http.listen is None:
            return None
        token = resolve_token(http)
        check_tls_files(http)
        return cls(config, listening_socket(http.host, http.port), token)

    def close(self) -> None:
        """Close the socket if it was never served (serving takes it over)."""
        self.sock.close()

    @asynccontextmanager
    async def serve(self, rep: Replicator) -> AsyncIterator[str]:
        """Serve ``rep``'s endpoint, from before it starts (its initial sync) until after
        it stopped; yields the URL. Leaving stops the server (connections still open get
        a second to finish, then are cut off)."""
        http = self.config.http
        ops = Operations(rep.config, replicator=rep)
        app = build_app(ops, http, extra=endpoint_routes(ops), token=self.token)
        stop = anyio.Event()
        served = partial(
            serve, app, self.sock, certfile=http.tls_cert, keyfile=http.tls_key, stop=stop
        )
        async with ops, anyio.create_task_group() as tg:
            port = await tg.start(partial(served, grace_s=1.0))
            host = f"[{http.host}]" if ":" in http.host else http.host
            url = f"{'https' if http.tls_cert else 'http'}://{host}:{port}"
            await ops.advertise(url)
            structlog.get_logger("replicator").info("http_listening", url=url)
            try:
                yield url
            finally:
                stop.set()

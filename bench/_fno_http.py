"""bench/fno.py's own HTTP pieces: a token of the emulator's second application (the "user"
making changes in F&O, so the daemon takes them for someone else's, not its echoes), and a
bare receiver of data events (the baseline of the emitter's own delivery latency).

The receiver answers every POST 200 on hypercorn (the server stack the daemon uses) and notes,
per customer account in the event's ``Keys``, when each of its events arrived.
"""

from __future__ import annotations

import functools
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msal
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from replicator.http.server import listening_socket, serve


class _Pinned(requests.Session):
    """msal's session, trusting the emulator's CA whatever REQUESTS_CA_BUNDLE says."""

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        settings["verify"] = self.verify
        return settings


def _user_token(fno: dict[str, str]) -> dict[str, Any]:
    session = _Pinned()
    session.verify = fno["ca_file"]
    app = msal.ConfidentialClientApplication(
        fno["user_client_id"],
        client_credential=fno["user_client_secret"],
        authority=f"{fno['authority']}/{fno['tenant_id']}",
        instance_discovery=False,
        verify=fno["ca_file"],
        http_client=session,
    )
    return dict(app.acquire_token_for_client([f"{fno['url']}/.default"]))


async def odata_token(fno: dict[str, str]) -> str:
    """An access token of the emulator's user app (msal blocks: in a worker thread)."""
    result = await anyio.to_thread.run_sync(_user_token, fno)
    if "access_token" not in result:
        raise RuntimeError(f"no token from the emulator: {result.get('error_description')}")
    return str(result["access_token"])


class Receiver:
    """A bare data-event endpoint: ``first[account]`` lists its events' arrival times."""

    def __init__(self) -> None:
        self.first: dict[str, list[float]] = defaultdict(list)
        self.count = 0
        self.url = ""

    async def receive(self, request: Request) -> Response:
        arrived = time.perf_counter()
        event = json.loads(await request.body())
        self.first[str(event["Keys"]["CustomerAccount"])].append(arrived)
        self.count += 1
        return Response(status_code=200)

    @classmethod
    @asynccontextmanager
    async def serving(cls) -> AsyncIterator[Receiver]:
        """A receiver at ``http://127.0.0.1:<free port>/events`` while the block runs."""
        receiver = cls()
        app = Starlette(routes=[Route("/events", receiver.receive, methods=["POST"])])
        stop = anyio.Event()
        async with anyio.create_task_group() as group:
            sock = listening_socket("127.0.0.1", 0)
            port = await group.start(functools.partial(serve, app, sock, stop=stop))
            receiver.url = f"http://127.0.0.1:{port}/events"
            try:
                yield receiver
            finally:
                stop.set()

"""The CLI's way to a running daemon: ``RemoteOperations`` asks its ``/api``.

``operations_for(config)`` gives what ``status``, ``errors``, ``pause`` and ``resume`` act
through: the daemon's own ``Operations`` over HTTP when a daemon owns the store and its
endpoint answers (it writes its URL into the store at start, with its pid), else
``Operations`` on the store here. Either way the same code answers, so the CLI prints
the same; without the endpoint the daemon notices the store's change within a second.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from ..config import Config
from ..config.http_settings import resolve_token
from ..errors import ConfigError, ReplicatorError
from ..operations import ENDPOINT_META, Operations, Operator
from ..ownership import holder
from ..store import Store

TIMEOUT_S = 30.0
log = structlog.get_logger("replicator")


class RemoteOperations:
    """``Operations`` of a running daemon, through its ``/api``."""

    def __init__(self, config: Config, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    async def _call(
        self, method: str, path: str, body: Any = None, *, limit_s: float | None = TIMEOUT_S
    ) -> Any:
        try:
            reply = await self.client.request(method, path, json=body, timeout=limit_s)
        except httpx.HTTPError as exc:
            raise ReplicatorError(
                f"the daemon's endpoint {self.client.base_url} did not answer: {exc}"
            ) from exc
        if reply.status_code == 401:
            raise ReplicatorError(
                f"the daemon's endpoint {self.client.base_url} refused the token in "
                f"${self.config.http.token_env} ({self.config.http.file}: [http] token_env)"
            )
        try:
            answer = reply.json()
        except ValueError:
            answer = {"error": f"HTTP {reply.status_code}: {reply.text[:200]}"}
        if reply.status_code == 400:
            raise ConfigError(list(answer.get("problems") or [answer.get("error", "")]))
        if reply.status_code >= 300:
            raise ReplicatorError(str(answer.get("error") or f"HTTP {reply.status_code}"))
        return answer

    async def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self._call("GET", "/api/status")
        return answer

    async def errors(
        self, *, map: str | None = None, side: str | None = None, reason: str | None = None
    ) -> list[dict[str, Any]]:
        given = {"map": map, "side": side, "reason": reason}
        query = {k: v for k, v in given.items() if v is not None}
        path = "/api/errors" + (f"?{httpx.QueryParams(query)}" if query else "")
        answer: list[dict[str, Any]] = await self._call("GET", path)
        return answer

    async def retry(self, ids: Sequence[int] | None) -> int:
        body = {"ids": None if ids is None else list(ids)}
        return int((await self._call("POST", "/api/errors/retry", body))["queued"])

    async def discard(self, ids: Sequence[int]) -> int:
        body = {"ids": list(ids)}
        return int((await self._call("POST", "/api/errors/discard", body))["discarded"])

    async def pause(self, map_name: str) -> None:
        await self._call("POST", f"/api/maps/{quote(map_name, safe='')}/pause")

    async def resume(self, map_name: str) -> None:
        await self._call("POST", f"/api/maps/{quote(map_name, safe='')}/resume")

    async def reconcile(self, maps: Sequence[str] | None = None) -> list[dict[str, Any]]:
        body = {"maps": None if maps is None else list(maps)}
        # no time limit: a pass scans whole tables, and the daemon answers when it is done
        answer = await self._call("POST", "/api/reconcile", body, limit_s=None)
        passes: list[dict[str, Any]] = answer["passes"]
        return passes


@asynccontextmanager
async def operations_for(config: Config) -> AsyncIterator[Operator]:
    """The running daemon's operations if its endpoint answers, else the store's here."""
    client = await daemon_client(config)
    if client is not None:
        try:
            yield RemoteOperations(config, client)
        finally:
            await client.aclose()
        return
    async with Operations(config) as ops:
        yield ops


async def daemon_client(config: Config) -> httpx.AsyncClient | None:
    """A client of the running daemon's endpoint, or None (no daemon, no endpoint, no
    token here, or it does not answer ``/healthz``)."""
    url = await daemon_url(config)
    if url is None:
        return None
    try:
        token = resolve_token(config.http)
    except ConfigError:
        log.debug("http_not_used", reason=f"${config.http.token_env} is not set here")
        return None
    headers = {"authorization": f"Bearer {token}"} if token else {}
    client = httpx.AsyncClient(
        base_url=url, headers=headers, timeout=TIMEOUT_S, verify=tls_context(config)
    )
    try:
        await client.get("/healthz")
    except httpx.HTTPError as exc:
        await client.aclose()
        log.debug("http_not_used", url=url, reason=str(exc))
        return None
    return client


async def daemon_url(config: Config) -> str | None:
    """The URL the daemon that owns the store now serves its endpoint on, if any."""
    owner = holder(config.state_path)
    if owner is None or not owner.live or not config.state_path.exists():
        return None
    store = await Store.open(config.state_path)
    try:
        pid, _, url = (await store.get_meta(ENDPOINT_META) or "").partition(" ")
    finally:
        await store.close()
    return url if url and pid == str(owner.pid) else None


def tls_context(config: Config) -> ssl.SSLContext | bool:
    """Trust the system's CAs and the endpoint's own certificate (self-signed, or signed
    by a CA of the company's that this machine need not know: the certificate itself is
    then the trust anchor)."""
    cert = config.http.tls_cert
    if cert is None:
        return True
    context = ssl.create_default_context()
    if os.path.exists(cert):
        context.load_verify_locations(cert)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context

"""Helpers for tests that talk to the Dataverse emulator over real HTTPS with httpx."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from emulators.dataverse import DataverseEmulator

API = "/api/data/v9.2/"
HEADERS = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}


def tls(crm: DataverseEmulator) -> ssl.SSLContext:
    """A TLS context that trusts the emulator's CA only."""
    return ssl.create_default_context(cafile=str(crm.ca_file))


async def token_response(
    crm: DataverseEmulator, *, tenant: str | None = None, **form: str
) -> httpx.Response:
    """The token endpoint's answer to a client-credentials request (form fields override)."""
    data = {
        "grant_type": "client_credentials",
        "client_id": crm.client_id,
        "client_secret": crm.client_secret,
        "scope": f"{crm.url}/.default",
        **form,
    }
    endpoint = f"{crm.authority}/{tenant or crm.tenant_id}/oauth2/v2.0/token"
    async with httpx.AsyncClient(verify=tls(crm)) as client:
        return await client.post(endpoint, data=data)


async def token(crm: DataverseEmulator, *, user: bool = False) -> str:
    """An access token of the replicator's app (or of the user's with ``user``)."""
    if user:
        answer = await token_response(
            crm, client_id=crm.user_client_id, client_secret=crm.user_client_secret
        )
    else:
        answer = await token_response(crm)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@asynccontextmanager
async def api(crm: DataverseEmulator, *, user: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of the Web API, authenticated as the replicator (or the user)."""
    headers = {**HEADERS, "Authorization": f"Bearer {await token(crm, user=user)}"}
    async with httpx.AsyncClient(
        base_url=crm.url + API, headers=headers, verify=tls(crm)
    ) as client:
        yield client


def company(crm: DataverseEmulator, code: str = "usmf") -> str:
    """The id of a seeded company."""
    row = crm.db.find("cdm_companies", {"cdm_companycode": code})
    assert row is not None
    return str(row["cdm_companyid"])


def error_of(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of a Web API error body, which must have exactly that shape."""
    body: Any = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message"}
    return body["error"]["code"], body["error"]["message"]

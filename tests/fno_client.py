"""Helpers for tests that talk to the F&O emulator over real HTTPS: an msal token and an httpx
client of its OData endpoint."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msal

from emulators.fno import FnoEmulator

HEADERS = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}


def tls(fno: FnoEmulator) -> ssl.SSLContext:
    """A TLS context that trusts the emulator's CA only."""
    return ssl.create_default_context(cafile=str(fno.ca_file))


def _msal_token(fno: FnoEmulator) -> dict[str, Any]:
    app = msal.ConfidentialClientApplication(
        fno.client_id,
        client_credential=fno.client_secret,
        authority=f"{fno.authority}/{fno.tenant_id}",
        instance_discovery=False,
        verify=str(fno.ca_file),
    )
    return dict(app.acquire_token_for_client([f"{fno.url}/.default"]))


async def token(fno: FnoEmulator) -> str:
    """An access token from the emulator's Entra ID, got by msal (in a worker thread: msal
    blocks, and the emulator serves on this event loop)."""
    result = await anyio.to_thread.run_sync(_msal_token, fno)
    assert "access_token" in result, result.get("error_description")
    return str(result["access_token"])


@asynccontextmanager
async def odata(fno: FnoEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of ``<url>/data/`` with a bearer token."""
    headers = {**HEADERS, "Authorization": f"Bearer {await token(fno)}"}
    async with httpx.AsyncClient(
        base_url=f"{fno.url}/data/", headers=headers, verify=tls(fno)
    ) as client:
        yield client


def inner_error(response: httpx.Response) -> tuple[str, str, str]:
    """(message, inner message, inner type) of an F&O error body, which must have its shape."""
    body: Any = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert error["code"] == "" and set(error["innererror"]) >= {"message", "type"}, error
    return error["message"], error["innererror"]["message"], error["innererror"]["type"]


def customer(account: str, **fields: Any) -> dict[str, Any]:
    """A CustomersV3 body that passes validateWrite (group 10 exists in every company)."""
    return {"CustomerAccount": account, "OrganizationName": f"Customer {account}",
            "CustomerGroupId": "10", "SalesCurrencyCode": "USD", **fields}  # fmt: skip

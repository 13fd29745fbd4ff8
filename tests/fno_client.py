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
import requests

from emulators.fno import FnoEmulator

HEADERS = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}


def tls(fno: FnoEmulator) -> ssl.SSLContext:
    """A TLS context that trusts the emulator's CA only."""
    return ssl.create_default_context(cafile=str(fno.ca_file))


class _Pinned(requests.Session):
    """msal's session, trusting the emulator's CA whatever REQUESTS_CA_BUNDLE says (requests
    lets the environment override a session's verify: psf/requests#3829)."""

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        settings["verify"] = self.verify
        return settings


def _msal_token(fno: FnoEmulator, user: bool) -> dict[str, Any]:
    session = _Pinned()
    session.verify = str(fno.ca_file)
    app = msal.ConfidentialClientApplication(
        fno.user_client_id if user else fno.client_id,
        client_credential=fno.user_client_secret if user else fno.client_secret,
        authority=f"{fno.authority}/{fno.tenant_id}",
        instance_discovery=False,
        verify=str(fno.ca_file),
        http_client=session,
    )
    return dict(app.acquire_token_for_client([f"{fno.url}/.default"]))


async def token(fno: FnoEmulator, *, user: bool = False) -> str:
    """An access token of the replicator's app (or the user's) from the emulator's Entra ID,
    got by msal (in a worker thread: msal blocks, and the emulator serves on this loop)."""
    result = await anyio.to_thread.run_sync(_msal_token, fno, user)
    assert "access_token" in result, result.get("error_description")
    return str(result["access_token"])


@asynccontextmanager
async def odata(fno: FnoEmulator, *, user: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client of ``<url>/data/`` with a bearer token of the replicator (or user)."""
    headers = {**HEADERS, "Authorization": f"Bearer {await token(fno, user=user)}"}
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

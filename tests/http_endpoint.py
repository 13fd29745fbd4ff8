"""Helpers for tests of the HTTP endpoint: an engine on memory sides served on loopback.

``served(rep)`` serves ``rep``'s endpoint exactly as the daemon does (``Endpoint``, bound to
a free port on 127.0.0.1) and yields an ``httpx.AsyncClient`` on it: real HTTP over a
real socket, in this process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP
from replicator.engine import Replicator
from replicator.http.endpoint import Endpoint

TOKEN = "t0ken-for-tests-3f9a"
TOKEN_ENV = "REPLICATOR_TEST_TOKEN"
FNO, CRM = "CustomersV3", "accounts"
OPEN_HTTP = '[http]\nlisten = "127.0.0.1:0"\ndown_grace_s = 0\n\n'
TOKEN_HTTP = f'[http]\nlisten = "127.0.0.1:0"\ntoken_env = "{TOKEN_ENV}"\n\n'
MAPS = COMPANY_CUSTOMERS_MAP


def customer(account: str, name: str = "Contoso", credit: float = 10.0) -> dict[str, Any]:
    return {"dataAreaId": "usmf", "CustomerAccount": account, "Name": name, "CreditLimit": credit}


@asynccontextmanager
async def served(rep: Replicator, **client: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``rep``'s endpoint served on loopback, and a client of it (``client`` options)."""
    endpoint = Endpoint.bind(rep.config)
    assert endpoint is not None, "the config has no [http] listen"
    async with endpoint.serve(rep) as url, httpx.AsyncClient(base_url=url, **client) as http:
        yield http


def sides() -> tuple[MemorySide, MemorySide]:
    return MemorySide("fno"), MemorySide("crm")

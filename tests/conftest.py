"""Shared fixtures: anyio on asyncio (aiosqlite is asyncio-only), memory-side configs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from replicator.adapter import Change, Values
from replicator.engine import Replicator
from replicator.model import Link


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio: aiosqlite is asyncio-only."""
    return "asyncio"


GROUPS_MAP = """
[[maps]]
name = "customer_groups"
fno = "CustCustomerGroup"
crm = "msdyn_customergroups"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerGroupId", crm = "msdyn_groupid" } ]
fields = [ { fno = "Description", crm = "msdyn_description" } ]
"""
"""Customer groups keyed by company and group id, with a description."""


COMPANY_CUSTOMERS_MAP = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "Name", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit" },
]
"""
"""Customers keyed by company and account, with a name and a credit limit."""


NAME_PHONE_MAP = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" }, { fno = "Phone", crm = "telephone1" } ]
"""
"""A customers map keyed by account, with a name and a phone, for memory sides."""


SELF_REFERENCE_MAP = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" },
           { fno = "InvoiceAccount", crm = "billingaccount", lookup = "customers" } ]
"""
"""Customers whose invoice account is another customer: a lookup into its own map."""


def write_config(tmp_path: Path, body: str) -> Path:
    """A config file with two memory sides ``fno`` and ``crm`` and ``body`` appended."""
    path = tmp_path / "replicator.toml"
    path.write_text(
        '[state]\npath = "state.db"\n\n'
        '[sides.fno]\nadapter = "memory"\n\n[sides.crm]\nadapter = "memory"\n\n' + body,
        encoding="utf-8",
    )
    return path


async def until(condition: Callable[[], object], limit_s: float = 15.0) -> None:
    """Wait (bounded) until ``condition()`` (or the awaitable it returns) is true.

    For state that no event announces: a memory side's counters, another process's file.
    """
    with anyio.fail_after(limit_s):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await anyio.sleep(0.01)  # noqa: ASYNC110 - polled state has no event


async def routed(rep: Replicator, feed: list[Change], map_name: str, side: int) -> bool:
    """Whether every change of a memory side's ``feed`` is journaled and handed to an actor
    (or finished): the entries of ``side`` the journal still holds for ``map_name`` are
    all in flight."""
    if feed:
        return False
    pending = await rep.ctx.store.journal_after(map_name, 0, 100)
    return all(e.id in rep.router.replay.inflight for e in pending if e.side == side)


def stored_link(
    link_id: int,
    key: str,
    ids: list[str | None],
    versions: list[str | None],
    *,
    tokens: list[str | None] | None = None,
    shadow: Values | None = None,
    map_name: str = "customers",
) -> Link:
    """A link as a test builds it by hand: of ``map_name`` (customers unless given), no
    tokens and an empty shadow unless given."""
    return Link(
        id=link_id,
        map=map_name,
        key=key,
        ids=ids,
        versions=versions,
        shadow=shadow or {},
        tokens=tokens or [None, None],
    )

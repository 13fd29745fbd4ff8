"""The pipeline works in batches: the router's lookups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from adapters.memory import MemorySide
from conftest import write_config
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio

CUSTOMERS = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" } ]
"""


async def test_the_router_finds_a_batch_of_new_records_without_a_query_per_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty rows created at once are routed with a batched query by key, not one store
    round trip each (before: one ``link_by_key`` per row, which capped inserts at 500/s)."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with Replicator(write_config(tmp_path, CUSTOMERS), sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        store = rep.ctx.store
        single, batched = [], []
        one, many = store.link_by_key, store.links_by_key

        async def counted_one(*args: Any) -> Any:
            single.append(args)
            return await one(*args)

        async def counted_many(*args: Any) -> Any:
            batched.append(args)
            return await many(*args)

        monkeypatch.setattr(store, "link_by_key", counted_one)
        monkeypatch.setattr(store, "links_by_key", counted_many)
        for i in range(30):
            fno.insert("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": f"C{i}"})
        with anyio.fail_after(10):
            await rep.wait_idle()
        assert len(crm.rows("accounts")) == 30
    assert len(single) <= 3, "a store query per new record"
    assert 1 <= len(batched) <= 3

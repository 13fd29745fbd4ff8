"""End to end: the daemon between the F&O side (over the OData fake, its data events posted to
``/hooks/fno`` like F&O's emitter does) and an SQLite side.

A customer created on either side appears on the other; a hook with a wrong key gets 401 and
journals nothing. The fake stands in for the F&O emulator until it is merged here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from fno_fake import FakeEntity, FakeFno

from adapters.fno import FnoSide
from adapters.fno.options import load_options
from adapters.sqlite import create_side as create_sqlite_side
from conftest import COMPANY_CUSTOMERS_MAP, until, write_config
from http_endpoint import OPEN_HTTP, served
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio
HOOK_KEY = "daemon-hook-key-5d2a"
CUSTOMERS = FakeEntity(
    entity_set="CustomersV3",
    type_name="CustomerV3",
    key=("dataAreaId", "CustomerAccount"),
    fields={
        "dataAreaId": "Edm.String",
        "CustomerAccount": "Edm.String",
        "Name": "Edm.String",
        "CreditLimit": "Edm.Decimal",
    },
)


def data_event(row: dict[str, Any], op: str, number: int) -> bytes:
    """What F&O's data events post: a RemoteExecutionContext naming the row by its key."""
    message = {"upsert": "Update", "delete": "Delete"}[op]
    attributes = [{"key": f"mserp_{k.lower()}", "value": row[k]} for k in CUSTOMERS.key]
    return msgspec.json.encode(
        {
            "MessageName": message,
            "PrimaryEntityName": "mserp_custcustomerv3entity",
            "InputParameters": [{"key": "Target", "value": {"Attributes": attributes}}],
            "OperationId": f"op-{number}",
        }
    )


@asynccontextmanager
async def daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FakeFno, FnoSide, sqlite3.Connection, httpx.AsyncClient, dict[str, int]]]:
    monkeypatch.setenv("FNO_DAEMON_SECRET", "secret-value")
    monkeypatch.setenv("FNO_DAEMON_HOOK_KEY", HOOK_KEY)
    fake = FakeFno([CUSTOMERS])
    options = {
        "url": "https://fno.example",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_env": "FNO_DAEMON_SECRET",
        "hook_key_env": "FNO_DAEMON_HOOK_KEY",
    }
    fno = FnoSide("fno", load_options(options, tmp_path), tmp_path, transport=fake.transport())
    app = sqlite3.connect(tmp_path / "crm.db", isolation_level=None)
    app.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, company TEXT, accountnumber TEXT,"
        " name TEXT, creditlimit REAL)"
    )
    crm = create_sqlite_side("crm", {"path": "crm.db", "poll_interval_ms": 10}, tmp_path)
    config = write_config(tmp_path, OPEN_HTTP + COMPANY_CUSTOMERS_MAP)
    send, receive = anyio.create_memory_object_stream[bytes](1000)
    counts = {"queued": 0, "posted": 0}

    def announce(_: str, row: dict[str, Any], op: str) -> None:
        counts["queued"] += 1
        send.send_nowait(data_event(row, op, counts["queued"]))

    fake.on_change = announce
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep, served(rep) as http:

        async def emit() -> None:  # F&O's emitter: every committed change, posted with the key
            async for body in receive:
                reply = await http.post("/hooks/fno", params={"code": HOOK_KEY}, content=body)
                assert reply.status_code == 200, reply.text
                counts["posted"] += 1

        async with anyio.create_task_group() as group:
            group.start_soon(emit)
            yield fake, fno, app, http, counts
            group.cancel_scope.cancel()
    app.close()


def crm_names(app: sqlite3.Connection) -> dict[str, str]:
    return dict(app.execute("SELECT accountnumber, name FROM accounts").fetchall())


async def test_customers_flow_both_ways_and_a_wrong_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with daemon(tmp_path, monkeypatch) as (fake, fno, app, http, counts):
        fake.put(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-001", "Name": "Contoso"}
        )
        await until(lambda: crm_names(app).get("US-001") == "Contoso")

        app.execute(
            "INSERT INTO accounts (company, accountnumber, name, creditlimit)"
            " VALUES ('usmf', 'CRM-7', 'Fabrikam', 250.0)"
        )
        key = {"dataAreaId": "usmf", "CustomerAccount": "CRM-7"}
        await until(lambda: (fake._find("CustomersV3", key) or {}).get("Name") == "Fabrikam")
        born = fake._find("CustomersV3", key) or {}
        assert {k: v for k, v in born.items() if k != "@odata.etag"} == {
            **key,
            "Name": "Fabrikam",
            "CreditLimit": 250.0,
        }

        fake.on_change = None  # the next change is announced by hand, with a wrong key
        await until(lambda: counts["posted"] == counts["queued"])
        fake.put("CustomersV3", {**key, "Name": "Renamed in F&O"})
        head = await fno.head_cursor()
        body = data_event({**key}, "upsert", 999)
        for wrong in ({"params": {"code": "nope"}}, {"headers": {"x-replicator-key": "nope"}}, {}):
            reply = await http.post("/hooks/fno", content=body, **wrong)  # type: ignore[arg-type]
            assert reply.status_code == 401
        assert await fno.head_cursor() == head  # nothing journaled
        assert crm_names(app)["CRM-7"] == "Fabrikam"

        reply = await http.post("/hooks/fno", content=body, headers={"x-replicator-key": HOOK_KEY})
        assert reply.status_code == 200
        await until(lambda: crm_names(app)["CRM-7"] == "Renamed in F&O")
        bad = await http.post("/hooks/fno", content=b"{broken", params={"code": HOOK_KEY})
        assert bad.status_code == 400 and "not JSON" in bad.json()["error"]

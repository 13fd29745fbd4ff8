"""End to end: the daemon between the F&O emulator and an SQLite side, each change the emulator
commits posted to ``/hooks/fno`` as a data event (by this test, as F&O's emitter would: the
emulator's own emitter is not merged here yet).

A customer created on either side appears on the other; a hook with a wrong key gets 401 and
journals nothing; a malformed body gets 400.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import msgspec
import pytest
from fno_emulated import customers, side_options

from adapters.fno import FnoSide
from adapters.fno import create_side as create_fno_side
from adapters.sqlite import create_side as create_sqlite_side
from conftest import until, write_config
from emulators.fno import Edm, FieldDef, FnoEmulator, Registry
from emulators.fno.store import Change, key_of
from http_endpoint import OPEN_HTTP, served
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio
HOOK_KEY = "daemon-hook-key-5d2a"
SECRET_ENV, HOOK_ENV = "FNO_DAEMON_SECRET", "FNO_DAEMON_HOOK_KEY"
CUSTOMERS = customers(FieldDef(name="CreditLimit", edm=Edm.DECIMAL, label="Credit limit"))
MAP = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "OrganizationName", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit" },
]
"""


@asynccontextmanager
async def daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[FnoEmulator, FnoSide, sqlite3.Connection, httpx.AsyncClient, Emitter]]:
    async with FnoEmulator(tmp_path / "fno", registry=Registry([CUSTOMERS]), seed=False) as fno:
        monkeypatch.setenv(SECRET_ENV, fno.client_secret)
        monkeypatch.setenv(HOOK_ENV, HOOK_KEY)
        options = side_options(fno, SECRET_ENV, hook_key_env=HOOK_ENV)
        side = create_fno_side("fno", options, tmp_path)
        app = sqlite3.connect(tmp_path / "crm.db", isolation_level=None)
        app.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, company TEXT, accountnumber TEXT,"
            " name TEXT, creditlimit REAL)"
        )
        crm = create_sqlite_side("crm", {"path": "crm.db", "poll_interval_ms": 10}, tmp_path)
        config = write_config(tmp_path, OPEN_HTTP + MAP)
        async with Replicator(config, sides={"fno": side, "crm": crm}) as rep, served(rep) as http:
            async with anyio.create_task_group() as group:
                emitter = Emitter(fno, http)
                group.start_soon(emitter.run)
                yield fno, side, app, http, emitter
                group.cancel_scope.cancel()
        app.close()


def data_event(change: Change, number: int) -> bytes:
    """A business-event envelope naming the changed row (what the emulator's emitter sends)."""
    return msgspec.json.encode(
        {
            "BusinessEventId": f"{change.entity_set}_{change.op}",
            "ControlNumber": number,
            "EventId": f"E-{number}",
            "EventType": change.op,
            "EntitySetName": change.entity_set,
            "Keys": change.key,
        }
    )


class Emitter:
    """F&O's emitter: every change the emulator committed, posted with the hook's key."""

    def __init__(self, fno: FnoEmulator, http: httpx.AsyncClient) -> None:
        self.fno, self.http, self.posting = fno, http, False

    def idle(self) -> bool:
        """Every committed change has been posted and answered."""
        return not self.posting and not self.fno.store._committed

    async def run(self) -> None:
        number = 0
        while True:
            changes = self.fno.store.drain()
            self.posting = bool(changes)
            for change in changes:
                number += 1
                body = data_event(change, number)
                posted = await self.http.post("/hooks/fno", params={"code": HOOK_KEY}, content=body)
                assert posted.status_code == 200, posted.text
            self.posting = False
            await anyio.sleep(0.01)  # noqa: ASYNC110 - the emitter's own pace, not a wait


def crm_names(app: sqlite3.Connection) -> dict[str, str]:
    return dict(app.execute("SELECT accountnumber, name FROM accounts").fetchall())


async def test_customers_flow_both_ways_and_a_wrong_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with daemon(tmp_path, monkeypatch) as (fno, side, app, http, emitter):
        fno.store.insert(  # someone working in F&O
            CUSTOMERS,
            {"dataAreaId": "usmf", "CustomerAccount": "US-001", "OrganizationName": "Contoso",
             "CreditLimit": 100},
        )  # fmt: skip
        await until(lambda: crm_names(app).get("US-001") == "Contoso")

        app.execute(
            "INSERT INTO accounts (company, accountnumber, name, creditlimit)"
            " VALUES ('usmf', 'CRM-7', 'Fabrikam', 250.0)"
        )
        key = key_of(CUSTOMERS, {"dataAreaId": "usmf", "CustomerAccount": "CRM-7"})

        def in_fno() -> object:
            row = fno.store.get(CUSTOMERS, key)
            return row and row.values["OrganizationName"]

        await until(lambda: in_fno() == "Fabrikam")
        row = fno.store.get(CUSTOMERS, key)
        assert row is not None
        fno.store.update(CUSTOMERS, row, {"OrganizationName": "Renamed"})
        await until(lambda: crm_names(app)["CRM-7"] == "Renamed")

        await until(emitter.idle)  # every change has been posted
        head = await side.head_cursor()
        event = msgspec.json.encode(
            {"EventId": "X-1", "ControlNumber": 1, "EventType": "Update",
             "EntitySetName": "CustomersV3",
             "Keys": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}
        )  # fmt: skip
        for wrong in ({"params": {"code": "nope"}}, {"headers": {"x-replicator-key": "no"}}, {}):
            reply = await http.post("/hooks/fno", content=event, **wrong)  # type: ignore[arg-type]
            assert reply.status_code == 401
        assert await side.head_cursor() == head  # nothing journaled
        bad = await http.post("/hooks/fno", content=b"{broken", params={"code": HOOK_KEY})
        assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
        assert await side.head_cursor() == head

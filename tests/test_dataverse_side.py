"""The Dataverse side against the Dataverse emulator, over real HTTPS with its own CA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from adapters.dataverse import DataverseSide, create_side
from adapters.dataverse.options import Options
from adapters.dataverse.transport import Transport
from adapters.memory import MemorySide
from conftest import until, write_config
from emulators.dataverse import DataverseEmulator
from replicator.adapter import UNKNOWN_VERSION, EntitySpec, WriteOp
from replicator.engine import Replicator
from replicator.errors import SchemaError

COMPANY = "msdyn_company.cdm_companycode"
ACCOUNTS = EntitySpec(
    "accounts",
    ("name", "creditlimit", "customertypecode", "transactioncurrencyid.isocurrencycode"),
    (COMPANY, "accountnumber"),
    filter="customertypecode eq 3",
)
SECRET_ENV = "DATAVERSE_TEST_SECRET"


class World:
    """The emulator, the replicator's side, and a user editing rows through the Web API."""

    def __init__(self, emulator: DataverseEmulator, side: DataverseSide, user: Transport) -> None:
        self.emulator, self.side, self.user = emulator, side, user
        self.companies: dict[str, str] = {}

    async def company(self, code: str) -> str:
        if code not in self.companies:
            reply = await self.user.get(
                "cdm_companies", params={"$filter": f"cdm_companycode eq '{code}'"}
            )
            self.companies[code] = reply.body["value"][0]["cdm_companyid"]
        return self.companies[code]

    async def create(self, number: str, name: str = "Contoso", **extra: Any) -> str:
        """The user creates an account (a customer of usmf unless told otherwise)."""
        company = await self.company(extra.pop("company", "usmf"))
        body = {
            "accountnumber": number,
            "name": name,
            "customertypecode": 3,
            "msdyn_company@odata.bind": f"/cdm_companies({company})",
            **extra,
        }
        reply = await self.user.send("POST", "accounts", json=body)
        assert reply.status == 204, reply.body
        link = reply.headers["odata-entityid"]
        return link[link.rindex("(") + 1 : -1]

    async def update(self, guid: str, **values: Any) -> None:
        reply = await self.user.send("PATCH", f"accounts({guid})", json=values)
        assert reply.status == 204, reply.body

    async def delete(self, guid: str) -> None:
        reply = await self.user.send("DELETE", f"accounts({guid})")
        assert reply.status == 204, reply.body


def options(emulator: DataverseEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "url": emulator.url,
        "tenant_id": emulator.tenant_id,
        "client_id": emulator.client_id,
        "client_secret_env": SECRET_ENV,
        "authority": emulator.authority,
        "ca_file": str(emulator.ca_file),
        **extra,
    }


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with DataverseEmulator(tmp_path) as emulator:
        monkeypatch.setenv(SECRET_ENV, emulator.client_secret)
        monkeypatch.setenv("DATAVERSE_TEST_USER_SECRET", emulator.user_client_secret)
        side = create_side("crm", options(emulator, page_size=2), tmp_path)
        user_options = msgspec.convert(
            options(
                emulator,
                client_id=emulator.user_client_id,
                client_secret_env="DATAVERSE_TEST_USER_SECRET",
            ),
            Options,
        )
        user = Transport("user", user_options, tmp_path)
        await user.open()
        await side.open()
        await side.prepare([ACCOUNTS])
        try:
            yield World(emulator, side, user)
        finally:
            await side.close()
            await user.aclose()


@pytest.mark.anyio
async def test_check_names_every_missing_thing_in_one_error(world: World) -> None:
    """A missing entity, column, dotted target column and key are all named at once."""
    specs = [
        EntitySpec("nosuchthings", ("name",), ()),
        EntitySpec("accounts", ("nosuch", "msdyn_company.nope"), ("accountnumber",)),
    ]
    with pytest.raises(SchemaError) as caught:
        await world.side.check(specs)
    text = str(caught.value)
    assert "side 'crm': entity 'nosuchthings': no table has this entity set name" in text
    assert "side 'crm': entity 'accounts': field 'nosuch': table 'account' has no column" in text
    assert "table 'cdm_company' (lookup 'msdyn_company') has no column 'nope'" in text
    assert "msdyn_accountnumberkey (msdyn_company, accountnumber)" in text


@pytest.mark.anyio
async def test_the_feed_reports_user_changes_with_values_and_deletes(world: World) -> None:
    """Creates, updates and deletes by the user come through the delta link, paged."""
    head = await world.side.head_cursor()
    a = await world.create("A-1", creditlimit=1000.5)
    b = await world.create("A-2")
    c = await world.create("A-3")
    await world.update(a, name="Contoso Ltd")
    await world.delete(b)
    batch = await world.side.read_changes(head, 100)
    by_id = {ch.native_id: ch for ch in batch.changes}
    assert by_id[a].op == "upsert" and by_id[a].token is None
    assert by_id[a].values == {
        COMPANY: "usmf",
        "accountnumber": "A-1",
        "name": "Contoso Ltd",
        "creditlimit": 1000.5,
        "customertypecode": 3,
        "transactioncurrencyid.isocurrencycode": None,
    }
    assert by_id[b].op == "delete" and by_id[c].op == "upsert"
    now = await world.side.get("accounts", [a])
    assert by_id[a].version == now[a].version
    assert (await world.side.read_changes(batch.cursor, 100)).changes == []


@pytest.mark.anyio
async def test_a_small_limit_pages_through_the_changes(world: World) -> None:
    """With limit 2 and page size 2, every change arrives once over several reads."""
    head = await world.side.head_cursor()
    ids = [await world.create(f"P-{i}") for i in range(5)]
    seen: list[str] = []
    cursor = head
    for _ in range(10):
        batch = await world.side.read_changes(cursor, 2)
        assert len(batch.changes) <= 2
        seen += [c.native_id for c in batch.changes]
        cursor = batch.cursor
        if not batch.changes:
            break
    assert sorted(seen) == sorted(ids)


@pytest.mark.anyio
async def test_an_expired_token_resets_the_entity(world: World) -> None:
    """Expired change tracking gives a reset change and a cursor that works again."""
    head = await world.side.head_cursor()
    world.emulator.expire_change_tracking("accounts")
    batch = await world.side.read_changes(head, 100)
    assert [(c.entity, c.native_id, c.op) for c in batch.changes] == [("accounts", "", "reset")]
    a = await world.create("R-1")
    again = await world.side.read_changes(batch.cursor, 100)
    assert [c.native_id for c in again.changes] == [a]


@pytest.mark.anyio
async def test_reads_by_guid_and_by_key_with_the_company_inside(world: World) -> None:
    """get by GUID and find by (company code, account number) honour the filter."""
    a = await world.create("K-1")
    other = await world.create("K-1", company="usrt")
    prospect = await world.create("K-2", customertypecode=8)
    rows = await world.side.get("accounts", [a, other, prospect])
    assert sorted(rows) == sorted([a, other])
    found = await world.side.find(
        "accounts", [COMPANY, "accountnumber"], [("usmf", "K-1"), ("usrt", "K-1"), ("usmf", "K-2")]
    )
    assert {k: r.native_id for k, r in found.items()} == {
        ("usmf", "K-1"): a,
        ("usrt", "K-1"): other,
    }
    page = await world.side.scan("accounts", None, 10)
    assert sorted(r.native_id for r in page.rows) == sorted([a, other]) and page.next is None
    first = await world.side.scan("accounts", None, 1)
    assert first.next is not None, "a next page by the server's own link"
    rest = await world.side.scan("accounts", first.next, 10)
    assert [r.native_id for r in first.rows + rest.rows] == [r.native_id for r in page.rows]


def insert(number: str, **values: Any) -> WriteOp:
    base = {COMPANY: "usmf", "accountnumber": number, "name": "Fabrikam", "customertypecode": 3}
    return WriteOp(
        "accounts",
        "insert",
        "tok",
        values={**base, **values},
        key_fields=(COMPANY, "accountnumber"),
    )


@pytest.mark.anyio
async def test_writes_insert_update_conflict_duplicate_refusal_and_delete(world: World) -> None:
    """Each write answers as the protocol says, one bad item failing alone."""
    [made] = await world.side.write([insert("W-1", creditlimit=12.25)])
    assert made.status == "applied" and made.native_id and made.version
    guid = made.native_id
    row = (await world.side.get("accounts", [guid]))[guid]
    assert row.values["creditlimit"] == 12.25 and row.version == made.version
    update = WriteOp(
        "accounts",
        "update",
        "t",
        native_id=guid,
        values={"name": "F2"},
        expected_version=made.version,
    )
    [updated] = await world.side.write([update])
    assert updated.status == "applied" and updated.version != made.version
    [stale] = await world.side.write([update])
    assert stale.status == "conflict" and stale.current is not None
    assert stale.current.version == updated.version
    [unknown] = await world.side.write(
        [msgspec.structs.replace(update, expected_version=UNKNOWN_VERSION)]
    )
    assert unknown.status == "conflict" and unknown.current == stale.current
    results = await world.side.write(
        [
            insert("W-1"),
            insert("W-2", creditlimit=1.234),
            insert("W-3", name="x" * 161),
            insert("W-4"),
        ]
    )
    assert [r.status for r in results] == ["conflict", "permanent", "permanent", "applied"]
    assert results[0].current is not None and results[0].current.native_id == guid
    assert "creditlimit" in results[1].reason and "name" in results[2].reason
    delete = WriteOp("accounts", "delete", "t", native_id=guid)
    assert [r.status for r in await world.side.write([delete, delete])] == ["applied", "applied"]


@pytest.mark.anyio
async def test_two_hundred_writes_take_a_handful_of_requests(world: World) -> None:
    """A batch of 200 inserts is sent as $batch requests, not 200 requests."""
    ops = [insert(f"B-{i:03}") for i in range(200)]
    world.emulator.requests.reset()
    results = await world.side.write(ops)
    assert all(r.status == "applied" for r in results)
    batches = world.emulator.requests.count("POST", "batch")
    assert 1 <= batches and batches + world.emulator.requests.count("GET") <= 5


@pytest.mark.anyio
async def test_the_secret_is_nowhere_in_reprs_errors_or_logs(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The client secret never shows in the side's repr, a sign-in failure or the logs."""
    secret = world.emulator.client_secret
    assert secret not in repr(world.side) and secret not in repr(world.side.options)
    with anyio.fail_after(30):
        wrong = create_side(
            "crm",
            options(world.emulator, client_id="00000000-0000-0000-0000-000000000000"),
            tmp_path,
        )
        with pytest.raises(Exception) as caught:
            await wrong.open()
    assert secret not in str(caught.value)
    fresh = create_side("crm", options(world.emulator), tmp_path)
    await fresh.open()
    await fresh.prepare([ACCOUNTS])
    await fresh.write([insert("S-1")])
    await fresh.close()
    logged = capsys.readouterr()
    assert "dataverse_opened" in logged.out
    assert secret not in logged.out and secret not in logged.err


@pytest.mark.anyio
async def test_our_write_comes_back_in_the_feed_with_the_version_it_returned(world: World) -> None:
    """The echo of a replicator write carries no token but the version the write returned."""
    head = await world.side.head_cursor()
    [made] = await world.side.write([insert("E-1")])
    update = WriteOp("accounts", "update", "t", native_id=made.native_id, values={"name": "E"})
    [updated] = await world.side.write([update])
    [change] = (await world.side.read_changes(head, 100)).changes
    assert (change.native_id, change.token, change.version) == (
        made.native_id,
        None,
        updated.version,
    )
    assert change.values is not None and change.values["name"] == "E"
    assert world.side.user is not None


@pytest.mark.anyio
async def test_a_lookup_field_holds_the_referenced_guid_both_ways(world: World) -> None:
    """A plain lookup column reads as the target's GUID and writes through @odata.bind."""
    fields = ("name", "customertypecode", "transactioncurrencyid")
    spec = EntitySpec("accounts", fields, (COMPANY, "accountnumber"))
    await world.side.prepare([spec])
    reply = await world.user.get(
        "transactioncurrencies", params={"$filter": "isocurrencycode eq 'EUR'"}
    )
    euro = reply.body["value"][0]["transactioncurrencyid"]
    [made] = await world.side.write([insert("L-1", transactioncurrencyid=euro)])
    assert made.status == "applied", made.reason
    row = (await world.side.get("accounts", [made.native_id or ""]))[made.native_id or ""]
    assert row.values["transactioncurrencyid"] == euro


E2E_MAP = """
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "msdyn_company.cdm_companycode" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" }, { fno = "CreditLimit", crm = "creditlimit" } ]
"""


@pytest.mark.anyio
async def test_the_engine_replicates_both_ways_through_the_side(
    world: World, tmp_path: Path
) -> None:
    """A memory customer reaches Dataverse with its company; a user's edit comes back once."""
    fno = MemorySide("fno")
    config = write_config(tmp_path, E2E_MAP)
    async with Replicator(config, sides={"fno": fno, "crm": world.side}) as rep:
        with anyio.fail_after(30):
            await rep.wait_idle()
        nid = fno.insert(
            "CustomersV3",
            {
                "dataAreaId": "usmf",
                "CustomerAccount": "E2E-1",
                "Name": "Contoso",
                "CreditLimit": 250.5,
            },
        )
        with anyio.fail_after(30):
            await rep.wait_idle()
        spec = EntitySpec("accounts", ("name", "creditlimit"), (COMPANY, "accountnumber"))
        found = await world.side.find("accounts", spec.key_fields, [("usmf", "E2E-1")])
        row = found[("usmf", "E2E-1")]
        assert row.values["name"] == "Contoso" and row.values["creditlimit"] == 250.5
        await world.update(row.native_id, name="Contoso Ltd")
        await until(lambda: fno.rows("CustomersV3")[nid]["Name"] == "Contoso Ltd", 30)
        with anyio.fail_after(30):
            await rep.wait_idle()
        assert fno.writes == 1


@pytest.mark.anyio
async def test_the_filter_holds_on_the_feed_and_present_values(world: World) -> None:
    """A row outside the filter comes without values; present_values sees filtered rows only."""
    head = await world.side.head_cursor()
    inside = await world.create("F-1")
    outside = await world.create("F-2", customertypecode=8)
    changes = {c.native_id: c for c in (await world.side.read_changes(head, 100)).changes}
    assert changes[inside].values is not None and changes[outside].values is None
    present = await world.side.present_values(ACCOUNTS, "accountnumber", ["F-1", "F-2", "F-3"])
    assert present == {"F-1"}


@pytest.mark.anyio
async def test_one_cursor_carries_every_entity_link(world: World) -> None:
    """Two mapped entity sets share one cursor; changes of both come, each once."""
    contacts = EntitySpec("contacts", ("lastname",), (COMPANY, "msdyn_contactpersonid"))
    await world.side.prepare([ACCOUNTS, contacts])
    head = await world.side.head_cursor()
    company = await world.company("usmf")
    body = {
        "lastname": "Doe",
        "msdyn_contactpersonid": "P-1",
        "msdyn_company@odata.bind": f"/cdm_companies({company})",
    }
    assert (await world.user.send("POST", "contacts", json=body)).status == 204
    account = await world.create("M-1")
    batch = await world.side.read_changes(head, 100)
    assert sorted((c.entity, c.op) for c in batch.changes) == [
        ("accounts", "upsert"),
        ("contacts", "upsert"),
    ]
    assert account in {c.native_id for c in batch.changes}
    assert sorted(msgspec.json.decode(batch.cursor or "{}")) == ["accounts", "contacts"]
    assert (await world.side.read_changes(batch.cursor, 100)).changes == []


@pytest.mark.anyio
async def test_throttling_and_a_server_hiccup_fail_no_record(world: World) -> None:
    """A 429 and a 503 on the way are waited out by the transport: every write is applied."""
    ops = [insert(f"T-{i}") for i in range(3)]
    await world.side.write([insert("T-warm")])  # the company GUID is cached: one request left
    world.emulator.protection.throttle(1, retry_after_s=0.2)
    world.emulator.protection.fail(1)
    with anyio.fail_after(30):
        results = await world.side.write(ops)
    assert [r.status for r in results] == ["applied"] * 3

"""The F&O side against the in-memory OData fake: batched reads, $batch writes, the events
hook with its durable inbox, and the poll feed."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from fno_fake import FakeEntity, FakeFno

from adapters.fno import FnoSide
from adapters.fno.options import load_options
from replicator.adapter import UNKNOWN_VERSION, EntitySpec, WriteOp

KEY = ("dataAreaId", "CustomerAccount")
CUSTOMERS = FakeEntity(
    entity_set="CustomersV3",
    type_name="CustomerV3",
    key=KEY,
    fields={
        "dataAreaId": "Edm.String",
        "CustomerAccount": "Edm.String",
        "OrganizationName": "Edm.String",
        "CreditLimit": "Edm.Decimal",
        "OnHoldStatus": "CustVendorBlocked",
        "ModifiedDateTime": "Edm.DateTimeOffset",
    },
)
SPEC = EntitySpec("CustomersV3", ("OrganizationName", "CreditLimit", "OnHoldStatus"), KEY)
HOOK_KEY = "the-hook-key-1234"
US1 = "dataAreaId='usmf',CustomerAccount='US-001'"


@pytest.fixture
def fake() -> FakeFno:
    return FakeFno([CUSTOMERS])


def options(tmp_path: Path, **more: object) -> dict[str, object]:
    return {
        "url": "https://fno.example",
        "tenant_id": "contoso.onmicrosoft.com",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_env": "FNO_SIDE_SECRET",
        "hook_key_env": "FNO_SIDE_HOOK_KEY",
        "poll_interval_ms": 10,
        "page_size": 2,
        **more,
    }


@pytest.fixture
async def side(fake: FakeFno, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FnoSide:
    monkeypatch.setenv("FNO_SIDE_SECRET", "secret-value")
    monkeypatch.setenv("FNO_SIDE_HOOK_KEY", HOOK_KEY)
    made = FnoSide(
        "fno", load_options(options(tmp_path), tmp_path), tmp_path, transport=fake.transport()
    )
    await made.open()
    await made.prepare([SPEC])
    return made


def customer(account: str, company: str = "usmf", **values: object) -> dict[str, object]:
    return {
        "dataAreaId": company,
        "CustomerAccount": account,
        "OrganizationName": "Contoso",
        **values,
    }


def data_event(account: str, message: str = "Update", op_id: str = "1") -> bytes:
    attributes = [
        {"key": "mserp_dataareaid", "value": "USMF"},
        {"key": "mserp_customeraccount", "value": account},
        {"key": "mserp_organizationname", "value": "what the payload said"},
    ]
    return msgspec.json.encode(
        {
            "MessageName": message,
            "PrimaryEntityName": "mserp_custcustomerv3entity",
            "InputParameters": [{"key": "Target", "value": {"Attributes": attributes}}],
            "OperationId": op_id,
        }
    )


@pytest.mark.anyio
async def test_reads_are_batched_cross_company_and_paged(side: FnoSide, fake: FakeFno) -> None:
    for n in range(5):
        fake.put("CustomersV3", customer(f"US-00{n}", "usmf" if n % 2 else "usrt"))
    ids = [
        f"dataAreaId='{'usmf' if n % 2 else 'usrt'}',CustomerAccount='US-00{n}'" for n in range(5)
    ]
    fake.gets.clear()
    rows = await side.get("CustomersV3", [*ids, "dataAreaId='usmf',CustomerAccount='NONE'"])
    assert sorted(rows) == sorted(ids)
    assert all("cross-company=true" in g for g in fake.gets)
    assert len(fake.gets) == 3  # one $filter, three pages of two
    assert rows[ids[1]].values["OrganizationName"] == "Contoso"
    assert rows[ids[1]].values["OnHoldStatus"] is None  # nothing set: None, not ""
    found = await side.find("CustomersV3", KEY, [("USRT", "us-000"), ("usmf", "nobody")])
    assert list(found) == [("USRT", "us-000")]
    pages, token = [], None
    while True:
        page = await side.scan("CustomersV3", token, 2)
        pages.append([r.native_id for r in page.rows])
        if page.next is None:
            break
        token = page.next
    assert sorted(n for p in pages for n in p) == sorted(ids) and max(map(len, pages)) <= 2


@pytest.mark.anyio
async def test_a_row_of_another_company_than_the_default_is_written_cross_company(
    side: FnoSide, fake: FakeFno
) -> None:
    """Found by the F&O convergence test: a POST for company usrt went without
    cross-company=true, so F&O refused it (it writes in the user's default company only)."""
    ops = [WriteOp("CustomersV3", "insert", "t1", values=customer("US-001", "usrt"))]
    [result] = await side.write(ops)
    assert result.status == "applied", result
    assert result.native_id == "dataAreaId='usrt',CustomerAccount='US-001'"
    assert all(p.url.endswith("?cross-company=true") for p in fake.batches[0])


@pytest.mark.anyio
async def test_writes_go_in_one_batch_and_a_patch_of_a_missing_row_creates_it(
    side: FnoSide, fake: FakeFno
) -> None:
    fake.put("CustomersV3", customer("US-002"))
    [row] = (await side.get("CustomersV3", ["dataAreaId='usmf',CustomerAccount='US-002'"])).values()
    ops = [
        WriteOp(
            "CustomersV3", "insert", "t1", values={**customer("US-001"), "OnHoldStatus": "All"}
        ),
        WriteOp(
            "CustomersV3",
            "update",
            "t2",
            native_id=row.native_id,
            values={"OrganizationName": "Fabrikam", "CreditLimit": 10.5},
            expected_version=row.version,
        ),
        WriteOp(
            "CustomersV3",
            "update",
            "t3",
            native_id="dataAreaId='usmf',CustomerAccount='US-009'",
            values={"OrganizationName": "Born by PATCH"},
        ),
        WriteOp(
            "CustomersV3", "delete", "t4", native_id="dataAreaId='usmf',CustomerAccount='GONE'"
        ),
    ]
    results = await side.write(ops)
    assert [r.status for r in results] == ["applied"] * 4, results
    assert results[0].native_id == US1 and results[0].version
    assert results[1].version and results[1].version != row.version  # read back after a 204
    assert results[2].native_id == "dataAreaId='usmf',CustomerAccount='US-009'"
    assert len(fake.batches[0]) == 4  # one $batch for the four ops
    assert [p.method for p in fake.batches[1]] == ["POST"]  # the missing row, created
    born = fake._find("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-009"})
    assert born is not None and born["OrganizationName"] == "Born by PATCH"
    assert fake.batches[0][1].json == {"OrganizationName": "Fabrikam", "CreditLimit": 10.5}
    # the applied writes are in the feed before write() returned (no data event came here)
    feed = {c.native_id: (c.op, c.version) for c in (await side.read_changes(None, 100)).changes}
    assert feed[US1] == ("upsert", results[0].version)
    assert feed["dataAreaId='usmf',CustomerAccount='US-009'"][0] == "upsert"
    assert feed["dataAreaId='usmf',CustomerAccount='GONE'"] == ("delete", None)


@pytest.mark.anyio
async def test_conflicts_and_refusals(side: FnoSide, fake: FakeFno) -> None:
    fake.put("CustomersV3", customer("US-001"))
    [row] = (await side.get("CustomersV3", [US1])).values()
    fake.put("CustomersV3", customer("US-001", OrganizationName="Changed meanwhile"))
    fake.refuse["Bad name"] = "Customer group must be filled in."
    results = await side.write(
        [
            WriteOp(
                "CustomersV3",
                "update",
                "t1",
                native_id=US1,
                values={"CreditLimit": 1.0},
                expected_version=row.version,
            ),
            WriteOp("CustomersV3", "insert", "t2", values=customer("US-001")),
            WriteOp(
                "CustomersV3",
                "insert",
                "t3",
                values=customer("US-005", OrganizationName="Bad name"),
            ),
            WriteOp(
                "CustomersV3",
                "update",
                "t4",
                native_id=US1,
                values={},
                expected_version=UNKNOWN_VERSION,
            ),
            WriteOp("CustomersV3", "insert", "t5", values=customer("US-006", OnHoldStatus="Maybe")),
        ]
    )
    assert [r.status for r in results] == [
        "conflict",
        "conflict",
        "permanent",
        "conflict",
        "permanent",
    ]
    assert results[0].current is not None
    assert results[0].current.values["OrganizationName"] == "Changed meanwhile"
    assert results[1].reason == "a row with this key exists"
    assert "Customer group must be filled in." in results[2].reason  # F&O's own words
    assert "not a member" in results[4].reason


@pytest.mark.anyio
async def test_a_hook_with_a_wrong_key_is_refused_and_journals_nothing(side: FnoSide) -> None:
    for query, headers in [({}, {}), ({"code": "wrong"}, {}), ({}, {"x-replicator-key": "nope"})]:
        reply = await side.receive_hook(data_event("US-001"), query, headers)
        assert reply.status == 401
    assert (await side.read_changes(None, 100)).changes == []
    assert await side.head_cursor() is None


@pytest.mark.anyio
async def test_events_give_the_row_as_it_is_now_once(
    side: FnoSide, fake: FakeFno, tmp_path: Path
) -> None:
    fake.put("CustomersV3", customer("US-001", OrganizationName="Now"))
    good = {"code": HOOK_KEY}
    assert (await side.receive_hook(data_event("US-001"), good, {})).status == 200
    again = await side.receive_hook(data_event("US-001"), {}, {"x-replicator-key": HOOK_KEY})
    assert again.body == {"accepted": 1, "new": 0}  # a duplicate adds nothing
    assert (await side.receive_hook(data_event("US-404", "Create", "2"), good, {})).status == 200
    batch = await side.read_changes(None, 100)
    assert [(c.native_id, c.op) for c in batch.changes] == [
        (US1, "upsert"),
        ("dataAreaId='usmf',CustomerAccount='US-404'", "delete"),  # no such row now
    ]
    assert batch.changes[0].values is not None
    assert batch.changes[0].values["OrganizationName"] == "Now"  # read, not the payload
    assert batch.cursor is not None
    assert (await side.read_changes(None, 100)).changes == batch.changes  # reading consumes nothing
    assert (await side.read_changes(batch.cursor, 100)).changes == []
    await side.ack(batch.cursor)
    await side.close()
    reopened = FnoSide("fno", side.options, tmp_path, transport=fake.transport())
    await reopened.open()
    await reopened.prepare([SPEC])
    assert await reopened.head_cursor() == batch.cursor  # the journal survives a restart
    late = await reopened.receive_hook(data_event("US-001"), good, {})
    assert late.body == {"accepted": 1, "new": 0}  # a late duplicate is still known
    await reopened.close()


@pytest.mark.anyio
async def test_malformed_events_get_400_with_the_reason(side: FnoSide) -> None:
    reply = await side.receive_hook(b"{oops", {"code": HOOK_KEY}, {})
    assert reply.status == 400 and "not JSON" in reply.body["error"]
    assert (await side.read_changes(None, 10)).changes == []


@pytest.mark.anyio
async def test_the_poll_feed_reads_what_changed_since_its_cursor(
    fake: FakeFno, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FNO_SIDE_SECRET", "secret-value")
    poll = FnoSide(
        "fno",
        load_options(options(tmp_path, feed="poll", poll_overlap_s=5), tmp_path),
        tmp_path,
        transport=fake.transport(),
    )
    await poll.open()
    await poll.prepare([SPEC])
    fake.put("CustomersV3", customer("US-001", ModifiedDateTime="2026-01-01T10:00:00Z"))
    fake.put("CustomersV3", customer("US-002", ModifiedDateTime="2026-01-01T10:00:01Z"))
    first = await poll.read_changes(None, 100)
    assert [c.native_id for c in first.changes] == [
        US1,
        "dataAreaId='usmf',CustomerAccount='US-002'",
    ]
    assert (await poll.read_changes(first.cursor, 100)).changes == []  # overlap, unchanged: dropped
    fake.put(
        "CustomersV3",
        customer("US-001", OrganizationName="New", ModifiedDateTime="2026-01-01T10:00:02Z"),
    )
    second = await poll.read_changes(first.cursor, 100)
    assert [(c.native_id, (c.values or {}).get("OrganizationName")) for c in second.changes] == [
        (US1, "New")
    ]
    head = await poll.head_cursor()
    assert (await poll.read_changes(head, 100)).changes == []
    await poll.close()


@pytest.mark.anyio
async def test_check_names_a_missing_entity_field_and_a_refused_filter(side: FnoSide) -> None:
    from replicator.errors import SchemaError

    with pytest.raises(SchemaError) as caught:
        await side.check(
            [
                EntitySpec("Customers", ("x",), KEY),
                EntitySpec("CustomersV3", ("Nope",), KEY),
                EntitySpec(
                    "CustomersV3", ("OrganizationName",), KEY, filter="OrganizationName zz 'a'"
                ),
            ]
        )
    text = str(caught.value)
    assert "no data entity 'Customers'" in text and "'Nope'" in text and "filter" in text

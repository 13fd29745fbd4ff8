"""Rows of the Dataverse emulator over real HTTPS: create, read, upsert, conditional writes,
alternate keys, lookups, the real error answers, queries, paging, $batch and protection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dataverse_client import api, company, error_of
from emulators.dataverse import DataverseEmulator

REPRESENTATION = {"Prefer": "return=representation"}


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[DataverseEmulator]:
    async with DataverseEmulator(tmp_path) as emulator:
        yield emulator


def _account(crm: DataverseEmulator, number: str, **values: object) -> dict[str, object]:
    return {
        "accountnumber": number,
        "name": f"Account {number}",
        "msdyn_company@odata.bind": f"/cdm_companies({company(crm)})",
        **values,
    }


def _key(crm: DataverseEmulator, number: str) -> str:
    return f"accounts(accountnumber='{number}',_msdyn_company_value={company(crm)})"


@pytest.mark.anyio
async def test_create_answers_the_entity_id_or_the_row_with_its_etag(
    crm: DataverseEmulator,
) -> None:
    """POST answers 204 with OData-EntityId, or 201 with the row and ETag on request."""
    async with api(crm) as client:
        plain = await client.post("accounts", json=_account(crm, "A1"))
        full = await client.post("accounts", json=_account(crm, "A2"), headers=REPRESENTATION)
    assert plain.status_code == 204
    assert plain.headers["OData-EntityId"].startswith(f"{crm.url}/api/data/v9.2/accounts(")
    assert full.status_code == 201
    row = full.json()
    assert full.headers["ETag"] == row["@odata.etag"] == f'W/"{row["versionnumber"]}"'
    assert row["_createdby_value"] == row["_modifiedby_value"] == crm.systemuser_id
    assert row["statecode"] == 0 and row["statuscode"] == 1
    assert row["createdon"].endswith("Z") and row["_msdyn_company_value"] == company(crm)
    assert "_msdyn_company_value@OData.Community.Display.V1.FormattedValue" not in row
    assert full.headers["x-ms-dop-hint"] == "4"


@pytest.mark.anyio
async def test_versions_grow_across_the_organisation(crm: DataverseEmulator) -> None:
    """Every write takes a higher versionnumber, whatever the table."""
    async with api(crm) as client:
        first = (
            await client.post("accounts", json=_account(crm, "A1"), headers=REPRESENTATION)
        ).json()
        group = {
            "msdyn_groupid": "G1",
            "msdyn_company@odata.bind": f"/cdm_companies({company(crm)})",
        }
        second = (
            await client.post("msdyn_customergroups", json=group, headers=REPRESENTATION)
        ).json()
    assert second["versionnumber"] > first["versionnumber"]


@pytest.mark.anyio
async def test_lookups_bind_by_id_or_key_and_read_as_values(crm: DataverseEmulator) -> None:
    """A lookup is written with @odata.bind (by id or alternate key) and read as _x_value;
    its annotations come only when Prefer asks for them."""
    usd = crm.db.find("transactioncurrencies", {"isocurrencycode": "USD"})
    assert usd is not None
    body = _account(
        crm,
        "A1",
        **{"transactioncurrencyid@odata.bind": "/transactioncurrencies(isocurrencycode='USD')"},
    )
    async with api(crm) as client:
        assert (await client.post("accounts", json=body)).status_code == 204
        plain = (await client.get(_key(crm, "A1"))).json()
        annotated = await client.get(
            _key(crm, "A1") + "?$select=_transactioncurrencyid_value",
            headers={"Prefer": 'odata.include-annotations="*"'},
        )
    assert plain["_transactioncurrencyid_value"] == usd["transactioncurrencyid"]
    assert not [name for name in plain if "@" in name and not name.startswith("@odata.")]
    row = annotated.json()
    prefix = "_transactioncurrencyid_value@"
    assert row[prefix + "Microsoft.Dynamics.CRM.lookuplogicalname"] == "transactioncurrency"
    assert row[prefix + "OData.Community.Display.V1.FormattedValue"] == usd["currencyname"]
    assert "odata.include-annotations" in annotated.headers["Preference-Applied"]


@pytest.mark.anyio
async def test_lookups_are_cleared_with_null_and_set_through_ref(crm: DataverseEmulator) -> None:
    """A lookup is cleared by a null bind, a null navigation property or DELETE of its $ref,
    and set by PUT of its $ref (associate-disassociate-entities-using-web-api.md)."""
    usrt = f"{crm.url}/api/data/v9.2/cdm_companies({company(crm, 'usrt')})"
    async with api(crm) as client:
        made = await client.post("accounts", json=_account(crm, "A1"), headers=REPRESENTATION)
        row = f"accounts({made.json()['accountid']})"
        await client.patch(row, json={"msdyn_company@odata.bind": None})
        cleared_by_bind = (await client.get(row)).json()["_msdyn_company_value"]
        await client.put(f"{row}/msdyn_company/$ref", json={"@odata.id": usrt})
        set_by_ref = (await client.get(row)).json()["_msdyn_company_value"]
        await client.patch(row, json={"msdyn_company": None})
        cleared_by_name = (await client.get(row)).json()["_msdyn_company_value"]
        await client.put(f"{row}/msdyn_company/$ref", json={"@odata.id": usrt})
        deleted = await client.delete(f"{row}/msdyn_company/$ref")
        cleared_by_ref = (await client.get(row)).json()["_msdyn_company_value"]
    assert cleared_by_bind is None and cleared_by_name is None and cleared_by_ref is None
    assert set_by_ref == company(crm, "usrt") and deleted.status_code == 204


@pytest.mark.anyio
async def test_bad_lookups_answer_the_real_errors(crm: DataverseEmulator) -> None:
    """A wrong-case navigation property, a wrong table, a missing row or a direct _x_value
    write are refused."""
    missing = str(uuid.uuid4())
    async with api(crm) as client:
        case = await client.post(
            "accounts",
            json={"name": "x", "msdyn_Company@odata.bind": f"/cdm_companies({company(crm)})"},
        )
        table = await client.post(
            "accounts", json={"name": "x", "msdyn_company@odata.bind": f"/accounts({missing})"}
        )
        absent = await client.post(
            "accounts", json={"name": "x", "msdyn_company@odata.bind": f"/cdm_companies({missing})"}
        )
        direct = await client.post(
            "accounts", json={"name": "x", "_msdyn_company_value": company(crm)}
        )
    assert case.status_code == 400 and "undeclared property 'msdyn_Company'" in error_of(case)[1]
    assert table.status_code == 400 and error_of(table)[0] == "0x80048d19"
    assert absent.status_code == 404
    assert error_of(absent) == ("0x80040217", f"cdm_company With Id = {missing} Does Not Exist")
    assert direct.status_code == 400 and "Navigation properties" in error_of(direct)[1]
    assert crm.db.rows("accounts") == []


@pytest.mark.anyio
async def test_upsert_by_alternate_key_creates_then_updates(crm: DataverseEmulator) -> None:
    """PATCH by alternate key creates a missing row (201) and updates it after (200); PUT and
    DELETE of one property change just that one."""
    async with api(crm) as client:
        created = await client.patch(
            _key(crm, "A1"), json={"name": "First"}, headers=REPRESENTATION
        )
        updated = await client.patch(
            _key(crm, "A1"), json={"name": "Second", "accountnumber": "ZZ"}, headers=REPRESENTATION
        )
        quiet = await client.patch(_key(crm, "A1"), json={"telephone1": "555"})
        await client.put(_key(crm, "A1") + "/fax", json={"value": "556"})
        await client.put(_key(crm, "A1") + "/websiteurl", json={"value": "https://x.example"})
        await client.delete(_key(crm, "A1") + "/websiteurl")
    assert created.status_code == 201 and updated.status_code == 200 and quiet.status_code == 204
    assert created.json()["accountnumber"] == "A1"
    assert created.json()["_msdyn_company_value"] == company(crm)
    (row,) = crm.db.rows("accounts")
    assert (row["name"], row["accountnumber"], row["telephone1"]) == ("Second", "A1", "555")
    assert (row["fax"], row["websiteurl"]) == ("556", None)
    assert updated.json()["versionnumber"] > created.json()["versionnumber"]


@pytest.mark.anyio
async def test_conditional_writes(crm: DataverseEmulator) -> None:
    """If-Match * needs the row, If-None-Match * refuses it, If-Match W/"n" needs that version."""
    async with api(crm) as client:
        absent = await client.patch(_key(crm, "A1"), json={"name": "x"}, headers={"If-Match": "*"})
        made = await client.patch(
            _key(crm, "A1"), json={"name": "x"}, headers={"If-None-Match": "*", **REPRESENTATION}
        )
        again = await client.patch(
            _key(crm, "A1"), json={"name": "y"}, headers={"If-None-Match": "*"}
        )
        etag = made.headers["ETag"]
        fresh = await client.patch(_key(crm, "A1"), json={"name": "z"}, headers={"If-Match": etag})
        stale = await client.patch(_key(crm, "A1"), json={"name": "w"}, headers={"If-Match": etag})
        stale_delete = await client.delete(_key(crm, "A1"), headers={"If-Match": etag})
        deleted = await client.delete(_key(crm, "A1"))
        gone = await client.get(f"accounts({made.json()['accountid']})")
    assert absent.status_code == 404 and error_of(absent)[0] == "0x80040217"
    assert made.status_code == 201 and again.status_code == 412
    assert error_of(again)[1] == "A record with matching key values already exists."
    assert fresh.status_code == 204
    assert stale.status_code == 412 and stale_delete.status_code == 412
    assert error_of(stale) == (
        "0x80060882",
        "The version of the existing record doesn't match the RowVersion property provided.",
    )
    assert deleted.status_code == 204 and gone.status_code == 404
    assert error_of(gone)[1] == f"account With Id = {made.json()['accountid']} Does Not Exist"


@pytest.mark.anyio
async def test_a_duplicate_alternate_key_is_refused(crm: DataverseEmulator) -> None:
    """Two rows with the same alternate-key values (case-insensitively): 412 0x80060892."""
    async with api(crm) as client:
        assert (await client.post("accounts", json=_account(crm, "A1"))).status_code == 204
        duplicate = await client.post("accounts", json=_account(crm, "a1"))
    assert duplicate.status_code == 412 and error_of(duplicate)[0] == "0x80060892"
    assert len(crm.db.rows("accounts")) == 1


@pytest.mark.anyio
async def test_bad_columns_and_values_answer_the_real_errors(crm: DataverseEmulator) -> None:
    """Unknown column, wrong JSON type, out of range, unknown option, too long, bad $select."""
    bodies: dict[str, dict[str, object]] = {
        "unknown": {"bogus": 1},
        "type": {"numberofemployees": "ten"},
        "range": {"creditlimit": -1},
        "option": {"customertypecode": 99},
        "length": {"accountnumber": "x" * 21},
    }
    async with api(crm) as client:
        answers = {
            name: await client.post("accounts", json={"name": "x", **body})
            for name, body in bodies.items()
        }
        select = await client.get("accounts?$select=bogus")
    assert all(answer.status_code == 400 for answer in answers.values())
    code, message = error_of(answers["unknown"])
    assert code == "0x80048d19"
    assert "The property 'bogus' does not exist on type 'Microsoft.Dynamics.CRM.account'" in message
    assert error_of(answers["type"])[0] == "0x80048d19"
    assert {error_of(answers[n])[0] for n in ("range", "option", "length")} == {"0x80044331"}
    assert error_of(select) == (
        "0x80060888",
        "Could not find a property named 'bogus' on type 'Microsoft.Dynamics.CRM.account'.",
    )
    assert crm.db.rows("accounts") == []


def _four_accounts(crm: DataverseEmulator) -> str:
    usmf = company(crm)
    for number, limit in (("A1", 10), ("A2", 20), ("A3", 30), ("B4", None)):
        row = {"accountnumber": number, "name": number, "creditlimit": limit}
        crm.db.create("accounts", {**row, "_msdyn_company_value": usmf})
    return usmf


async def _numbers(client: httpx.AsyncClient, query: str) -> list[str]:
    answer = await client.get(f"accounts?$select=accountnumber&{query}")
    assert answer.status_code == 200, answer.text
    return [row["accountnumber"] for row in answer.json()["value"]]


@pytest.mark.anyio
async def test_dates_money_and_choices_read_like_the_service(crm: DataverseEmulator) -> None:
    """Dates keep their behaviour (DateOnly, UTC), money its precision and currency lookup,
    choices their labels as formatted values."""
    values = {
        "new_customersince": "2026-01-31",
        "new_nextreviewon": "2026-02-01T10:30:00+02:00",
        "creditlimit": 1234.567,
        "customertypecode": 3,
        "new_servicechannels": "100000000,100000002",
    }
    select = "$select=" + ",".join(values)
    formatted = "@OData.Community.Display.V1.FormattedValue"
    async with api(crm) as client:
        await client.post("accounts", json=_account(crm, "A1", **values))
        row = (
            await client.get(
                f"{_key(crm, 'A1')}?{select}", headers={"Prefer": 'odata.include-annotations="*"'}
            )
        ).json()
    assert (row["new_customersince"], row["new_nextreviewon"]) == (
        "2026-01-31",
        "2026-02-01T08:30:00Z",
    )
    assert row["creditlimit"] == 1234.57 and "_transactioncurrencyid_value" in row
    assert row["creditlimit" + formatted] == "$1,234.57"
    assert row["new_customersince" + formatted] == "1/31/2026"
    assert row["customertypecode" + formatted] == "Customer"
    assert row["new_servicechannels" + formatted] == "Email; Portal"


@pytest.mark.anyio
async def test_filter_orderby_top_and_count(crm: DataverseEmulator) -> None:
    """$filter (comparisons, and/or/not, parentheses, In, null, lookups), $orderby, $top, $count."""
    usmf = _four_accounts(crm)
    async with api(crm) as client:
        assert await _numbers(
            client,
            "$filter=(creditlimit gt 10 and creditlimit le 30) or accountnumber eq 'b4'"
            "&$orderby=accountnumber",
        ) == ["A2", "A3", "B4"]
        assert await _numbers(
            client, "$filter=not (creditlimit eq null)&$orderby=creditlimit desc&$top=2"
        ) == ["A3", "A2"]
        assert await _numbers(
            client,
            "$filter=Microsoft.Dynamics.CRM.In(PropertyName='accountnumber',"
            "PropertyValues=['A1','A3'])&$orderby=accountnumber",
        ) == ["A1", "A3"]
        assert await _numbers(
            client, f"$filter=_msdyn_company_value eq {usmf} and startswith(name,'a')&$orderby=name"
        ) == ["A1", "A2", "A3"]
        counted = (await client.get("accounts?$select=name&$count=true")).json()
        plain_count = (await client.get("accounts/$count")).text
        skip = await client.get("accounts?$skip=1")
    assert counted["@odata.count"] == 4 and plain_count == "4"
    assert skip.status_code == 400
    assert error_of(skip) == ("0x80060888", "The query parameter $skip is not supported")


@pytest.mark.anyio
async def test_filters_pinning_an_alternate_key(crm: DataverseEmulator) -> None:
    """A filter on every column of a key (eq or In) finds its rows, case-insensitively."""
    by_key = f"$filter=_msdyn_company_value eq {_four_accounts(crm)} and "
    async with api(crm) as client:
        assert await _numbers(client, f"{by_key}accountnumber eq 'a2'") == ["A2"]
        assert await _numbers(
            client,
            f"{by_key}Microsoft.Dynamics.CRM.In(PropertyName='accountnumber',"
            "PropertyValues=['A3','A1','Z9'])&$orderby=accountnumber",
        ) == ["A1", "A3"]
        assert await _numbers(client, f"{by_key}accountnumber eq 'A2' and creditlimit gt 20") == []


@pytest.mark.anyio
async def test_paging_follows_next_links_without_losing_or_repeating_rows(
    crm: DataverseEmulator,
) -> None:
    """odata.maxpagesize pages with @odata.nextLink; rows written meanwhile shift nothing."""
    for n in range(25):
        crm.db.create("accounts", {"name": f"n{n}"})
    seen: list[str] = []
    pages = 0
    async with api(crm) as client:
        link: str | None = "accounts?$select=name"
        while link is not None:
            answer = await client.get(link, headers={"Prefer": "odata.maxpagesize=10"})
            assert answer.headers["Preference-Applied"] == "odata.maxpagesize=10"
            body = answer.json()
            seen += [row["accountid"] for row in body["value"]]
            link = body.get("@odata.nextLink")
            pages += 1
            if pages == 1:
                crm.db.delete("accounts", seen[0])  # a row already read goes away
    assert pages == 3 and len(seen) == 25 and len(set(seen)) == 25


@pytest.mark.anyio
async def test_the_user_as_modifier_and_conditional_get(crm: DataverseEmulator) -> None:
    """The user's app writes as its own systemuser; If-None-Match with the etag answers 304."""
    crm.db.create("accounts", {"name": "x"}, user=crm.systemuser_id)
    (row,) = crm.db.rows("accounts")
    async with api(crm, user=True) as client:
        await client.patch(f"accounts({row['accountid']})", json={"name": "y"})
        mine = (await client.get(f"accounts({row['accountid']})")).json()
        same = await client.get(
            f"accounts({row['accountid']})", headers={"If-None-Match": mine["@odata.etag"]}
        )
    assert mine["_modifiedby_value"] == crm.user_systemuser_id
    assert mine["_createdby_value"] == crm.systemuser_id
    assert same.status_code == 304


def _batch(crm: DataverseEmulator, good: str, bad_key: str) -> bytes:
    lines = [
        "--batch_1",
        "Content-Type: multipart/mixed; boundary=changeset_1",
        "",
        "--changeset_1",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "Content-ID: 1",
        "",
        f"POST {crm.url}/api/data/v9.2/accounts HTTP/1.1",
        "Content-Type: application/json",
        "",
        f'{{"name": "{good}"}}',
        "--changeset_1",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "Content-ID: 2",
        "",
        f"PATCH {crm.url}/api/data/v9.2/accounts({bad_key}) HTTP/1.1",
        "Content-Type: application/json",
        "If-Match: *",
        "",
        '{"name": "nobody"}',
        "--changeset_1--",
        "--batch_1--",
        "",
    ]
    return "\r\n".join(lines).encode()


@pytest.mark.anyio
async def test_a_failed_change_set_rolls_back_and_parts_are_counted(
    crm: DataverseEmulator,
) -> None:
    """A change set with a failing part undoes its earlier parts; the log counts the batch
    once and each part by its kind."""
    crm.requests.reset()
    body = _batch(crm, "kept?", str(uuid.uuid4()))
    async with api(crm) as client:
        answer = await client.post(
            "$batch", content=body, headers={"Content-Type": "multipart/mixed; boundary=batch_1"}
        )
    assert answer.status_code == 404, answer.text
    assert crm.db.rows("accounts") == []
    assert crm.requests.count("POST", "batch") == 1
    assert crm.requests.count(kind="write") == 2
    assert crm.requests.count(kind="token") == 1


@pytest.mark.anyio
async def test_service_protection_answers_429_with_retry_after(crm: DataverseEmulator) -> None:
    """An injected throttle answers 429 with Retry-After, the Dataverse body and the dop hint."""
    async with api(crm) as client:
        crm.protection.throttle(1, retry_after_s=7)
        refused = await client.get("accounts")
        served = await client.get("accounts")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "7"
    assert error_of(refused)[0] == "0x80072322" and refused.headers["x-ms-dop-hint"] == "4"
    assert served.status_code == 200

"""The F&O emulator over real HTTPS: msal tokens, composite keys, the default company and
cross-company, CRUD with F&O's status codes, etags, enums, errors and validateWrite, and
``$metadata``."""

from __future__ import annotations

import json
import os
import ssl
import stat
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from conftest import until
from emulators.fno import FnoEmulator
from fno_client import HEADERS, customer, inner_error, odata, tls

WRITE = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"


@pytest.fixture
async def fno(tmp_path: Path) -> AsyncIterator[FnoEmulator]:
    async with FnoEmulator(tmp_path) as emulator:
        yield emulator


@pytest.mark.anyio
async def test_a_request_without_a_valid_token_gets_401_with_a_challenge(fno: FnoEmulator) -> None:
    """No token, a made-up token and an expired token all get 401 with WWW-Authenticate."""
    async with httpx.AsyncClient(verify=tls(fno)) as client:
        bare = await client.get(f"{fno.url}/data/CustomersV3")
        forged = await client.get(
            f"{fno.url}/data/CustomersV3", headers={"Authorization": "Bearer made-up"}
        )
    assert bare.status_code == forged.status_code == 401
    assert bare.headers["WWW-Authenticate"].startswith("Bearer ")
    async with odata(fno) as client:
        assert (await client.get("CustomersV3")).status_code == 200
        fno.expire_tokens()
        expired = await client.get("CustomersV3")
    assert expired.status_code == 401 and "invalid_token" in expired.headers["WWW-Authenticate"]


@pytest.mark.anyio
async def test_a_row_is_read_by_its_composite_key_in_any_order(fno: FnoEmulator) -> None:
    """Both key orders, and a %-encoded quote, address the same row; its etag is W/"..."."""
    async with odata(fno) as client:
        one = await client.get("CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')")
        other = await client.get("CustomersV3(CustomerAccount='US-001',dataAreaId='usmf')")
        encoded = await client.get(
            "CustomersV3(dataAreaId=%27usmf%27,CustomerAccount=%27US-001%27)"
        )
    assert one.status_code == other.status_code == encoded.status_code == 200
    assert one.json()["OrganizationName"] == "Contoso Retail San Diego"
    assert one.json() == other.json() == encoded.json()
    assert one.json()["@odata.etag"].startswith('W/"') and one.headers["ETag"]


@pytest.mark.anyio
async def test_quotes_inside_key_strings_are_doubled(fno: FnoEmulator) -> None:
    """A key value with a quote is created, then addressed with the quote doubled."""
    async with odata(fno) as client:
        created = await client.post("CustomersV3", json=customer("O'BRIEN"))
        assert created.status_code == 201
        assert "CustomerAccount='O''BRIEN'" in created.headers["Location"]
        read = await client.get("CustomersV3(dataAreaId='usmf',CustomerAccount='O''BRIEN')")
    assert read.status_code == 200 and read.json()["CustomerAccount"] == "O'BRIEN"


@pytest.mark.anyio
async def test_a_bad_key_segment_is_a_400(fno: FnoEmulator) -> None:
    """A missing key field or an unclosed quote is refused with the OData layer's shape."""
    async with odata(fno) as client:
        partial = await client.get("CustomersV3(CustomerAccount='US-001')")
        broken = await client.get("CustomersV3(dataAreaId='usmf,CustomerAccount='US-001')")
    assert partial.status_code == broken.status_code == 400
    assert "number of keys" in inner_error(partial)[1]


@pytest.mark.anyio
async def test_reads_see_the_default_company_unless_cross_company(fno: FnoEmulator) -> None:
    """Without cross-company=true only usmf rows show; with it, usrt's too."""
    async with odata(fno) as client:
        mine = (await client.get("CustomersV3")).json()["value"]
        everyone = (await client.get("CustomersV3", params={"cross-company": "true"})).json()
        hidden = await client.get("CustomersV3(dataAreaId='usrt',CustomerAccount='US-001')")
        shown = await client.get(
            "CustomersV3(dataAreaId='usrt',CustomerAccount='US-001')?cross-company=true"
        )
    assert {row["dataAreaId"] for row in mine} == {"usmf"}
    assert {row["dataAreaId"] for row in everyone["value"]} == {"usmf", "usrt"}
    assert hidden.status_code == 404 and shown.status_code == 200


@pytest.mark.anyio
async def test_a_write_into_another_company_needs_cross_company(fno: FnoEmulator) -> None:
    """A POST without dataAreaId lands in usmf; one for usrt is refused unless cross-company."""
    async with odata(fno) as client:
        default = await client.post("CustomersV3", json=customer("C-1"))
        refused = await client.post("CustomersV3", json=customer("C-2", dataAreaId="usrt"))
        allowed = await client.post(
            "CustomersV3?cross-company=true", json=customer("C-2", dataAreaId="USRT")
        )
    assert default.status_code == 201 and default.json()["dataAreaId"] == "usmf"
    assert refused.status_code == 400
    assert "cross-company=true" in inner_error(refused)[1]
    assert allowed.status_code == 201 and allowed.json()["dataAreaId"] == "usrt"


@pytest.mark.anyio
async def test_crud_answers_with_f_and_os_status_codes(fno: FnoEmulator) -> None:
    """POST 201 with body, return=minimal 204, PATCH 204, DELETE 204, then 404 for both."""
    url = "CustomersV3(dataAreaId='usmf',CustomerAccount='C-9')"
    async with odata(fno) as client:
        created = await client.post("CustomersV3", json=customer("C-9", CreditLimit=100))
        minimal = await client.post(
            "CustomersV3", json=customer("C-10"), headers={"Prefer": "return=minimal"}
        )
        patched = await client.patch(url, json={"CreditLimit": 250.5})
        after = (await client.get(url)).json()
        deleted = await client.delete(url)
        gone = await client.get(url)
        patch_missing = await client.patch(url, json={"CreditLimit": 1})
        delete_missing = await client.delete(url)
    assert created.status_code == 201 and created.json()["CreditLimit"] == 100
    assert created.json()["OnHoldStatus"] == "No"  # the enum's first member: F&O has no nulls
    assert minimal.status_code == 204 and minimal.content == b""
    assert minimal.headers["Location"].endswith("CustomerAccount='C-10')")
    assert patched.status_code == 204 and after["CreditLimit"] == 250.5
    assert after["@odata.etag"] != created.json()["@odata.etag"]
    assert deleted.status_code == 204
    assert gone.status_code == patch_missing.status_code == delete_missing.status_code == 404


@pytest.mark.anyio
async def test_a_duplicate_post_is_f_and_os_duplicate_key_error(fno: FnoEmulator) -> None:
    """A second POST of a key (any case) answers the write failure 'The record already exists'."""
    async with odata(fno) as client:
        duplicate = await client.post("CustomersV3", json=customer("us-001"))
    assert duplicate.status_code == 400
    message, inner, kind = inner_error(duplicate)
    assert message == "An error has occurred." and kind == WRITE
    assert "Cannot create a record in Customers (CustTable)" in inner
    assert "The record already exists." in inner


@pytest.mark.anyio
async def test_if_match_with_a_stale_etag_is_412(fno: FnoEmulator) -> None:
    """PATCH and DELETE with an old etag get 412; with the current one, or *, they pass."""
    url = "CustomersV3(dataAreaId='usmf',CustomerAccount='US-002')"
    async with odata(fno) as client:
        old = (await client.get(url)).json()["@odata.etag"]
        assert (await client.patch(url, json={"AddressCity": "Irvine"})).status_code == 204
        stale = await client.patch(url, json={"AddressCity": "X"}, headers={"If-Match": old})
        stale_delete = await client.delete(url, headers={"If-Match": old})
        current = (await client.get(url)).json()["@odata.etag"]
        fresh = await client.patch(url, json={"AddressCity": "Y"}, headers={"If-Match": current})
        star = await client.patch(url, json={"AddressCity": "Z"}, headers={"If-Match": "*"})
    assert stale.status_code == stale_delete.status_code == 412
    assert fresh.status_code == star.status_code == 204


@pytest.mark.anyio
async def test_enums_are_member_names_and_an_unknown_one_is_a_400(fno: FnoEmulator) -> None:
    """A body carries "Yes"; a member the enum lacks gets a 400 naming it and the enum."""
    async with odata(fno) as client:
        good = await client.post("CustomersV3", json=customer("E-1", IsOneTimeCustomer="Yes"))
        bad = await client.post("CustomersV3", json=customer("E-2", IsOneTimeCustomer="Maybe"))
    assert good.status_code == 201 and good.json()["IsOneTimeCustomer"] == "Yes"
    assert bad.status_code == 400
    inner = inner_error(bad)[1]
    assert "'Maybe'" in inner and "Microsoft.Dynamics.DataEntities.NoYes" in inner


@pytest.mark.anyio
async def test_an_unknown_property_or_wrong_type_in_a_body_is_a_400(fno: FnoEmulator) -> None:
    """An unknown field and a string for a decimal are refused, naming the field."""
    async with odata(fno) as client:
        unknown = await client.post("CustomersV3", json=customer("U-1", Colour="red"))
        wrong = await client.post("CustomersV3", json=customer("U-2", CreditLimit="lots"))
    assert unknown.status_code == wrong.status_code == 400
    assert "'Colour'" in inner_error(unknown)[1] and "CreditLimit" in inner_error(wrong)[1]


@pytest.mark.anyio
async def test_validate_write_failures_read_as_f_and_os_infolog(fno: FnoEmulator) -> None:
    """A missing group, an unknown group and a too-long name come back in F&O's words."""
    async with odata(fno) as client:
        missing = await client.post("CustomersV3", json=customer("V-1", CustomerGroupId=""))
        unknown = await client.post("CustomersV3", json=customer("V-2", CustomerGroupId="99"))
        too_long = await client.post(
            "CustomersV3", json=customer("V-3", OrganizationName="x" * 101)
        )
        patch = await client.patch(
            "CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')",
            json={"CustomerGroupId": "99"},
        )
    assert missing.status_code == unknown.status_code == too_long.status_code == 400
    assert "Field 'Customer group' must be filled in." in inner_error(missing)[1]
    expected = (
        "The value '99' in field 'Customer group' is not found in the related table"
        " 'Customer groups'."
    )
    assert expected in inner_error(unknown)[1] and inner_error(unknown)[2] == WRITE
    assert "maximum length of 100" in inner_error(too_long)[1]
    assert patch.status_code == 400 and expected in inner_error(patch)[1]


@pytest.mark.anyio
async def test_a_reference_is_checked_in_the_rows_own_company(fno: FnoEmulator) -> None:
    """Group 40 is looked up in the row's own company: usrt's customer passes once usrt has
    the group, usmf's still fails."""
    async with odata(fno) as client:
        body = customer("R-1", dataAreaId="usrt", CustomerGroupId="40")
        refused = await client.post("CustomersV3?cross-company=true", json=body)
        group = {"dataAreaId": "usrt", "CustomerGroupId": "40", "Description": "New"}
        made = await client.post("CustomerGroups?cross-company=true", json=group)
        accepted = await client.post("CustomersV3?cross-company=true", json=body)
        elsewhere = await client.post("CustomersV3", json=customer("R-2", CustomerGroupId="40"))
    assert refused.status_code == 400 and made.status_code == 201
    assert accepted.status_code == 201 and elsewhere.status_code == 400


@pytest.mark.anyio
async def test_metadata_lists_entity_sets_keys_and_enums(fno: FnoEmulator) -> None:
    """$metadata is CSDL naming each entity set, its key in order, and the enum types."""
    async with odata(fno) as client:
        answer = await client.get("$metadata")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(
        "application/xml"
    )
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    root = ET.fromstring(answer.content)
    types = {t.get("Name"): t for t in root.iterfind(".//edm:EntityType", ns)}
    keys = [ref.get("Name") for ref in types["CustomerV3"].iterfind("edm:Key/edm:PropertyRef", ns)]
    assert keys == ["dataAreaId", "CustomerAccount"]
    sets = {s.get("Name"): s.get("EntityType") for s in root.iterfind(".//edm:EntitySet", ns)}
    assert sets["CustomersV3"] == "Microsoft.Dynamics.DataEntities.CustomerV3"
    enums = {e.get("Name"): e for e in root.iterfind(".//edm:EnumType", ns)}
    assert [m.get("Name") for m in enums["NoYes"]] == ["No", "Yes"]
    props = {p.get("Name"): p.get("Type") for p in types["CustomerV3"].iterfind("edm:Property", ns)}
    assert props["IsOneTimeCustomer"] == "Microsoft.Dynamics.DataEntities.NoYes"


@pytest.mark.anyio
async def test_an_unknown_entity_set_is_a_404(fno: FnoEmulator) -> None:
    """A set the environment does not serve answers 404 in F&O's error shape."""
    async with odata(fno) as client:
        answer = await client.get("NoSuchEntities")
    assert answer.status_code == 404 and inner_error(answer)[0]


@pytest.mark.anyio
async def test_python_m_emulators_fno_writes_its_connection_file(tmp_path: Path) -> None:
    """``python -m emulators.fno`` serves and writes a 0600 emulator.json that connects."""
    process = await anyio.open_process(
        [sys.executable, "-m", "emulators.fno", "--dir", str(tmp_path), "--port", "0"]
    )
    try:
        path = tmp_path / "emulator.json"
        await until(lambda: path.exists() and path.read_text(), 30)
        facts = json.loads(path.read_text())
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        data = {
            "grant_type": "client_credentials",
            "client_id": facts["client_id"],
            "client_secret": facts["client_secret"],
            "scope": f"{facts['url']}/.default",
        }
        trust = ssl.create_default_context(cafile=facts["ca_file"])
        async with httpx.AsyncClient(verify=trust) as client:
            endpoint = f"{facts['authority']}/{facts['tenant_id']}/oauth2/v2.0/token"
            got = (await client.post(endpoint, data=data)).json()
            headers = {**HEADERS, "Authorization": f"Bearer {got['access_token']}"}
            answer = await client.get(f"{facts['url']}/data/LegalEntities", headers=headers)
        assert answer.status_code == 200 and len(answer.json()["value"]) == 3
    finally:
        process.terminate()
        await process.wait()

"""The F&O emulator's query options over real HTTPS: $filter (operators, literals, enums,
functions, date-times), $select, $orderby, $top, $skip, $count and /$count, server paging with
@odata.nextLink and Prefer: odata.maxpagesize."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators.fno import Edm, EntityDef, FieldDef, FnoEmulator, standard_registry
from fno_client import inner_error, odata

ENUM = "Microsoft.Dynamics.DataEntities"


def _rows() -> dict[str, list[dict[str, Any]]]:
    customers = [
        {"dataAreaId": "usmf", "CustomerAccount": f"Q-{n:03}", "OrganizationName": name,
         "CreditLimit": limit, "CustomerGroupId": group, "IsOneTimeCustomer": one_time}
        for n, (name, limit, group, one_time) in enumerate([
            ("Alpine Ski House", 1000, "10", "No"),
            ("alpine Outfitters", 5000, "30", "Yes"),
            ("Blue Yonder", 2500, "10", "No"),
            ("Coho Winery", 0, "30", "Yes"),
            ("Datum's Corp", 7500, "10", "No"),
        ])
    ]  # fmt: skip
    events = [
        {"EventId": f"E{n}", "When": f"2024-05-0{n}T12:00:00Z", "Count": n} for n in range(1, 6)
    ]
    return {"CustomersV3": customers, "Happenings": events}


@pytest.fixture
async def fno(tmp_path: Path) -> AsyncIterator[FnoEmulator]:
    registry = standard_registry()
    registry.add(
        EntityDef(
            entity_set="Happenings",
            public_name="Happening",
            label="Happenings",
            table="Happening",
            fields=(
                FieldDef(name="EventId", edm=Edm.STRING, max_length=10, mandatory=True),
                FieldDef(name="When", edm=Edm.DATETIME),
                FieldDef(name="Count", edm=Edm.INT),
            ),
            keys=("EventId",),
            modified_field="When",
        )
    )
    emulator = FnoEmulator(tmp_path, registry=registry, seed=False, page_size=3)
    emulator.seed(_rows())
    async with emulator:
        yield emulator


async def _accounts(client: httpx.AsyncClient, **params: str) -> list[str]:
    answer = await client.get("CustomersV3", params=params)
    assert answer.status_code == 200, answer.text
    assert "@odata.nextLink" not in answer.json()  # every case fits one page of 3
    return [row["CustomerAccount"] for row in answer.json()["value"]]


@pytest.mark.anyio
async def test_filter_operators_and_logic(fno: FnoEmulator) -> None:
    """eq ne gt ge lt le, and/or/not and parentheses select the rows they should."""
    cases = {
        "CreditLimit gt 2500": ["Q-001", "Q-004"],
        "CreditLimit ge 2500 and CreditLimit le 5000": ["Q-001", "Q-002"],
        "CreditLimit lt 1000 or CreditLimit eq 7500": ["Q-003", "Q-004"],
        "not (CustomerGroupId eq '10')": ["Q-001", "Q-003"],
        "CustomerGroupId ne '10' and (CreditLimit eq 0 or CreditLimit eq 5000)": ["Q-001", "Q-003"],
    }
    async with odata(fno) as client:
        for text, expected in cases.items():
            assert await _accounts(client, **{"$filter": text}) == expected, text


@pytest.mark.anyio
async def test_string_filters_ignore_case_and_unquote_doubled_quotes(fno: FnoEmulator) -> None:
    """eq, startswith and contains compare without case; '' is a quote inside a literal."""
    async with odata(fno) as client:
        assert await _accounts(client, **{"$filter": "startswith(OrganizationName,'ALPINE')"}) == [
            "Q-000",
            "Q-001",
        ]
        assert await _accounts(client, **{"$filter": "contains(OrganizationName,'winery')"}) == [
            "Q-003"
        ]
        assert await _accounts(client, **{"$filter": "OrganizationName eq 'Datum''s Corp'"}) == [
            "Q-004"
        ]


@pytest.mark.anyio
async def test_enum_filters_take_qualified_literals(fno: FnoEmulator) -> None:
    """NoYes'Yes' matches; a bare string or an unknown member is a 400 in the OData words."""
    async with odata(fno) as client:
        yes = await _accounts(client, **{"$filter": f"IsOneTimeCustomer eq {ENUM}.NoYes'Yes'"})
        bare = await client.get("CustomersV3", params={"$filter": "IsOneTimeCustomer eq 'Yes'"})
        unknown = await client.get(
            "CustomersV3", params={"$filter": f"IsOneTimeCustomer eq {ENUM}.NoYes'Maybe'"}
        )
    assert yes == ["Q-001", "Q-003"]
    assert bare.status_code == 400 and "incompatible types" in inner_error(bare)[1]
    assert unknown.status_code == 400
    assert "NoYes'Maybe'' is not a valid enumeration type constant" in inner_error(unknown)[1]


@pytest.mark.anyio
async def test_date_time_filters_compare_instants(fno: FnoEmulator) -> None:
    """An unquoted date-time literal, in another offset, compares as the same instant."""
    async with odata(fno) as client:
        answer = await client.get(
            "Happenings", params={"$filter": "When ge 2024-05-03T14:00:00+02:00"}
        )
    assert [row["EventId"] for row in answer.json()["value"]] == ["E3", "E4", "E5"]


@pytest.mark.anyio
async def test_the_modified_date_time_is_set_by_the_server_on_every_write(
    fno: FnoEmulator,
) -> None:
    """A create's and an update's When is the time of the write, whatever the body says;
    a filter on it finds what changed since."""
    async with odata(fno) as client:
        before = (await client.get("Happenings('E5')")).json()["When"]
        made = await client.post(
            "Happenings", json={"EventId": "E9", "When": "2000-01-01T00:00:00Z"}
        )
        assert made.status_code == 201 and made.json()["When"] > before
        assert (await client.patch("Happenings('E1')", json={"Count": 10})).status_code == 204
        since = await client.get("Happenings", params={"$filter": f"When gt {before}"})
    assert sorted(row["EventId"] for row in since.json()["value"]) == ["E1", "E9"]


@pytest.mark.anyio
async def test_bad_filters_are_400_naming_the_problem(fno: FnoEmulator) -> None:
    """An unknown property, a dangling operator and an unknown option are refused."""
    async with odata(fno) as client:
        unknown = await client.get("CustomersV3", params={"$filter": "Colour eq 'red'"})
        dangling = await client.get("CustomersV3", params={"$filter": "CreditLimit gt"})
        option = await client.get("CustomersV3", params={"$search": "x"})
    assert unknown.status_code == dangling.status_code == option.status_code == 400
    assert "Could not find a property named 'Colour'" in inner_error(unknown)[1]
    assert "$search" in inner_error(option)[1]


@pytest.mark.anyio
async def test_select_orderby_top_skip_and_count(fno: FnoEmulator) -> None:
    """$select trims fields, $orderby sorts by several keys, $top/$skip page, $count counts."""
    async with odata(fno) as client:
        answer = await client.get(
            "CustomersV3",
            params={"$select": "CustomerAccount,CreditLimit", "$orderby": "CustomerGroupId desc,"
                    "CreditLimit asc", "$top": "3", "$skip": "1", "$count": "true"},
        )  # fmt: skip
        counted = await client.get("CustomersV3/$count", params={"$filter": "CreditLimit gt 0"})
    body = answer.json()
    assert body["@odata.count"] == 5
    assert [row["CustomerAccount"] for row in body["value"]] == ["Q-001", "Q-000", "Q-002"]
    assert set(body["value"][0]) == {"@odata.etag", "CustomerAccount", "CreditLimit"}
    assert counted.status_code == 200 and counted.text == "4"


@pytest.mark.anyio
async def test_server_paging_follows_next_links_to_every_row(fno: FnoEmulator) -> None:
    """A page holds the server's page size; following @odata.nextLink yields each row once."""
    seen: list[str] = []
    async with odata(fno) as client:
        url: str | None = "CustomersV3?$orderby=CustomerAccount desc"
        pages = 0
        while url is not None:
            body = (await client.get(url)).json()
            seen += [row["CustomerAccount"] for row in body["value"]]
            url, pages = body.get("@odata.nextLink"), pages + 1
            assert len(body["value"]) <= 3
    assert pages == 2 and seen == ["Q-004", "Q-003", "Q-002", "Q-001", "Q-000"]


@pytest.mark.anyio
async def test_prefer_maxpagesize_makes_pages_smaller_and_top_still_holds(
    fno: FnoEmulator,
) -> None:
    """odata.maxpagesize=2 gives pages of 2; with $top=3 the links stop after three rows."""
    seen: list[str] = []
    async with odata(fno) as client:
        url: str | None = "CustomersV3?$top=3"
        while url is not None:
            answer = await client.get(url, headers={"Prefer": "odata.maxpagesize=2"})
            body = answer.json()
            assert len(body["value"]) <= 2
            seen += [row["CustomerAccount"] for row in body["value"]]
            url = body.get("@odata.nextLink")
    assert seen == ["Q-000", "Q-001", "Q-002"]

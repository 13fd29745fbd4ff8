"""$batch over real HTTPS through the Dataverse emulator: change sets, $n, continue-on-error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from batch_parts import changeset, part, parts_of, post_batch
from dataverse_client import api
from emulators.dataverse import DataverseEmulator

MISSING = "contacts(00000000-0000-0000-0000-000000000001)"


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[DataverseEmulator]:
    """A running emulator with the standard tables."""
    async with DataverseEmulator(tmp_path) as emulator:
        yield emulator


async def lastnames(client: httpx.AsyncClient) -> list[str]:
    """The last names of every contact."""
    rows = (await client.get("contacts?$select=lastname")).json()["value"]
    return sorted(row["lastname"] for row in rows)


@pytest.mark.anyio
async def test_a_change_set_binds_by_content_id_and_a_get_sees_it(crm: DataverseEmulator) -> None:
    """$1 in a bind and $2 as a URL reach the rows the change set created."""
    async with api(crm) as client:
        account = '{"name":"A","accountnumber":"A1","primarycontactid@odata.bind":"$1"}'
        cs = changeset(
            [
                part("POST", "/api/data/v9.2/contacts", '{"lastname":"L"}', "1"),
                part("POST", "/api/data/v9.2/accounts", account, "2"),
                part("PATCH", "$2", '{"telephone1":"555"}', "3"),
            ]
        )
        get = part("GET", "accounts?$select=telephone1,_primarycontactid_value")
        response = await post_batch(client, [cs, get])
        assert response.status_code == 200
        (cs_headers, _), (_, listing) = parts_of(response)
        assert cs_headers["content-type"].startswith("multipart/mixed")
        assert b'"telephone1":"555"' in listing
        contact = (await client.get("contacts?$select=contactid")).json()["value"][0]
        assert contact["contactid"].encode() in listing


@pytest.mark.anyio
async def test_a_failing_change_set_leaves_nothing_and_stops_the_batch(
    crm: DataverseEmulator,
) -> None:
    """The change set's create is rolled back; the request after it never runs; 404 overall."""
    async with api(crm) as client:
        cs = changeset(
            [part("POST", "contacts", '{"lastname":"undone"}', "1"), part("DELETE", MISSING)]
        )
        response = await post_batch(client, [cs, part("POST", "contacts", '{"lastname":"after"}')])
        assert response.status_code == 404
        ((headers, content),) = parts_of(response)
        assert headers["content-type"] == "application/http"
        assert content.startswith(b"HTTP/1.1 404 Not Found\r\n")
        assert await lastnames(client) == []


@pytest.mark.anyio
async def test_continue_on_error_runs_the_rest(crm: DataverseEmulator) -> None:
    """With the preference, the batch answers 200 and the request after the failure runs."""
    async with api(crm) as client:
        cs = changeset(
            [part("POST", "contacts", '{"lastname":"undone"}', "1"), part("DELETE", MISSING)]
        )
        after = part("POST", "contacts", '{"lastname":"after"}')
        response = await post_batch(client, [cs, after], keep_going=True)
        assert response.status_code == 200
        assert len(parts_of(response)) == 2
        assert await lastnames(client) == ["after"]


@pytest.mark.anyio
async def test_a_get_in_a_change_set_is_a_bad_request(crm: DataverseEmulator) -> None:
    """The whole batch is refused with 400 and the Dataverse error body."""
    async with api(crm) as client:
        response = await post_batch(client, [changeset([part("GET", "contacts")])])
        assert response.status_code == 400
        assert "'GET'" in response.json()["error"]["message"]

"""Change tracking of the Dataverse emulator over real HTTPS: the first load, delta links with
changed rows and deletions, refused options, expired tokens, and 20,000 rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dataverse_client import api, error_of
from emulators.dataverse import STANDARD_TABLES, Column, DataverseEmulator, Table

TRACK = {"Prefer": "odata.track-changes"}
NOTES = Table(
    logical_name="new_note",
    entity_set="new_notes",
    primary_id="new_noteid",
    primary_name="new_name",
    columns=(Column(logical_name="new_name", type="String", max_length=100),),
    change_tracking=False,
)


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[DataverseEmulator]:
    async with DataverseEmulator(tmp_path, tables=(*STANDARD_TABLES, NOTES)) as emulator:
        yield emulator


async def _first_load(
    client: httpx.AsyncClient, page_size: int = 5000
) -> tuple[list[dict[str, Any]], str]:
    """Every row of the first tracked load, and the delta link of its last page."""
    prefer = {"Prefer": f"odata.track-changes,odata.maxpagesize={page_size}"}
    rows: list[dict[str, Any]] = []
    link = "accounts?$select=name"
    while True:
        answer = await client.get(link, headers=prefer)
        assert answer.status_code == 200, answer.text
        assert "odata.track-changes" in answer.headers["Preference-Applied"]
        body = answer.json()
        rows += body["value"]
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return rows, body["@odata.deltaLink"]
        link = body["@odata.nextLink"]


async def _delta(client: httpx.AsyncClient, link: str) -> tuple[list[dict[str, Any]], str]:
    """Every entry a delta link returns (following next links), and the next delta link."""
    entries: list[dict[str, Any]] = []
    while True:
        answer = await client.get(link, headers={"Prefer": "odata.maxpagesize=2"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["@odata.context"].endswith("/$delta")
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        link = body["@odata.nextLink"]


def _deleted(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries if e.get("@odata.context", "").endswith("/$deletedEntity")]


@pytest.mark.anyio
async def test_the_first_load_pages_every_row_then_gives_a_delta_link(
    crm: DataverseEmulator,
) -> None:
    """A tracked load returns every row over its pages; only the last has the delta link."""
    for n in range(5):
        crm.db.create("accounts", {"name": f"n{n}"})
    async with api(crm) as client:
        rows, link = await _first_load(client, page_size=2)
    assert sorted(row["name"] for row in rows) == [f"n{n}" for n in range(5)]
    assert "$deltatoken=" in link and link.startswith(f"{crm.url}/api/data/v9.2/accounts?")


@pytest.mark.anyio
async def test_a_delta_link_returns_changed_rows_once_with_current_values(
    crm: DataverseEmulator,
) -> None:
    """Rows changed since the token come once each, with current values, by version; then
    an empty delta when nothing changed."""
    first = crm.db.create("accounts", {"name": "first"})
    second = crm.db.create("accounts", {"name": "second"})
    async with api(crm) as client:
        _, link = await _first_load(client)
        crm.db.update("accounts", first["accountid"], {"name": "first, renamed"})
        crm.db.update("accounts", second["accountid"], {"name": "second, renamed"})
        crm.db.update("accounts", first["accountid"], {"name": "first, again"})
        new = crm.db.create("accounts", {"name": "new"})
        entries, link = await _delta(client, link)
        nothing, _ = await _delta(client, link)
    assert [e["name"] for e in entries] == ["second, renamed", "first, again", "new"]
    assert entries[-1]["accountid"] == new["accountid"]
    versions = [int(e["@odata.etag"].split('"')[1]) for e in entries]
    assert versions == sorted(versions)
    assert nothing == []


@pytest.mark.anyio
async def test_deletes_follow_the_changes_even_for_rows_never_seen(
    crm: DataverseEmulator,
) -> None:
    """Deleted rows come after the changed ones as $deletedEntity, also a row created and
    deleted since the token."""
    kept = crm.db.create("accounts", {"name": "kept"})
    doomed = crm.db.create("accounts", {"name": "doomed"})
    async with api(crm) as client:
        _, link = await _first_load(client)
        crm.db.delete("accounts", doomed["accountid"])
        brief = crm.db.create("accounts", {"name": "brief"})
        crm.db.delete("accounts", brief["accountid"])
        crm.db.update("accounts", kept["accountid"], {"name": "kept, changed"})
        entries, _ = await _delta(client, link)
    assert [e.get("name") for e in entries[:1]] == ["kept, changed"]
    assert _deleted(entries) == [doomed["accountid"], brief["accountid"]]
    assert all(e["reason"] == "deleted" for e in entries[1:])


@pytest.mark.anyio
async def test_a_row_changed_during_the_first_load_comes_again_in_the_delta(
    crm: DataverseEmulator,
) -> None:
    """The delta link of a paged first load starts where that load started."""
    rows = [crm.db.create("accounts", {"name": f"n{n}"}) for n in range(4)]
    async with api(crm) as client:
        prefer = {"Prefer": "odata.track-changes,odata.maxpagesize=2"}
        page = (await client.get("accounts?$select=name", headers=prefer)).json()
        crm.db.update("accounts", rows[0]["accountid"], {"name": "during"})
        last = (await client.get(page["@odata.nextLink"], headers=prefer)).json()
        entries, _ = await _delta(client, last["@odata.deltaLink"])
    assert [e["name"] for e in entries] == ["during"]


@pytest.mark.anyio
async def test_change_tracking_refuses_query_options_and_untracked_tables(
    crm: DataverseEmulator,
) -> None:
    """$filter/$orderby/$expand/$top are refused with change tracking, so is a table without it."""
    async with api(crm) as client:
        for option in (
            "$filter=name eq 'x'",
            "$orderby=name",
            "$expand=primarycontactid",
            "$top=1",
        ):
            answer = await client.get(f"accounts?$select=name&{option}", headers=TRACK)
            name = option.split("=")[0]
            assert answer.status_code == 400
            assert (
                error_of(answer)[1]
                == f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
            )
        untracked = await client.get("new_notes?$select=new_name", headers=TRACK)
    assert untracked.status_code == 400 and "new_note" in error_of(untracked)[1]


@pytest.mark.anyio
async def test_expired_change_tracking_asks_for_a_full_sync(crm: DataverseEmulator) -> None:
    """After expire_change_tracking, an old delta link answers 0x80044352; a new load works."""
    async with api(crm) as client:
        _, link = await _first_load(client)
        crm.expire_change_tracking("accounts")
        expired = await client.get(link)
        _, fresh = await _first_load(client)
        renewed = await client.get(fresh)
    assert expired.status_code == 400
    assert error_of(expired) == (
        "0x80044352",
        "Version stamp associated with the client has expired. Please perform a full sync.",
    )
    assert renewed.status_code == 200


@pytest.mark.anyio
async def test_delta_tokens_older_than_the_retention_expire(tmp_path: Path) -> None:
    """With change_retention_s, a token older than it answers 0x80044352."""
    now = [1_800_000_000.0]
    async with DataverseEmulator(tmp_path, change_retention_s=3600) as crm:
        crm.db.clock = lambda: now[0]
        async with api(crm) as client:
            _, link = await _first_load(client)
            now[0] += 3599
            assert (await client.get(link)).status_code == 200
            now[0] += 2
            expired = await client.get(link)
    assert error_of(expired)[0] == "0x80044352"


@pytest.mark.anyio
async def test_twenty_thousand_rows_load_and_track(crm: DataverseEmulator) -> None:
    """20,000 rows page in four pages of 5,000; a change among them is one delta entry."""
    ids = [crm.db.create("accounts", {"name": f"n{n}"})["accountid"] for n in range(20_000)]
    async with api(crm) as client:
        rows, link = await _first_load(client)
        crm.db.update("accounts", ids[12_345], {"name": "changed"})
        entries, _ = await _delta(client, link)
    assert len(rows) == 20_000 and len({row["accountid"] for row in rows}) == 20_000
    assert [e["accountid"] for e in entries] == [ids[12_345]]

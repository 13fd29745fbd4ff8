"""The F&O emulator's $batch over real HTTPS (change sets atomic, Content-ID references, at most
5,000 operations) and its injected faults through the admin routes (429 with Retry-After, 503,
token expiry)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from batch_parts import changeset, part, parts_of, post_batch
from emulators.fno import FnoEmulator
from fno_client import customer, inner_error, odata, tls

ROW = "/data/CustomersV3(dataAreaId='usmf',CustomerAccount='{}')"


@pytest.fixture
async def fno(tmp_path: Path) -> AsyncIterator[FnoEmulator]:
    async with FnoEmulator(tmp_path) as emulator:
        yield emulator


def _create(account: str, content_id: str | None = None, **fields: object) -> str:
    return part("POST", "/data/CustomersV3", json.dumps(customer(account, **fields)), content_id)


async def _exists(client: httpx.AsyncClient, account: str) -> bool:
    answer = await client.get(ROW.format(account).removeprefix("/data/"))
    return answer.status_code == 200


@pytest.mark.anyio
async def test_a_change_set_commits_together_and_content_ids_name_its_rows(
    fno: FnoEmulator,
) -> None:
    """Two creates and a PATCH of $1 commit; a GET outside the change set sees them."""
    async with odata(fno) as client:
        cs = changeset(
            [
                _create("B-1", "1"),
                _create("B-2", "2"),
                part("PATCH", "$1", '{"CreditLimit":7}', "3"),
            ]
        )
        get = part(
            "GET", "CustomersV3?$filter=startswith(CustomerAccount,'B-')&$select=CreditLimit"
        )
        answer = await post_batch(client, [cs, get])
        assert answer.status_code == 200
        (cs_headers, cs_body), (_, listing) = parts_of(answer)
        assert cs_headers["content-type"].startswith("multipart/mixed")
        assert b"HTTP/1.1 201 Created" in cs_body and b"HTTP/1.1 204 No Content" in cs_body
        assert b'"CreditLimit":7' in listing
        assert await _exists(client, "B-1") and await _exists(client, "B-2")


@pytest.mark.anyio
async def test_one_failure_rolls_its_change_set_back(fno: FnoEmulator) -> None:
    """A validateWrite failure undoes the change set's earlier create; the batch stops there."""
    async with odata(fno) as client:
        cs = changeset([_create("B-3", "1"), _create("B-4", "2", CustomerGroupId="99")])
        answer = await post_batch(client, [cs, _create("B-5")])
        assert answer.status_code == 400
        ((headers, content),) = parts_of(answer)
        assert headers["content-type"] == "application/http"
        assert content.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"is not found in the related table 'Customer groups'" in content
        assert not await _exists(client, "B-3") and not await _exists(client, "B-5")


@pytest.mark.anyio
async def test_continue_on_error_runs_the_requests_after_a_failure(fno: FnoEmulator) -> None:
    """With odata.continue-on-error the batch answers 200 and the later request runs."""
    async with odata(fno) as client:
        cs = changeset([_create("B-6", "1"), part("DELETE", ROW.format("NOPE"))])
        answer = await post_batch(client, [cs, _create("B-7")], keep_going=True)
        assert answer.status_code == 200 and len(parts_of(answer)) == 2
        assert not await _exists(client, "B-6") and await _exists(client, "B-7")


@pytest.mark.anyio
async def test_more_than_5000_operations_is_a_400(fno: FnoEmulator) -> None:
    """5,001 operations are refused before any runs, in F&O's error shape."""
    async with odata(fno) as client:
        parts = [part("GET", "LegalEntities")] * 5001
        answer = await post_batch(client, parts)
    assert answer.status_code == 400
    assert "'5000'" in inner_error(answer)[1]


async def _admin(fno: FnoEmulator, route: str, body: object, key: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {key if key is not None else fno.admin_key}"}
    async with httpx.AsyncClient(verify=tls(fno)) as client:
        answer = await client.post(f"{fno.url}/_emulator/{route}", json=body, headers=headers)
    return answer.status_code


@pytest.mark.anyio
async def test_injected_throttling_answers_429_with_retry_after_then_recovers(
    fno: FnoEmulator,
) -> None:
    """Two injected 429s carry Retry-After; a 503 follows; then requests are served again."""
    assert await _admin(fno, "faults", {"throttle": 2, "retry_after_s": 3}) == 204
    assert await _admin(fno, "faults", {"fail": 1, "status": 503}) == 204
    async with odata(fno) as client:
        first, second, third, fourth = [await client.get("LegalEntities") for _ in range(4)]
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "3" and inner_error(first)[0]
    assert third.status_code == 503 and fourth.status_code == 200


@pytest.mark.anyio
async def test_admin_routes_need_the_admin_key_and_a_valid_body(fno: FnoEmulator) -> None:
    """A wrong key is 401 and injects nothing; an unknown field is a 400."""
    assert await _admin(fno, "faults", {"throttle": 1}, key="wrong") == 401
    assert await _admin(fno, "faults", {"throttel": 1}) == 400
    async with odata(fno) as client:
        assert (await client.get("LegalEntities")).status_code == 200


@pytest.mark.anyio
async def test_expire_tokens_through_the_admin_route(fno: FnoEmulator) -> None:
    """After expire-tokens the client's token gets 401 with WWW-Authenticate."""
    async with odata(fno) as client:
        assert (await client.get("LegalEntities")).status_code == 200
        assert await _admin(fno, "expire-tokens", {}) == 204
        answer = await client.get("LegalEntities")
    assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers

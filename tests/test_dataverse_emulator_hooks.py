"""The emulator's test hooks over HTTPS (``/_emulator/``) and its reads by many keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dataverse_client import api, company, tls
from emulators.dataverse import DataverseEmulator
from emulators.dataverse.query import alternatives


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[DataverseEmulator]:
    async with DataverseEmulator(tmp_path) as emulator:
        yield emulator


def admin(crm: DataverseEmulator, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {crm.admin_key if key is None else key}"}
    return httpx.AsyncClient(base_url=crm.url, headers=headers, verify=tls(crm))


@pytest.mark.anyio
async def test_the_hooks_refuse_a_caller_without_the_admin_key(crm: DataverseEmulator) -> None:
    """Without the admin key (a client secret is not it) every hook answers 401."""
    async with admin(crm, crm.client_secret) as client:
        assert (await client.post("/_emulator/faults", json={"fail": 1})).status_code == 401
        assert (await client.get("/_emulator/requests")).status_code == 401
    async with api(crm) as client:
        assert (await client.get("accounts")).status_code == 200  # nothing was injected


@pytest.mark.anyio
async def test_injected_faults_answer_the_next_requests(crm: DataverseEmulator) -> None:
    """A throttle answers 429 with its Retry-After, a failure its 5xx, then all is well."""
    async with admin(crm) as hooks, api(crm, user=True) as client:
        answer = await hooks.post("/_emulator/faults", json={"throttle": 1, "retry_after_s": 3})
        assert answer.status_code == 204
        await hooks.post("/_emulator/faults", json={"fail": 1, "status": 502})
        throttled, failed, fine = [await client.get("accounts") for _ in range(3)]
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
        assert failed.status_code == 502 and fine.status_code == 200
        wrong = await hooks.post("/_emulator/faults", json={"throttle": "many"})
        assert wrong.status_code == 400


@pytest.mark.anyio
async def test_the_request_log_and_token_expiry_are_reachable(crm: DataverseEmulator) -> None:
    """The log counts API requests by kind (not the hooks); expired tokens answer 401."""
    async with admin(crm) as hooks, api(crm) as client:
        await client.get("accounts")
        await client.patch("accounts(00000000-0000-0000-0000-000000000001)", json={"name": "x"})
        counts = (await hooks.get("/_emulator/requests")).json()["counts"]
        assert ["GET", "read", 1] in counts and ["PATCH", "write", 1] in counts
        assert (await hooks.post("/_emulator/expire-tokens")).status_code == 204
        assert (await client.get("accounts")).status_code == 401


@pytest.mark.anyio
async def test_a_read_by_an_or_of_keys_finds_each_row_once(crm: DataverseEmulator) -> None:
    """An OR of alternate keys, AND-ed with a filter, answers exactly the matching rows."""
    usmf = company(crm)
    async with api(crm) as client:
        for n in range(6):
            body = {
                "msdyn_company@odata.bind": f"/cdm_companies({usmf})",
                "accountnumber": f"K{n}",
                "name": f"n{n % 2}",
            }
            assert (await client.post("accounts", json=body)).status_code == 204
        keys = " or ".join(
            f"(_msdyn_company_value eq {usmf} and accountnumber eq 'K{n}')" for n in (0, 1, 2, 9)
        )
        answer = await client.get(
            "accounts", params={"$filter": f"({keys}) and name eq 'n0'", "$select": "accountnumber"}
        )
        assert sorted(r["accountnumber"] for r in answer.json()["value"]) == ["K0", "K2"]


def test_alternatives_bound_the_rows_a_filter_can_match() -> None:
    """Each alternative pins what its branch must equal; a branch pinning nothing gives None."""
    found = alternatives("(a eq 1 and b eq 'x') or (a eq 2 and b eq 'y')", str)
    assert found == [{"a": [1], "b": ["x"]}, {"a": [2], "b": ["y"]}]
    assert alternatives("((a eq 1) or a eq 2) and c gt 3", str) == [{"a": [1]}, {"a": [2]}]
    assert alternatives("a eq 1 or contains(b,'x')", str) is None
    assert alternatives("not (a eq 1)", str) is None

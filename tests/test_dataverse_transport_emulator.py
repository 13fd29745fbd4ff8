"""The Dataverse transport against the Dataverse emulator: sign-in, $batch, throttling, 5xx, 401."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from adapters.dataverse.errors import CONCURRENCY_MISMATCH, DUPLICATE_KEY, THROTTLED_REQUESTS
from adapters.dataverse.options import Options
from adapters.dataverse.transport import Backoff, Part, Transport
from emulators.dataverse import DataverseEmulator
from replicator.errors import PermanentError

SECRET_ENV = "DATAVERSE_EMULATOR_SECRET"
FAST = Backoff(first_s=0.001, most_s=0.01, attempts=3)


@pytest.fixture
async def crm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DataverseEmulator]:
    """A running emulator, its application's secret in the environment."""
    async with DataverseEmulator(tmp_path) as emulator:
        monkeypatch.setenv(SECRET_ENV, emulator.client_secret)
        yield emulator


def transport(crm: DataverseEmulator) -> Transport:
    """Side crm's transport to the emulator."""
    options = Options(
        url=crm.url,
        tenant_id=crm.tenant_id,
        client_id=crm.client_id,
        client_secret_env=SECRET_ENV,
        authority=crm.authority,
        ca_file=str(crm.ca_file),
    )
    return Transport("crm", options, Path("."), backoff=FAST)


def company(code: str) -> Part:
    return Part(
        method="POST",
        url="cdm_companies",
        json={"cdm_companycode": code, "cdm_name": code},
        headers={"Prefer": "return=representation"},
    )


@pytest.mark.anyio
async def test_sign_in_and_whoami(crm: DataverseEmulator) -> None:
    """open() gets a token from the emulator's Entra ID and learns the application user."""
    side = transport(crm)
    await side.open()
    user = await side.whoami()
    await side.aclose()
    assert user == crm.systemuser_id.lower()


@pytest.mark.anyio
async def test_a_batch_answers_each_part_even_a_failed_change_set(crm: DataverseEmulator) -> None:
    """A create, a duplicate key, a stale If-Match and a read: one reply each, in order."""
    side = transport(crm)
    await side.open()
    created = await side.batch([company("zz1"), company("zz2")])
    assert [r.status for r in created] == [201, 201]
    guid = created[0].body["cdm_companyid"]
    stale = Part(
        method="PATCH",
        url=f"cdm_companies({guid})",
        json={"cdm_name": "renamed"},
        headers={"If-Match": 'W/"1"'},
    )
    read = Part(method="GET", url="cdm_companies?$select=cdm_companycode")
    replies = await side.batch([company("zz3"), company("zz1"), stale, read])
    await side.aclose()
    assert [r.status for r in replies] == [201, 412, 412, 200]
    errors = [r.error() for r in replies]
    assert errors[0] is None
    assert errors[1] is not None and errors[1].code == DUPLICATE_KEY
    assert errors[2] is not None and errors[2].code == CONCURRENCY_MISMATCH
    assert replies[3].status == 200
    codes = {row["cdm_companycode"] for row in replies[3].body["value"]}
    assert {"zz1", "zz2", "zz3"} <= codes


@pytest.mark.anyio
async def test_throttling_and_5xx_are_handled_inside(crm: DataverseEmulator) -> None:
    """Injected 429s and 503s never reach the caller; the side slows down after the 429."""
    side = transport(crm)
    await side.open()
    before = side.in_flight
    crm.protection.throttle(2, retry_after_s=0.01, code=THROTTLED_REQUESTS)
    assert (await side.get("cdm_companies")).status == 200
    crm.protection.fail(2, status=503)
    assert (await side.get("cdm_companies")).status == 200
    await side.aclose()
    assert side.in_flight < before


@pytest.mark.anyio
async def test_expired_tokens_are_renewed(crm: DataverseEmulator) -> None:
    """After the emulator expires every token, the next request signs in again and succeeds."""
    side = transport(crm)
    await side.open()
    crm.expire_tokens()
    assert (await side.get("cdm_companies")).status == 200
    await side.aclose()


@pytest.mark.anyio
async def test_a_wrong_tenant_is_refused(crm: DataverseEmulator) -> None:
    """An unknown tenant fails open() with Entra's AADSTS90002."""
    options = msgspec.structs.replace(transport(crm).options, tenant_id="nobody.example")
    with pytest.raises(PermanentError, match="AADSTS90002"):
        await Transport("crm", options, Path("."), backoff=FAST).open()

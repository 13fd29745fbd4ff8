"""The F&O side's transport over real HTTPS with msal: the shared remote transport at
``<url>/data/``, its token refreshed once after a 401, its 429s waited out (logged ``fno_…``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dataverse_fake import CLIENT_ID, SECRET, SECRET_ENV, TENANT, FakeDataverse, Pki, make_ca
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from structlog.testing import capture_logs

from adapters.fno.options import Options
from adapters.fno.transport import Transport
from replicator.backoff import Backoff
from replicator.errors import PermanentError

FAST = Backoff(first_s=0.001, most_s=0.01, attempts=3)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_ca(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture
async def fake(pki: Pki) -> AsyncIterator[FakeDataverse]:
    async with FakeDataverse(pki) as server:
        yield server


def transport(fake: FakeDataverse) -> Transport:
    options = Options(
        url=fake.url,
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret_env=SECRET_ENV,
        authority=fake.url,
        ca_file=str(fake.pki.ca_file),
    )
    return Transport("fno", options, Path("."), backoff=FAST)


@pytest.mark.anyio
async def test_open_signs_in_at_the_data_root_and_a_refused_token_is_renewed_once(
    fake: FakeDataverse,
) -> None:
    side = transport(fake)
    assert side.api == f"{fake.url}/data/"
    with capture_logs() as logs:
        await side.open()
        assert fake.requests[-1].url.path == "/data/"
        fake.revoke_tokens()  # the token expired: the next call gets 401, then a new token
        reply = await side.get("CustomersV3", params={"cross-company": "true"})
    await side.aclose()
    assert reply.status == 200 and fake.tokens_issued == 2
    assert [e["event"] for e in logs].count("fno_token_acquired") == 2
    assert SECRET not in repr(logs) and SECRET not in repr(side)


@pytest.mark.anyio
async def test_a_429_is_waited_out_for_its_retry_after(fake: FakeDataverse) -> None:
    calls: list[str] = []

    async def answer(request: Request) -> Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            error = {"error": {"code": "", "message": "Too many requests"}}
            return JSONResponse(error, 429, headers={"Retry-After": "0.05"})
        return JSONResponse({"value": [{"CustomerAccount": "US-001"}]})

    side = transport(fake)
    await side.open()
    fake.answer = answer
    with capture_logs() as logs:
        reply = await side.get("CustomersV3")
    await side.aclose()
    assert reply.status == 200 and len(calls) == 2
    [throttled] = [e for e in logs if e["event"] == "fno_throttled"]
    assert throttled["wait_s"] == 0.05 and throttled["side"] == "fno"


@pytest.mark.anyio
async def test_a_token_still_refused_after_renewal_names_the_f_and_o_environment(
    fake: FakeDataverse,
) -> None:
    side = transport(fake)
    await side.open()

    async def refuse(request: Request) -> Response:
        return JSONResponse({"error": {"code": "", "message": "Unauthorized"}}, 401)

    fake.answer = refuse
    with pytest.raises(PermanentError, match="the F&O environment refused the application's token"):
        await side.get("CustomersV3")
    await side.aclose()

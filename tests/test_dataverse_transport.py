"""The Dataverse transport over real HTTPS: retries, throttling, budget, concurrency, TLS."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from dataverse_fake import (
    SECRET,
    SECRET_ENV,
    USER_ID,
    FakeDataverse,
    Handler,
    Pki,
    make_ca,
    options_for,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from structlog.testing import capture_logs

from adapters.dataverse.errors import PLUGIN_FAILED, THROTTLED_CONCURRENCY
from adapters.dataverse.transport import Backoff, Budget, Transport
from replicator.errors import PermanentError, TransientError

FAST = Backoff(first_s=0.001, most_s=0.01, attempts=3)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and the fake server's certificate."""
    return make_ca(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The application's secret, where the options say it is."""
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture
async def fake(pki: Pki) -> AsyncIterator[FakeDataverse]:
    """Entra ID and the Web API on one HTTPS port."""
    async with FakeDataverse(pki) as server:
        yield server


def transport(fake: FakeDataverse, *, budget: Budget | None = None, **options: Any) -> Transport:
    """Side crm's transport to ``fake``, retrying fast."""
    return Transport("crm", options_for(fake, **options), Path("."), backoff=FAST, budget=budget)


def answers(*responses: Response) -> Handler:
    """A handler giving ``responses`` in turn, then 200 with an empty page."""
    pending = list(responses)

    async def answer(request: Request) -> Response:
        return pending.pop(0) if pending else JSONResponse({"value": []})

    return answer


def throttled(retry_after: str = "0.01") -> Response:
    body = {"error": {"code": THROTTLED_CONCURRENCY, "message": "Number of concurrent requests"}}
    return JSONResponse(body, 429, headers={"Retry-After": retry_after})


@pytest.mark.anyio
async def test_requests_carry_the_odata_headers_and_the_token(fake: FakeDataverse) -> None:
    """A relative URL goes to the Web API root, query encoded, with OData headers and the token."""
    side = transport(fake)
    await side.open()
    params = {"$select": "name,accountid", "$filter": "name eq 'A&B'"}
    reply = await side.get("accounts", params=params)
    await side.aclose()
    request = fake.requests[-1]
    assert reply.status == 200 and reply.body == {"value": []}
    assert request.url.path == "/api/data/v9.2/accounts"
    assert request.url.query == "$select=name,accountid&$filter=name%20eq%20'A%26B'"
    assert request.headers["odata-version"] == "4.0"
    assert request.headers["odata-maxversion"] == "4.0"
    assert request.headers["accept"] == "application/json"
    assert request.headers["authorization"] == "Bearer token-1"


@pytest.mark.anyio
async def test_open_learns_the_application_user(fake: FakeDataverse) -> None:
    """open() signs in and asks WhoAmI once; whoami() answers the user's id, lower-case."""
    side = transport(fake)
    await side.open()
    assert await side.whoami() == USER_ID.lower()
    assert await side.whoami() == USER_ID.lower()
    await side.aclose()
    assert [r.url.path for r in fake.requests] == ["/api/data/v9.2/WhoAmI"]


@pytest.mark.anyio
async def test_send_encodes_json_and_returns_errors(fake: FakeDataverse) -> None:
    """send() posts JSON (a Decimal as a number) and returns a non-2xx answer with its error."""
    fake.answer = answers(
        JSONResponse({"error": {"code": "0x80060892", "message": "duplicate key"}}, 412)
    )
    side = transport(fake)
    await side.open()
    reply = await side.send("POST", "accounts", json={"creditlimit": Decimal("12.3400")})
    await side.aclose()
    assert fake.bodies[-1] == b'{"creditlimit":12.3400}'
    assert fake.requests[-1].headers["content-type"] == "application/json"
    error = reply.error()
    assert reply.status == 412 and error is not None and error.code == "0x80060892"


@pytest.mark.anyio
async def test_a_refused_token_is_renewed_once(fake: FakeDataverse) -> None:
    """A 401 gets one fresh token and the request again; the caller sees only the answer."""
    side = transport(fake)
    await side.open()
    fake.revoke_tokens()
    reply = await side.get("accounts")
    await side.aclose()
    assert reply.status == 200
    assert fake.tokens_issued == 2
    assert fake.requests[-1].headers["authorization"] == "Bearer token-2"


@pytest.mark.anyio
async def test_a_token_refused_twice_is_a_permanent_error(fake: FakeDataverse) -> None:
    """A token refused again after a refresh is a PermanentError saying so, without secrets."""
    side = transport(fake)
    await side.open()
    refused = JSONResponse({"error": {"code": "0x80040220", "message": "no user"}}, 401)
    fake.answer = answers(refused, refused)
    with pytest.raises(PermanentError, match="refused the application's token") as caught:
        await side.get("accounts")
    await side.aclose()
    assert fake.tokens_issued == 2
    assert "side crm" in str(caught.value) and "0x80040220" in str(caught.value)
    assert SECRET not in str(caught.value) and "token-" not in str(caught.value)


@pytest.mark.anyio
async def test_forbidden_is_a_permanent_error_with_the_server_message(fake: FakeDataverse) -> None:
    """A 403 is a PermanentError quoting the server (a missing security role)."""
    body = {"error": {"code": "0x80040220", "message": "missing prvReadAccount privilege"}}
    fake.answer = answers(JSONResponse(body, 403))
    side = transport(fake)
    await side.open()
    with pytest.raises(PermanentError, match="missing prvReadAccount privilege"):
        await side.get("accounts")
    await side.aclose()


@pytest.mark.anyio
async def test_429_is_waited_out_and_halves_concurrency(fake: FakeDataverse) -> None:
    """A 429 is waited out for its Retry-After and retried; the side's concurrency halves."""
    fake.answer = answers(throttled("0.02"))
    side = transport(fake, max_in_flight=8)
    await side.open()
    with capture_logs() as logs:
        reply = await side.get("accounts")
    await side.aclose()
    assert reply.status == 200
    assert side.in_flight == 4
    events = [e for e in logs if e["event"] == "dataverse_throttled"]
    assert events == [
        {
            "event": "dataverse_throttled",
            "log_level": "warning",
            "side": "crm",
            "wait_s": 0.02,
            "code": THROTTLED_CONCURRENCY,
            "in_flight": 4,
        }
    ]


@pytest.mark.anyio
async def test_throttling_is_never_given_up(fake: FakeDataverse) -> None:
    """More 429s in a row than the retry attempts still end in the answer, not an error."""
    fake.answer = answers(*[throttled() for _ in range(6)])
    side = transport(fake)
    await side.open()
    with capture_logs() as logs:
        reply = await side.get("accounts")
    await side.aclose()
    assert reply.status == 200
    assert len(fake.requests) == 1 + 7
    throttles = [e["in_flight"] for e in logs if e["event"] == "dataverse_throttled"]
    assert throttles == [4, 2, 1, 1, 1, 1]


@pytest.mark.anyio
async def test_concurrency_grows_back_after_throttling(fake: FakeDataverse) -> None:
    """After a 429, successes raise the concurrency again, up to max_in_flight."""
    fake.answer = answers(throttled())
    side = transport(fake, max_in_flight=4)
    await side.open()
    await side.get("accounts")
    assert side.in_flight == 2
    for _ in range(8):
        await side.get("accounts")
    await side.aclose()
    assert side.in_flight == 4


@pytest.mark.anyio
async def test_5xx_is_retried_then_a_transient_error(fake: FakeDataverse) -> None:
    """503s are retried with backoff; after the last attempt a TransientError names side and URL."""
    fake.answer = answers(*[Response("busy", 503) for _ in range(3)])
    side = transport(fake)
    await side.open()
    with pytest.raises(TransientError) as caught:
        await side.get("accounts")
    await side.aclose()
    message = str(caught.value)
    assert message.startswith("side crm: GET https://127.0.0.1:")
    assert "/api/data/v9.2/accounts failed 3 times: HTTP 503: busy" in message
    assert len(fake.requests) == 1 + 3


@pytest.mark.anyio
async def test_a_passing_5xx_is_not_seen(fake: FakeDataverse) -> None:
    """A 502 then a 200: the caller gets the 200."""
    fake.answer = answers(Response("", 502))
    side = transport(fake)
    await side.open()
    reply = await side.get("accounts")
    await side.aclose()
    assert reply.status == 200 and len(fake.requests) == 1 + 2


@pytest.mark.anyio
async def test_a_500_with_a_dataverse_code_is_returned(fake: FakeDataverse) -> None:
    """A 500 carrying a Dataverse error code (a plug-in failed) is an answer, not retried."""
    body = {"error": {"code": PLUGIN_FAILED, "message": "plug-in said no"}}
    fake.answer = answers(JSONResponse(body, 500))
    side = transport(fake)
    await side.open()
    reply = await side.get("accounts")
    await side.aclose()
    error = reply.error()
    assert error is not None and (error.status, error.code) == (500, PLUGIN_FAILED)
    assert len(fake.requests) == 1 + 1


@pytest.mark.anyio
async def test_the_request_budget_is_waited_for(fake: FakeDataverse) -> None:
    """At the budget's limit the next request waits for the window to move, then goes."""
    side = transport(fake, budget=Budget(requests=2, window_s=0.05))
    await side.open()  # WhoAmI: the first request of the window
    with capture_logs() as logs:
        for _ in range(2):
            assert (await side.get("accounts")).status == 200
    await side.aclose()
    waits = [e for e in logs if e["event"] == "dataverse_budget_wait"]
    assert len(waits) == 1 and waits[0]["limit"] == 2 and waits[0]["side"] == "crm"
    assert len(fake.requests) == 3


@pytest.mark.anyio
async def test_dop_hint_is_followed(fake: FakeDataverse) -> None:
    """x-ms-dop-hint lowers the concurrency: no more requests at once than the server says."""

    async def slow(request: Request) -> Response:
        await anyio.wait_all_tasks_blocked()  # every request the client lets out is here
        return JSONResponse({"value": []})

    fake.answer = slow
    fake.headers = {"x-ms-dop-hint": "2"}
    side = transport(fake, max_in_flight=8)
    await side.open()
    fake.most_active = 0
    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(side.get, "accounts")
    await side.aclose()
    assert side.in_flight == 2
    assert fake.most_active == 2


@pytest.mark.anyio
async def test_a_link_to_another_host_is_refused(fake: FakeDataverse) -> None:
    """An absolute URL (a nextLink) must be on the environment's host."""
    side = transport(fake)
    await side.open()
    with pytest.raises(PermanentError, match="another host: https://evil.example"):
        await side.get("https://evil.example/api/data/v9.2/accounts")
    reply = await side.get(f"{fake.url}/api/data/v9.2/accounts?$skiptoken=x")
    await side.aclose()
    assert reply.status == 200


@pytest.mark.anyio
async def test_an_unknown_ca_is_refused(fake: FakeDataverse, tmp_path: Path) -> None:
    """TLS is verified: a Web API whose CA is not trusted fails open() naming ca_file."""
    async with FakeDataverse(make_ca(tmp_path / "other")) as other:
        side = Transport("crm", options_for(fake, url=other.url), Path("."), backoff=FAST)
        with pytest.raises(PermanentError, match="not trusted .*set ca_file") as caught:
            await side.open()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert other.requests == []


@pytest.mark.anyio
async def test_an_unreachable_environment_fails_open(fake: FakeDataverse) -> None:
    """A URL nothing listens on fails open() at once with a TransientError naming it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    side = Transport("crm", options_for(fake, url=url), Path("."), backoff=FAST)
    with pytest.raises(TransientError, match=f"side crm: GET {url}/api/data/v9.2/WhoAmI failed 1"):
        await side.open()


@pytest.mark.anyio
async def test_a_timeout_is_retried_then_transient(fake: FakeDataverse) -> None:
    """A server slower than timeout_s: each try times out, then a TransientError says so."""
    release = anyio.Event()

    async def stuck(request: Request) -> Response:
        await release.wait()
        return JSONResponse({"value": []})

    side = transport(fake, timeout_s=0.2)
    await side.open()
    fake.answer = stuck
    with pytest.raises(TransientError, match="accounts failed 3 times: ReadTimeout"):
        await side.get("accounts")
    release.set()
    await side.aclose()
    assert len(fake.requests) == 1 + 3

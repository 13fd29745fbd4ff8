"""The HTTP endpoint of a running engine: ``/api``, the token, the console login, CSRF,
``/healthz`` and a hung client, over real HTTP on loopback (memory sides, in process)."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from conftest import until, write_config
from http_endpoint import (
    CRM,
    FNO,
    MAPS,
    OPEN_HTTP,
    TOKEN,
    TOKEN_ENV,
    TOKEN_HTTP,
    customer,
    served,
    sides,
)
from replicator.engine import Replicator
from replicator.http.auth import SESSION_COOKIE, check_csrf, csrf_token, read_form

pytestmark = pytest.mark.anyio
TIMEOUT_S = 10.0
BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def token_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return write_config(tmp_path, TOKEN_HTTP + MAPS)


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(TIMEOUT_S):
        await rep.wait_idle()


async def test_api_answers_what_the_cli_does(token_config: Path) -> None:
    """With the token, /api gives status, maps and errors, and pause, retry and discard act."""
    fno, crm = sides()
    async with Replicator(token_config, sides={"fno": fno, "crm": crm}) as rep:
        crm.fail_writes(1, "permanent")
        fno.insert(FNO, customer("C1"))
        await idle(rep)
        async with served(rep, headers=BEARER) as http:
            status = (await http.get("/api/status")).json()
            assert status["daemon"] == "running"
            assert [(m["map"], m["errors"]) for m in status["maps"]] == [("customers", 1)]
            fields = (await http.get("/api/maps")).json()[0]["fields"]
            assert [(f["names"], f["arrow"]) for f in fields][0] == (
                {"fno": "Name", "crm": "name"},
                "=",
            )
            (entry,) = (await http.get("/api/errors", params={"side": "fno"})).json()
            assert entry["key"] == ["usmf", "C1"] and entry["map"] == "customers"
            assert (await http.get("/api/errors", params={"side": "crm"})).json() == []
            retried = await http.post("/api/errors/retry", json={"ids": [entry["id"]]})
            assert retried.json() == {"queued": 1}
            await idle(rep)
            assert [v["accountnumber"] for v in crm.rows(CRM).values()] == ["C1"]
            paused = await http.post("/api/maps/customers/pause")
            assert paused.json() == {"map": "customers", "paused": True}
            states = (await http.get("/api/status")).json()["maps"]
            assert [m["state"] for m in states] == ["paused"]


async def test_api_names_what_is_wrong(token_config: Path) -> None:
    """An unknown map or a malformed body gets 400 with the message the CLI would print."""
    fno, crm = sides()
    async with Replicator(token_config, sides={"fno": fno, "crm": crm}) as rep:
        async with served(rep, headers=BEARER) as http:
            unknown = await http.post("/api/maps/nosuch/pause")
            assert unknown.status_code == 400
            assert unknown.json()["problems"] == ["replicator.toml: no map named 'nosuch'"]
            bad = await http.post("/api/errors/discard", json={"ids": "all"})
            assert bad.status_code == 400 and "ids" in bad.json()["error"]
            assert (await http.post("/api/errors/discard", json={"ids": None})).status_code == 400


async def test_refused_requests_change_nothing(token_config: Path) -> None:
    """Without the token (or with a wrong one) every path but /healthz and /hooks is 401,
    and a refused pause or discard leaves the map running and the error queued."""
    fno, crm = sides()
    async with Replicator(token_config, sides={"fno": fno, "crm": crm}) as rep:
        crm.fail_writes(1, "permanent")
        fno.insert(FNO, customer("C1"))
        await idle(rep)
        async with served(rep) as http:
            wrong = {"authorization": "Bearer not-the-token"}
            for headers in ({}, wrong, {"authorization": TOKEN}):
                for method, path, body in [
                    ("POST", "/api/maps/customers/pause", None),
                    ("POST", "/api/errors/discard", {"ids": [1]}),
                    ("POST", "/api/errors/retry", {"ids": None}),
                    ("GET", "/api/status", None),
                    ("GET", "/metrics", None),
                ]:
                    reply = await http.request(method, path, json=body, headers=headers)
                    assert reply.status_code == 401, (method, path, headers)
                    assert TOKEN not in reply.text
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            status = (await http.get("/api/status", headers=BEARER)).json()
        assert [(m["state"], m["errors"]) for m in status["maps"]] == [("running", 1)]
        assert len(await rep.ctx.store.errors()) == 1


async def test_console_login_sets_a_strict_cookie(token_config: Path) -> None:
    """A browser is sent to the login form; the right token there sets an HttpOnly,
    SameSite=Strict session cookie (not the token) that opens the API; a wrong one 401."""
    fno, crm = sides()
    async with Replicator(token_config, sides={"fno": fno, "crm": crm}) as rep:
        async with served(rep) as http:
            page = await http.get("/maps?x=1")
            assert page.status_code == 303
            assert page.headers["location"] == "/login?next=%2Fmaps%3Fx%3D1"
            form = await http.get("/login", params={"next": "/maps"})
            assert 'name="token"' in form.text and 'value="/maps"' in form.text
            wrong = await http.post("/login", data={"token": "nope", "next": "/maps"})
            assert wrong.status_code == 401 and SESSION_COOKIE not in wrong.headers.get(
                "set-cookie", ""
            )
            right = await http.post("/login", data={"token": TOKEN, "next": "//evil.example"})
            assert right.status_code == 303 and right.headers["location"] == "/"
            cookie = right.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
            assert (await http.get("/api/status")).status_code == 200  # the cookie jar's


async def test_console_forms_need_their_csrf_token(token_config: Path) -> None:
    """A form posted without the csrf token of its page is refused (403) and not run."""
    fno, crm = sides()
    done: list[str] = []

    async def page(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(f'<input name="csrf" value="{csrf_token(request)}">')
        form = await read_form(request)
        check_csrf(request, form)
        done.append(form["what"])
        return PlainTextResponse("done")

    async with Replicator(token_config, sides={"fno": fno, "crm": crm}) as rep:
        app = rep.asgi_app(extra=[Route("/form", page, methods=["GET", "POST"])])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            await http.post("/login", data={"token": TOKEN})
            token = (await http.get("/form")).text.split('value="')[1].split('"')[0]
            forged = await http.post("/form", data={"what": "forged", "csrf": "x"})
            assert forged.status_code == 403
            assert (await http.post("/form", data={"what": "real", "csrf": token})).text == "done"
    assert done == ["real"]


async def test_without_a_token_only_this_machine_is_answered(tmp_path: Path) -> None:
    """On loopback without a token the API is open, but a Host of another name (a page
    rebinding its DNS to 127.0.0.1) is refused."""
    fno, crm = sides()
    async with Replicator(
        write_config(tmp_path, OPEN_HTTP + MAPS), sides={"fno": fno, "crm": crm}
    ) as rep:
        async with served(rep) as http:
            assert (await http.get("/api/status")).status_code == 200
            foreign = await http.get("/api/status", headers={"host": "evil.example"})
            assert foreign.status_code == 400


async def test_healthz_turns_503_past_the_grace_and_back(tmp_path: Path) -> None:
    """/healthz is 503 naming the side while it is down past [http] down_grace_s, then 200."""
    fno, crm = sides()
    async with Replicator(
        write_config(tmp_path, OPEN_HTTP + MAPS), sides={"fno": fno, "crm": crm}
    ) as rep:
        async with served(rep) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            fno.down = True
            fno.insert(FNO, customer("C1"))  # wakes the intake, which finds the side down
            await until(lambda: health_code(http, 503))
            reply = (await http.get("/healthz")).json()
            assert reply["status"] == "down" and "side 'fno' unreachable" in reply["reason"]
            fno.down = False
            await until(lambda: health_code(http, 200))
            await idle(rep)
            assert [v["accountnumber"] for v in crm.rows(CRM).values()] == ["C1"]


async def health_code(http: httpx.AsyncClient, code: int) -> bool:
    return (await http.get("/healthz")).status_code == code


async def test_a_hung_request_does_not_delay_replication(token_config: Path) -> None:
    """A client that sends half a request and stays silent holds nothing: changes keep
    replicating meanwhile, and the request still completes when the client finishes it."""
    fno, crm = sides()
    async with Replicator(token_config, sides={"fno": fno, "crm": crm}) as rep:
        async with served(rep) as http:
            port = http.base_url.port
            assert port is not None
            body = b'{"ids": [12345]}'
            head = (
                "POST /api/errors/retry HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            async with await anyio.connect_tcp("127.0.0.1", port) as hung:
                await hung.send(head + body[:5])  # and nothing more, for now
                for i in range(20):
                    fno.insert(FNO, customer(f"C{i}"))
                    await idle(rep)
                assert len(crm.rows(CRM)) == 20
                status = (await http.get("/api/status", headers=BEARER)).json()
                assert status["maps"][0]["links"] == 20
                await hung.send(body[5:])
                with anyio.fail_after(TIMEOUT_S):
                    answer = await receive_all(hung)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"queued":0}')


async def receive_all(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    try:
        while True:
            data += await stream.receive()
    except anyio.EndOfStream:
        return data


async def test_a_handler_bug_is_logged_and_answered_500(tmp_path: Path) -> None:
    """An unexpected error in a route is logged with the path (not the query) and gets 500."""
    fno, crm = sides()

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    config = write_config(tmp_path, OPEN_HTTP + MAPS)
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        app = rep.asgi_app(extra=[Route("/boom", boom)])
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            with structlog.testing.capture_logs() as logs:
                reply = await http.get("/boom", params={"code": "secret-key"})
    assert reply.status_code == 500 and "a bug" not in reply.text
    (failed,) = [e for e in logs if e["event"] == "http_request_failed"]
    assert failed["path"] == "/boom" and "secret-key" not in str(failed)

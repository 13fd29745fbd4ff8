"""The endpoint over TLS (``[http] tls_cert``/``tls_key``): served as https, its login
cookie marked Secure, and the CLI's way to it trusting the endpoint's own certificate."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import write_config
from emulators._tls import make_tls
from http_endpoint import MAPS, TOKEN, TOKEN_ENV, served, sides
from replicator.engine import Replicator
from replicator.http.client import RemoteOperations, operations_for
from replicator.http.server import client_gone

pytestmark = pytest.mark.anyio


@pytest.fixture
async def rep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Replicator]:
    """An engine whose ``[http]`` has a certificate (signed by a throw-away CA) and a key."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    tls = make_tls(tmp_path / "tls")
    http = (
        f'[http]\nlisten = "127.0.0.1:0"\ntoken_env = "{TOKEN_ENV}"\n'
        f'tls_cert = "{tls.cert_file}"\ntls_key = "{tls.key_file}"\n\n'
    )
    fno, crm = sides()
    config = write_config(tmp_path, http + MAPS)
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as running:
        yield running


async def test_the_endpoint_serves_https_with_a_secure_cookie(rep: Replicator) -> None:
    """https only, and the session cookie is Secure as well as HttpOnly and SameSite."""
    async with served(rep, verify=trust(rep)) as http:
        assert http.base_url.scheme == "https"
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        login = await http.post("/login", data={"token": TOKEN})
        assert "Secure" in login.headers["set-cookie"]


async def test_the_cli_reaches_a_tls_endpoint_trusting_its_certificate(rep: Replicator) -> None:
    """``status`` and friends find the daemon's https endpoint and trust its certificate
    (signed by a CA this machine does not know) without any other setting."""
    async with served(rep, verify=trust(rep)), operations_for(rep.config) as ops:
        assert isinstance(ops, RemoteOperations)
        assert str(ops.client.base_url).startswith("https://127.0.0.1:")
        status = await ops.status()
    assert status["daemon"] == "running" and status["maps"][0]["map"] == "customers"


async def test_the_cli_uses_the_store_when_the_endpoint_is_gone(rep: Replicator) -> None:
    """With the daemon's endpoint not answering, the CLI acts on the store instead."""
    async with served(rep, verify=trust(rep)):
        pass  # the endpoint advertised itself, then stopped
    async with operations_for(rep.config) as ops:
        assert not isinstance(ops, RemoteOperations)
        await ops.pause("customers")
        assert [m["state"] for m in (await ops.status())["maps"]] == ["paused"]


def trust(rep: Replicator) -> ssl.SSLContext:
    """A client context trusting the throw-away CA of the ``rep`` fixture."""
    return ssl.create_default_context(cafile=rep.config.base_dir / "tls" / "ca.pem")


def test_a_client_that_left_its_tls_session_open_is_not_reported_as_an_error() -> None:
    """asyncio reports a TLS shutdown that timed out on a connection whose client went away
    (the CLI exited): that is the connection's end, not a traceback for the operator; an
    exception of another kind, or outside a connection, is still reported."""
    left = {
        "message": "Unhandled exception in client_connected_cb",
        "exception": TimeoutError("SSL shutdown timed out"),
        "transport": object(),
    }
    assert client_gone(left, stopping=False)
    assert not client_gone({**left, "exception": ValueError("a bug")}, stopping=False)
    elsewhere = {"message": "Task exception was never retrieved", "exception": TimeoutError()}
    assert not client_gone(elsewhere, stopping=False)
    assert client_gone(elsewhere, stopping=True), "while stopping, every cut-off is the end"

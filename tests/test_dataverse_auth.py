"""Signing in to Dataverse with msal: the token kept and renewed, Entra's refusals, no secret."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dataverse_fake import (
    SECRET,
    SECRET_ENV,
    TENANT,
    FakeDataverse,
    Pki,
    client_certificate,
    make_ca,
    options_for,
)
from structlog.testing import capture_logs

from adapters.dataverse.auth import RENEW_BEFORE_S, Auth
from adapters.dataverse.transport import Backoff, Transport
from replicator.errors import AdapterError, PermanentError, TransientError

FAST = Backoff(first_s=0.001, most_s=0.01, attempts=2)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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


def transport(fake: FakeDataverse, clock: Clock | None = None, **options: Any) -> Transport:
    """Side crm's transport to ``fake``."""
    return Transport(
        "crm", options_for(fake, **options), Path("."), backoff=FAST, clock=clock or Clock()
    )


async def refusal(side: Transport, caplog: pytest.LogCaptureFixture) -> str:
    """What open() raises, after checking that no secret is in it, in a log or in a repr."""
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs, pytest.raises(AdapterError) as caught:
        await side.open()
    shown = [str(caught.value), repr(caught.value), repr(side), repr(side.options), caplog.text]
    shown += [repr(event) for event in logs]
    assert not [text for text in shown if SECRET in text]
    return str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize("lifetime_s", [60, 3600])
async def test_the_token_is_kept_then_renewed_before_expiry(pki: Pki, lifetime_s: int) -> None:
    """One token serves every request until shortly before it expires; then a new one is got."""
    clock = Clock()
    renew_after = max(lifetime_s - RENEW_BEFORE_S, lifetime_s / 2)
    async with FakeDataverse(pki, token_lifetime_s=lifetime_s) as fake:
        side = transport(fake, clock)
        await side.open()
        await side.get("accounts")
        clock.now += renew_after - 1
        await side.get("accounts")
        assert fake.tokens_issued == 1
        clock.now += 2
        await side.get("accounts")
        await side.aclose()
    assert fake.tokens_issued == 2
    assert fake.requests[-1].headers["authorization"] == "Bearer token-2"


@pytest.mark.anyio
async def test_concurrent_requests_share_one_token(fake: FakeDataverse) -> None:
    """Requests that all find no token wait for one sign-in, not one each."""
    auth = Auth("crm", options_for(fake))
    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(auth.token)
    auth.close()
    assert fake.tokens_issued == 1


@pytest.mark.anyio
async def test_a_wrong_secret_is_named_without_the_secret(
    fake: FakeDataverse, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong secret: a PermanentError naming tenant, client, authority and AADSTS7000215."""
    monkeypatch.setenv(SECRET_ENV, SECRET + "-but-wrong")
    message = await refusal(transport(fake), caplog)
    assert message.startswith(
        f"side crm: Entra ID refused a token to client {options_for(fake).client_id} "
        f"of tenant {TENANT} at {fake.url}: AADSTS7000215: Invalid client secret provided."
    )
    assert "-but-wrong" not in message and "-but-wrong" not in caplog.text


@pytest.mark.anyio
async def test_an_unknown_tenant_is_named(
    fake: FakeDataverse, caplog: pytest.LogCaptureFixture
) -> None:
    """An unknown tenant: a PermanentError quoting AADSTS90002."""
    message = await refusal(transport(fake, tenant_id="nobody.onmicrosoft.com"), caplog)
    assert "of tenant nobody.onmicrosoft.com at" in message
    assert "AADSTS90002: Tenant 'nobody.onmicrosoft.com' not found." in message


@pytest.mark.anyio
async def test_an_unknown_client_is_named(
    fake: FakeDataverse, caplog: pytest.LogCaptureFixture
) -> None:
    """An app id Entra does not know: a PermanentError quoting AADSTS700016."""
    message = await refusal(
        transport(fake, client_id="99999999-0000-0000-0000-000000000000"), caplog
    )
    assert "client 99999999-0000-0000-0000-000000000000" in message
    assert "AADSTS700016" in message


@pytest.mark.anyio
async def test_a_missing_secret_variable_is_named(
    fake: FakeDataverse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The secret's variable unset at run time: a PermanentError naming the variable."""
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(PermanentError, match=f"environment variable {SECRET_ENV} is not set"):
        await transport(fake).open()


@pytest.mark.anyio
async def test_entra_over_an_untrusted_ca_is_refused(
    fake: FakeDataverse, caplog: pytest.LogCaptureFixture
) -> None:
    """Entra ID's TLS is verified too: without ca_file the test CA is unknown, naming ca_file."""
    message = await refusal(transport(fake, ca_file=None), caplog)
    assert "TLS failed" in message and "set ca_file" in message


@pytest.mark.anyio
async def test_a_certificate_signs_in(fake: FakeDataverse, tmp_path: Path) -> None:
    """A PEM with key and certificate signs in (a client assertion with the x5t thumbprint)."""
    pem = tmp_path / "app.pem"
    fake.client_certificate = client_certificate(pem)
    side = transport(fake, client_secret_env=None, certificate=str(pem))
    await side.open()
    await side.aclose()
    assert fake.tokens_issued == 1


@pytest.mark.anyio
async def test_a_certificate_not_registered_is_refused(
    fake: FakeDataverse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another certificate than the registered one is refused, and no key shows anywhere."""
    fake.client_certificate = client_certificate(tmp_path / "registered.pem")
    pem = tmp_path / "other.pem"
    client_certificate(pem)
    side = transport(fake, client_secret_env=None, certificate=str(pem))
    message = await refusal(side, caplog)
    assert "AADSTS7000215" in message
    assert "PRIVATE KEY" not in caplog.text and "PRIVATE KEY" not in message


@pytest.mark.anyio
async def test_a_pem_without_a_key_is_named(fake: FakeDataverse, pki: Pki) -> None:
    """A certificate file without a private key: a PermanentError naming the file."""
    side = transport(fake, client_secret_env=None, certificate=str(pki.ca_file))
    with pytest.raises(PermanentError, match=f"certificate {pki.ca_file} must hold a private key"):
        await side.open()


@pytest.mark.anyio
async def test_entra_unreachable_is_transient(
    fake: FakeDataverse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An authority nothing answers on is a TransientError naming it."""
    async with FakeDataverse(make_ca(tmp_path / "gone")) as gone:
        url = gone.url
    message = await refusal(transport(fake, authority=url), caplog)
    assert message.startswith(f"side crm: cannot reach Entra ID at {url}")
    with pytest.raises(TransientError):
        await transport(fake, authority=url).open()


@pytest.mark.anyio
async def test_no_secret_or_token_is_logged(
    fake: FakeDataverse, caplog: pytest.LogCaptureFixture
) -> None:
    """Signing in, a refused token and its renewal log neither the secret nor a bearer token."""
    caplog.set_level(logging.DEBUG)
    side = transport(fake)
    with capture_logs() as logs:
        await side.open()
        fake.revoke_tokens()
        await side.get("accounts")
        await side.aclose()
    assert fake.tokens_issued == 2 and "dataverse_token_acquired" in caplog.text + repr(logs)
    shown = caplog.text + repr(logs) + repr(side)
    assert SECRET not in shown
    assert "token-1" not in shown and "token-2" not in shown


@pytest.mark.anyio
async def test_an_encrypted_key_is_named(fake: FakeDataverse, tmp_path: Path) -> None:
    """A PEM whose private key is encrypted (no passphrase option): a PermanentError naming it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    pem = tmp_path / "app.pem"
    client_certificate(tmp_path / "plain.pem")
    certificate = (tmp_path / "plain.pem").read_bytes().split(b"-----END PRIVATE KEY-----\n")[1]
    pem.write_bytes(encrypted + certificate)
    side = transport(fake, client_secret_env=None, certificate=str(pem))
    with pytest.raises(PermanentError, match="not an unencrypted private key"):
        await side.open()

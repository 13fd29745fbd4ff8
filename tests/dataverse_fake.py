"""A tiny stand-in for Entra ID and the Dataverse Web API, over real TLS, for the transport's tests.

It serves what msal asks (the OpenID configuration and the token endpoint, with Entra's error
shapes) and the Web API's root (and F&O's ``/data/`` root, for the F&O transport), where each
test decides the answers (``FakeDataverse.answer``).
Its TLS certificate is signed by a throwaway CA made with ``cryptography`` (``make_ca``); the
test trusts it through the side's ``ca_file``. Until the Dataverse emulator lands, this is the
transport's counterpart; it is no emulator (no tables, no change tracking).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs

import anyio
import jwt
import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.dataverse.options import Options

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cret-Value~of-the-app"
USER_ID = "AAAAAAAA-0000-0000-0000-000000000001"

Handler = Callable[[Request], Awaitable[Response]]


class Pki(msgspec.Struct, kw_only=True):
    """A CA's PEM file, and a server certificate and key it signed (for 127.0.0.1)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name | None, signer: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def make_ca(directory: Path) -> Pki:
    """A new CA in ``directory`` (``ca.pem``) and a server certificate for 127.0.0.1."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, server_key = _key(), _key()
    ca = (
        _certificate("replicator test CA", ca_key, None, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        _certificate("127.0.0.1", server_key, ca.subject, ca_key)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server-key.pem",
    )
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(_pem_key(server_key))
    return pki


def client_certificate(path: Path) -> x509.Certificate:
    """A self-signed client certificate and its key, both in one PEM file at ``path``."""
    key = _key()
    cert = _certificate("replicator app", key, None, key).sign(key, hashes.SHA256())
    path.write_bytes(_pem_key(key) + cert.public_bytes(serialization.Encoding.PEM))
    return cert


class FakeDataverse:
    """Entra ID and a Web API root on one HTTPS port (``async with``); see the module docstring."""

    def __init__(self, pki: Pki, *, token_lifetime_s: int = 3600) -> None:
        self.pki = pki
        self.token_lifetime_s = token_lifetime_s
        self.client_certificate: x509.Certificate | None = None
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.requests: list[Request] = []
        self.bodies: list[bytes] = []
        self.answer: Handler = _ok
        self.headers: dict[str, str] = {}
        self.active = self.most_active = 0
        self.url = ""
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> FakeDataverse:
        await self._stack.enter_async_context(self._serving())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    @contextlib.asynccontextmanager
    async def _serving(self) -> AsyncIterator[None]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.url = f"https://127.0.0.1:{sock.getsockname()[1]}"
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket
        config.certfile, config.keyfile = str(self.pki.cert_file), str(self.pki.key_file)
        config.graceful_timeout = 0.1
        config.accesslog = config.errorlog = None
        stop = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(
                partial(serve, cast(Any, self._app()), config, shutdown_trigger=stop.wait)
            )
            try:
                yield
            finally:
                stop.set()

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (401)."""
        self.valid_tokens.clear()

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery),
                Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
                Route("/api/data/v9.2/{path:path}", self._api, methods=_METHODS),
                Route("/data/{path:path}", self._api, methods=_METHODS),  # F&O's OData root
            ]
        )

    async def _discovery(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant != TENANT:
            return _entra(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        base = f"{self.url}/{tenant}"
        return JSONResponse(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
        )

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("client_id") != CLIENT_ID:
            return _entra(
                400, "unauthorized_client", "AADSTS700016: Application with identifier not found."
            )
        if not self._credential_ok(form.get("client_secret"), form.get("client_assertion")):
            return _entra(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return JSONResponse(
            {"token_type": "Bearer", "expires_in": self.token_lifetime_s, "access_token": token}
        )

    def _credential_ok(self, secret: Any, assertion: Any) -> bool:
        if self.client_certificate is None:
            return bool(secret == SECRET)
        if not isinstance(assertion, str):
            return False
        thumbprint = str(jwt.get_unverified_header(assertion).get("x5t", ""))
        expected = jwt.utils.base64url_encode(self.client_certificate.fingerprint(hashes.SHA1()))
        try:
            jwt.decode(
                assertion,
                self.client_certificate.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256"],
                options={"verify_aud": False},
            )
        except jwt.PyJWTError:
            return False
        return bool(thumbprint.rstrip("=") == expected.decode().rstrip("="))

    async def _api(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if header.removeprefix("Bearer ") not in self.valid_tokens:
            return JSONResponse(
                {"error": {"code": "0x80040220", "message": "Principal user is missing"}}, 401
            )
        self.requests.append(request)
        self.bodies.append(await request.body())
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if request.path_params["path"] == "WhoAmI":
                response: Response = JSONResponse({"UserId": USER_ID})
            else:
                response = await self.answer(request)
        finally:
            self.active -= 1
        response.headers.update(self.headers)
        return response


_METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]


async def _ok(request: Request) -> Response:
    return JSONResponse({"value": []})


def _entra(status: int, error: str, description: str) -> Response:
    return JSONResponse(
        {
            "error": error,
            "error_description": f"{description}\r\nTrace ID: 1\r\nCorrelation ID: 2",
            "error_codes": [int(description[6 : description.index(":")])],
        },
        status,
    )


SECRET_ENV = "DATAVERSE_TEST_SECRET"


def options_for(fake: FakeDataverse, **changes: Any) -> Options:
    """Options signing in to ``fake`` with the client secret (in ``SECRET_ENV``), its CA trusted."""
    options = Options(
        url=fake.url,
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret_env=SECRET_ENV,
        authority=fake.url,
        ca_file=str(fake.pki.ca_file),
    )
    return msgspec.structs.replace(options, **changes)

"""The emulators' Entra ID: OpenID configuration, the token endpoint (client credentials, with
a secret or a certificate's signed ``client_assertion``) and the bearer check of the API.

Shared by the Dataverse and the F&O emulators: ``entra_routes`` serves an ``Authority`` at
``/<tenant>/v2.0/.well-known/openid-configuration`` and ``/<tenant>/oauth2/v2.0/token``.

msal reads ``/<tenant>/v2.0/.well-known/openid-configuration`` and posts to its
``token_endpoint`` (``/<tenant>/oauth2/v2.0/token``). Errors have Entra ID's JSON shape
(error, error_description, error_codes, timestamp, trace_id, correlation_id) and its AADSTS
codes. Access tokens are opaque random strings; ``expire_all`` makes every issued one expired.
Secrets and tokens never appear in a message, a log or a repr.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class App(msgspec.Struct, frozen=True, kw_only=True):
    """An app registration: its client id, its secret or certificate, its systemuser."""

    client_id: str
    secret: str | None = msgspec.field(default=None)
    certificate_pem: bytes | None = None
    user_id: str

    def __repr__(self) -> str:  # the secret stays out of every repr
        return f"App(client_id={self.client_id!r}, user_id={self.user_id!r})"


class EntraError(Exception):
    """An error answer of the token endpoint."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{code}")
        self.status = status
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        self.body = {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {description} Trace ID: {trace}"
                f" Correlation ID: {correlation} Timestamp: {now}"
            ),
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
        }


class Authority:
    """Issues and checks the access tokens of the registered apps of one tenant."""

    def __init__(
        self,
        *,
        tenant_id: str,
        resource: str,
        apps: list[App],
        token_lifetime_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_id = tenant_id
        self.resource = resource
        self.apps = {app.client_id: app for app in apps}
        self.token_lifetime_s = token_lifetime_s
        self.clock = clock
        self._tokens: dict[str, tuple[App, float]] = {}

    def __repr__(self) -> str:
        return f"Authority(tenant_id={self.tenant_id!r}, apps={list(self.apps)!r})"

    def openid_configuration(self, authority: str, tenant: str) -> dict[str, Any]:
        """The discovery document of the tenant (EntraError for another tenant)."""
        self._check_tenant(tenant)
        root = f"{authority}/{tenant}"
        return {
            "issuer": f"{authority}/{self.tenant_id}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }

    def _check_tenant(self, tenant: str) -> None:
        if tenant != self.tenant_id:
            raise EntraError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions for the "
                "tenant.",
            )

    def issue(self, tenant: str, form: Mapping[str, str], token_endpoint: str) -> dict[str, Any]:
        """The token response to a client-credentials request (EntraError when refused)."""
        self._check_tenant(tenant)
        if form.get("grant_type") != "client_credentials":
            raise EntraError(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client_id = form.get("client_id", "")
        app = self.apps.get(client_id)
        if app is None:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You "
                "may have sent your authentication request to the wrong tenant.",
            )
        self._authenticate(app, form, token_endpoint)
        self._check_scope(form.get("scope", ""), tenant)
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (app, self.clock() + self.token_lifetime_s)
        lifetime = int(self.token_lifetime_s)
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    def _authenticate(self, app: App, form: Mapping[str, str], token_endpoint: str) -> None:
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE or app.certificate_pem is None:
                raise EntraError(
                    401, "invalid_client", 700027, "Client assertion failed signature validation."
                )
            _check_assertion(app, form["client_assertion"], token_endpoint, self.clock())
            return
        given = form.get("client_secret", "")
        if app.secret is None or not hmac.compare_digest(given.encode(), app.secret.encode()):
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                f"app '{app.client_id}'.",
            )

    def _check_scope(self, scope: str, tenant: str) -> None:
        wanted = {s for s in scope.split() if s not in ("openid", "profile", "offline_access")}
        valid = {f"{self.resource}/.default", f"{self.resource}//.default"}
        if len(wanted) != 1 or not wanted <= valid:
            raise EntraError(
                400,
                "invalid_scope",
                500011,
                f"The resource principal named {' '.join(sorted(wanted)) or '(none)'} was not "
                f"found in the tenant named {tenant}. This can happen if the application has "
                "not been installed by the administrator of the tenant or consented to by any "
                "user in the tenant. You might have sent your authentication request to the "
                "wrong tenant.",
            )

    def caller(self, authorization: str | None) -> App | None:
        """The app whose valid bearer token the header carries, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        found = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if found is None or found[1] <= self.clock():
            return None
        return found[0]

    def expire_all(self) -> None:
        """Every access token issued so far is expired."""
        self._tokens = {token: (app, 0.0) for token, (app, _) in self._tokens.items()}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _thumbprint(certificate: x509.Certificate, algorithm: hashes.HashAlgorithm) -> str:
    return base64.urlsafe_b64encode(certificate.fingerprint(algorithm)).decode().rstrip("=")


def _check_assertion(app: App, assertion: str, token_endpoint: str, now: float) -> None:
    """The assertion is a JWT signed (RS256 or PS256) by the app's registered certificate,
    naming it by thumbprint (x5t or x5t#S256), for this token endpoint and not expired."""
    refused = EntraError(
        401, "invalid_client", 700027, "Client assertion failed signature validation."
    )
    assert app.certificate_pem is not None
    certificate = x509.load_pem_x509_certificate(app.certificate_pem)
    try:
        head, body, signature = assertion.split(".")
        header, claims = json.loads(_b64(head)), json.loads(_b64(body))
    except ValueError:
        raise refused from None
    thumbprints = {str(header.get(name, "")).rstrip("=") for name in ("x5t", "x5t#S256")}
    if not thumbprints & {
        _thumbprint(certificate, hashes.SHA1()),
        _thumbprint(certificate, hashes.SHA256()),
    }:
        raise refused
    _verify(certificate, header.get("alg"), f"{head}.{body}".encode(), _b64(signature), refused)
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise refused
    if claims.get("aud") != token_endpoint:
        raise EntraError(
            401,
            "invalid_client",
            700021,
            "Client assertion audience claim does not match Realm issuer.",
        )
    if float(claims.get("exp", 0)) < now:
        raise EntraError(
            401, "invalid_client", 700024, "Client assertion is not within its valid time range."
        )


def _verify(
    certificate: x509.Certificate, alg: Any, signed: bytes, signature: bytes, refused: EntraError
) -> None:
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or alg not in ("RS256", "PS256"):
        raise refused
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if alg == "PS256":
        pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    try:
        key.verify(signature, signed, pad, hashes.SHA256())
    except InvalidSignature:
        raise refused from None


def entra_routes(
    authority: Authority, base_url: Callable[[], str], record: Callable[[str], None]
) -> list[Route]:
    """The discovery and token routes of ``authority``; ``base_url()`` is the server's URL
    (known once the port is bound), ``record(method)`` notes each call in a request log."""

    async def openid(request: Request) -> Response:
        record("GET")
        try:
            tenant = request.path_params["tenant"]
            return JSONResponse(authority.openid_configuration(base_url(), tenant))
        except EntraError as error:
            return JSONResponse(error.body, status_code=error.status)

    async def token(request: Request) -> Response:
        record("POST")
        # parsed here: Starlette's request.form() needs python-multipart
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        endpoint = f"{base_url()}{request.url.path}"
        try:
            answer = authority.issue(request.path_params["tenant"], form, endpoint)
        except EntraError as error:
            return JSONResponse(error.body, status_code=error.status)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    return [
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]

"""The application user's access token: OAuth2 client credentials with Entra ID, through msal.

Why msal rather than azure-identity: it is Microsoft's own library for Entra ID, it keeps a
token cache, it takes a certificate credential (a PEM key and certificate) as readily as a
secret, and it needs no aiohttp for async use. It is synchronous, but it is called once per
token (about once an hour), so each call runs in a worker thread
(``anyio.to_thread.run_sync``) and the event loop never waits on it.

The token is kept here and renewed on demand, before a request, once it is close to expiry
(``RENEW_BEFORE_S``), so no task of its own is needed. msal's cache holds the same token; when
this module decides to renew (or the server refused the token: ``token(refused=...)``), it
drops msal's copy first so that msal asks Entra ID for a new one.

A secret or private key never leaves this module: not in a repr (the application object is
built inside the worker thread and holds the credential; ``Auth`` shows no attribute), not in
a log, not in an error (every message is scrubbed of the secret, and names the tenant, client
id, authority and Entra's ``AADSTS`` code and description instead).
"""

from __future__ import annotations

import os
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import anyio
import anyio.to_thread
import certifi
import msal
import msal.exceptions
import requests
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from replicator.errors import AdapterError, ConfigError, PermanentError, TransientError

from .options import SignIn, secret

log = structlog.get_logger()

RENEW_BEFORE_S = 300.0
"""Renew this long before expiry (half the lifetime for a token that lives less than twice it)."""

_AADSTS = re.compile(r"AADSTS\d+:[^\r\n\"\\]*")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----\s*", re.S)
# Entra's answers that a retry may cure; any other error is a wrong registration or config.
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "request_timeout"})
_SENTENCE_END = re.compile(r"\.\s+")
# What to check when Entra refuses for a reason a side's option causes (its AADSTS codes:
# learn.microsoft.com/entra/identity-platform/reference-error-codes).
_HINTS = {
    "AADSTS7000215": "Check the secret in the environment variable {variable} "
    "(client_secret_env): the secret's value, not its id.",
    "AADSTS7000222": "The client secret has expired: create a new one and put it in {variable}.",
    "AADSTS700016": "Check client_id (the app registration's Application (client) ID) and "
    "that the app is registered in this tenant.",
    "AADSTS90002": "Check tenant_id (the Directory (tenant) ID, or a domain such as "
    "contoso.onmicrosoft.com).",
    "AADSTS900023": "Check tenant_id (the Directory (tenant) ID, or a domain such as "
    "contoso.onmicrosoft.com).",
    "AADSTS700027": "Check certificate: it must be a certificate uploaded to the app registration.",
}


class Untrusted(TransientError):
    """A TLS certificate is not trusted. Transient while the side runs (its records wait, as
    for an outage); at ``Transport.open`` it is permanent: waiting will not make it trusted."""


class Auth:
    """Gets, keeps and renews side ``side``'s access token for ``<url>/.default``.

    An adapter subclasses it to name itself: ``kind`` prefixes its log events
    (``dataverse_token_acquired``), ``url_hint`` says what ``url`` should look like when Entra
    ID does not know the resource (AADSTS500011).
    """

    kind: ClassVar[str] = "remote"
    url_hint: ClassVar[str] = "the environment URL"

    def __init__(
        self, side: str, options: SignIn, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._side = side
        self._options = options
        self._clock = clock
        self._scopes = [f"{options.url.rstrip('/')}/.default"]
        self._app: msal.ConfidentialClientApplication | None = None
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = anyio.Lock()
        # Entra ID's TLS: ca_file (a proxy's or test server's CA) or else certifi's CAs
        self._session = _Session(options.ca_file or certifi.where(), options.timeout_s)

    def __repr__(self) -> str:
        return f"Auth(side={self._side!r}, client_id={self._options.client_id!r})"

    def close(self) -> None:
        """Close the connections to Entra ID (the token is kept)."""
        self._session.close()

    async def token(self, *, refused: str | None = None) -> str:
        """A valid access token, renewed when close to expiry.

        ``refused``: the token the server just refused (401); a new one is fetched past every
        cache, unless another caller did so meanwhile.
        """
        async with self._lock:
            kept = self._token
            if kept is not None and kept != refused and self._clock() < self._renew_at:
                return kept
            result = await anyio.to_thread.run_sync(self._acquire, kept is not None)
            self._token = str(result["access_token"])
            expires_in = float(result.get("expires_in") or 0)
            self._renew_at = self._clock() + max(expires_in - RENEW_BEFORE_S, expires_in / 2)
            log.info(f"{self.kind}_token_acquired", side=self._side, expires_in_s=expires_in)
            return self._token

    def _acquire(self, renew: bool) -> dict[str, Any]:
        """msal's token call (in a worker thread), its failures translated.

        ``renew``: a token was kept and is due (or refused): drop msal's cached copy, so that
        msal fetches a new one rather than handing the same one back.
        """
        try:
            if self._app is None:
                self._app = self._application()
            if renew:
                cache = self._app.token_cache
                for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                    cache.remove_at(entry)
            result: dict[str, Any] = self._app.acquire_token_for_client(scopes=self._scopes)
        except AdapterError:
            raise
        except requests.exceptions.SSLError as exc:
            raise Untrusted(
                self._scrub(self._where("TLS failed with", exc))
                + "; if a proxy or a test server signs it with its own CA, set ca_file to that "
                "CA's PEM file"
            ) from None
        except (requests.RequestException, RuntimeError, msal.exceptions.MsalServiceError) as exc:
            raise TransientError(
                self._scrub(self._where("cannot reach", exc))
                + " (check authority and the network: a firewall, a proxy?)"
            ) from None
        except ValueError as exc:  # msal: the authority's discovery refused, a bad credential
            # msal hides the discovery's answer (Entra's AADSTS code) in the exception's context
            text = f"{exc}\n{exc.__context__ or ''}"
            raise PermanentError(self._scrub(self._refused(text))) from None
        if "access_token" not in result:
            self._failed(result)
        return result

    def _application(self) -> msal.ConfidentialClientApplication:
        options = self._options
        credential: str | dict[str, str]
        if options.certificate is not None:
            credential = self._certificate(Path(options.certificate))
        else:
            try:
                credential = secret(options)
            except ConfigError as exc:
                raise PermanentError(f"side {self._side}: {exc}") from None
        return msal.ConfidentialClientApplication(
            options.client_id,
            client_credential=credential,
            authority=f"{options.authority.rstrip('/')}/{options.tenant_id}",
            instance_discovery=False,
            http_client=self._session,
        )

    def _certificate(self, path: Path) -> dict[str, str]:
        """msal's certificate credential from a PEM file holding the private key and certificate."""
        try:
            blocks = {m[1]: m[0] for m in _PEM_BLOCK.finditer(path.read_bytes())}
        except OSError as exc:
            raise PermanentError(
                f"side {self._side}: certificate {path} cannot be read: {exc.strerror}"
            ) from None
        key = next((b for tag, b in blocks.items() if tag.endswith(b"PRIVATE KEY")), None)
        if key is None or b"CERTIFICATE" not in blocks:
            raise PermanentError(
                f"side {self._side}: certificate {path} must hold a private key (unencrypted) "
                "and a certificate, both PEM"
            )
        cert_pem = blocks[b"CERTIFICATE"]
        try:
            serialization.load_pem_private_key(key, password=None)
            cert = x509.load_pem_x509_certificate(cert_pem)
        except (TypeError, ValueError):  # an encrypted key, or blocks that do not parse
            raise PermanentError(
                f"side {self._side}: certificate {path}: not an unencrypted private key "
                "and a certificate"
            ) from None
        return {
            "private_key": key.decode(),
            "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),  # x5t, as Entra ID expects
            "public_certificate": cert_pem.decode(),
        }

    def _failed(self, result: dict[str, Any]) -> NoReturn:
        error = str(result.get("error", "unknown_error"))
        description = str(result.get("error_description", "")).splitlines()
        message = self._scrub(self._refused(f"{error}: {description[0] if description else ''}"))
        if error in _TRANSIENT_ERRORS:
            raise TransientError(message)
        raise PermanentError(message)

    def _refused(self, text: str) -> str:
        """Entra's code and first sentence (not its trace and correlation ids), and what to
        check for the codes a wrong option gives."""
        codes = _AADSTS.findall(text)
        because = codes[0].strip() if codes else text.strip()
        because = _SENTENCE_END.split(because, maxsplit=1)[0].rstrip(".") + "."
        code = because.partition(":")[0]
        hint = _HINTS.get(code, "")
        if code == "AADSTS500011":
            hint = f"Check url ({self.url_hint}) and that the environment belongs to this tenant."
        if hint:
            hint = " " + hint.format(variable=self._options.client_secret_env)
        return (
            f"side {self._side}: Entra ID refused a token to client {self._options.client_id} "
            f"of tenant {self._options.tenant_id} at {self._options.authority}: {because}{hint}"
        )

    def _where(self, what: str, exc: Exception) -> str:
        return (
            f"side {self._side}: {what} Entra ID at {self._options.authority} "
            f"(tenant {self._options.tenant_id}): {_reason(exc)}"
        )

    def _scrub(self, message: str) -> str:
        """``message`` without the client secret (belt and braces: Entra never echoes it)."""
        variable = self._options.client_secret_env
        value = os.environ.get(variable, "") if variable else ""
        return message.replace(value, "***") if len(value) >= 4 else message


class _Session(requests.Session):
    """msal's HTTP session: always verified against ``verify``, with a timeout.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's ``verify``
    (psf/requests#3829); here the side's own CAs always win.
    """

    def __init__(self, verify: str, timeout_s: float) -> None:
        super().__init__()
        self.verify = verify
        self._timeout_s = timeout_s
        self.mount("https://", requests.adapters.HTTPAdapter(max_retries=1))

    def request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout_s)
        return super().request(*args, **kwargs)

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*args, **kwargs)
        settings["verify"] = self.verify
        return settings


def _reason(exc: BaseException) -> str:
    """The root of a requests failure, without urllib3's wrapping (``Connection refused``,
    ``certificate verify failed: ...``), else the exception as it is."""
    seen: list[BaseException] = []
    found: BaseException | None = exc
    while found is not None and found not in seen:
        seen.append(found)
        inner = getattr(found, "reason", None) or (found.args[0] if found.args else None)
        nested = inner if isinstance(inner, BaseException) else None
        found = nested or found.__cause__ or found.__context__
    for cause in reversed(seen):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its certificate is not trusted ({cause.verify_message})"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return f"{type(exc).__name__}: {exc}"

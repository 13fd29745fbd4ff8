"""The one place a remote side speaks HTTP, and where driver errors become ours.

Every request carries the bearer token (``auth.py``) and the OData headers, goes to the
service root ``api`` (Dataverse's ``<url>/api/data/v9.2/``, F&O's ``<url>/data/``) or to an
absolute link on the same host (a nextLink, a deltaLink), over TLS verified against certifi's
CAs plus ``ca_file``. An adapter subclasses ``Transport`` to name itself (``kind``: its log
events, ``service``: its messages) and to add what its service has of its own.

What callers never see, because it is handled here (powerapps-docs: api-limits.md,
send-parallel-requests.md, webapi/compose-http-requests-handle-errors.md; F&O:
priority-based-throttling.md, service-protection-api-limits.md):

* **429** (service protection, priority-based throttling): the whole side waits out
  ``Retry-After``, its concurrency is halved, and the request is sent again, however long it
  takes (a record is never failed for throttling); each one is logged ``<kind>_throttled``.
* **502/503/504, a 500 without an error code (``retried``), a timeout, a lost connection**:
  sent again with exponential backoff and jitter (``Backoff``); after its last attempt a
  ``TransientError`` names the side and the URL.
* **401**: one fresh token and one more try; then a ``PermanentError``. **403**: a
  ``PermanentError`` with the server's message (a security role is missing).
* **Budget**: at most ``Budget.requests`` per window per side (a ``$batch`` counts as one):
  at the limit the next request waits (``<kind>_budget_wait``).
* **Concurrency**: ``in_flight`` requests at once, halved by a 429, grown back by one after as
  many successes, never above ``max_in_flight``, the server's ``x-ms-dop-hint`` or 52.

Any other answer (2xx or not) is returned as a ``Reply``; its ``error()`` reads the OData
error. The certificate check is never turned off: an unknown CA fails ``open`` with a
``PermanentError`` whose message says to set ``ca_file`` (later, a ``TransientError``: the
side is down until it is fixed, its records wait).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import anyio
import certifi
import httpx
import msgspec
import structlog

from replicator.backoff import Backoff
from replicator.errors import PermanentError, TransientError

from .auth import Auth, Untrusted
from .batch import ENCODER, BatchFormatError, Part, Reply, decode_batch, decode_body, encode_batch
from .errors import ODataError, error_of
from .options import SignIn
from .pacing import MAX_CONCURRENCY, Budget, Pacer

__all__ = ["Backoff", "Budget", "ODataError", "Part", "Reply", "Transport"]

log = structlog.get_logger()

_RETRIED = frozenset({502, 503, 504})


class Transport:
    """HTTP to one remote service as the side's application (module docstring)."""

    kind: ClassVar[str] = "remote"
    """The adapter's name: the prefix of the log events (``dataverse_retry``)."""
    service: ClassVar[str] = "the service"
    """What the messages call the server (``the Dataverse environment``)."""
    auth: ClassVar[type[Auth]] = Auth
    """The adapter's ``Auth`` (it names its log events the same way)."""
    root: ClassVar[str] = ""
    """The service root under the environment URL (``api/data/v9.2/``, ``data/``)."""

    def __init__(
        self,
        side: str,
        options: SignIn,
        base_dir: Path,
        *,
        backoff: Backoff | None = None,
        budget: Budget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.side = side
        self.options: SignIn = msgspec.structs.replace(
            options,  # type: ignore[type-var]
            ca_file=_under(base_dir, options.ca_file),
            certificate=_under(base_dir, options.certificate),
        )
        self.api = f"{options.url.rstrip('/')}/{self.root}"
        self._origin = _origin(self.api)
        self._backoff = backoff or Backoff()
        self._pacer = Pacer(
            side,
            options.max_in_flight,
            kind=self.kind,
            backoff=self._backoff,
            budget=budget or Budget(),
            clock=clock,
        )
        self._auth = self.auth(side, self.options, clock=clock)
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"Transport(side={self.side!r}, api={self.api!r})"

    def watch_throttling(self, listener: Callable[[float], None]) -> None:
        """Tell ``listener`` the seconds of every 429 waited out."""
        self._pacer.on_throttled = listener

    @property
    def in_flight(self) -> int:
        """How many requests may be in flight now (adapts to 429s and ``x-ms-dop-hint``)."""
        return self._pacer.in_flight

    async def open(self) -> None:
        """Build the client and sign in (a first token, then ``signed_in``), failing with a
        clear error."""
        self._client = httpx.AsyncClient(
            verify=self._tls(),
            timeout=httpx.Timeout(self.options.timeout_s),
            limits=httpx.Limits(max_connections=MAX_CONCURRENCY),
            headers={
                "OData-Version": "4.0",
                "OData-MaxVersion": "4.0",
                "Accept": "application/json",
            },
        )
        try:
            await self._auth.token()
            await self.signed_in()
        except Untrusted as exc:  # at start: waiting will not make it trusted, say so now
            await self.aclose()
            raise PermanentError(str(exc)) from None
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connections (the transport can be opened again)."""
        self._auth.close()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """GET ``url`` (relative to ``api``, or an absolute link on the same host)."""
        return _reply(await self._call("GET", url, params=params, headers=headers))

    async def send(
        self, method: str, url: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        """Any request; a non-2xx answer is returned (its ``error()`` says what), not raised."""
        body = None if json is None else ENCODER.encode(json)
        extra = {"Content-Type": "application/json"} if body is not None else {}
        return _reply(
            await self._call(method, url, content=body, headers={**extra, **(headers or {})})
        )

    async def batch(self, parts: Sequence[Part], *, continue_on_error: bool = True) -> list[Reply]:
        """One ``Reply`` per part, in order, through ``$batch`` requests of <= ``batch_size``.

        The requests run concurrently (within ``in_flight``). One that still fails after its
        retries answers each of its parts with 503 and the reason, so that the others' answers
        are kept; if all of them fail, its ``TransientError`` is raised instead.
        """
        size = self.options.batch_size
        chunks = [list(parts[i : i + size]) for i in range(0, len(parts), size)]
        replies: list[list[Reply] | TransientError] = [[] for _ in chunks]

        async def run(index: int) -> None:
            try:
                replies[index] = await self._batch(chunks[index], continue_on_error)
            except TransientError as exc:
                replies[index] = exc

        async with anyio.create_task_group() as group:
            for index in range(len(chunks)):
                group.start_soon(run, index)
        failed = [r for r in replies if isinstance(r, TransientError)]
        if failed and len(failed) == len(replies):
            raise failed[0]
        return [
            reply
            for chunk, answered in zip(chunks, replies, strict=True)
            for reply in (
                _failed(answered, len(chunk)) if isinstance(answered, Exception) else answered
            )
        ]

    async def signed_in(self) -> None:
        """What the service asks at ``open``, once there is a token (nothing by default): a
        subclass checks here that the token is accepted, with ``call(..., attempts=1)``."""

    async def call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        attempts: int | None = None,
    ) -> Reply:
        """One request without a body, tried at most ``attempts`` times (default: the backoff's)."""
        return _reply(await self._call(method, url, params=params, attempts=attempts))

    def retried(self, response: httpx.Response) -> bool:
        """Whether an answer is sent again: 502/503/504, or a 500 carrying no error code (a
        service's own refusal with a 500 carries one)."""
        if response.status_code != 500:
            return response.status_code in _RETRIED
        error = error_of(500, _json(response))
        return error is None or not error.code

    async def _batch(self, parts: list[Part], continue_on_error: bool) -> list[Reply]:
        content_type, body = encode_batch(parts, self.api)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        response = await self._call("POST", "$batch", content=body, headers=headers)
        kind = response.headers.get("content-type", "")
        if not kind.lower().startswith("multipart/"):  # the whole $batch refused: every part is
            return [_reply(response)] * len(parts)
        try:
            replies = decode_batch(kind, response.content, len(parts))
        except BatchFormatError as exc:
            raise PermanentError(f"side {self.side}: {self.api}$batch: {exc}") from None
        for reply in replies:
            if reply.status == 429:  # a part throttled: the caller retries it, the side slows
                self._pacer.throttled(reply.headers.get("retry-after"), _code(reply.error()))
        return replies

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        attempts: int | None = None,
    ) -> httpx.Response:
        """Send until an answer the caller should see (see the module docstring)."""
        target, attempts = (
            with_query(self._absolute(url), params),
            attempts or self._backoff.attempts,
        )
        attempt, refreshed = 0, False
        while True:
            token, response = await self._send(method, target, content, headers)
            if isinstance(response, Exception) or self.retried(response):
                attempt += 1
                if attempt >= attempts:
                    raise self._gave_up(method, target, response, attempt)
                why = _why(response)
                log.info(f"{self.kind}_retry", side=self.side, url=target, attempt=attempt, why=why)
                await anyio.sleep(self._backoff.delay(attempt))
            elif response.status_code == 429:
                error = error_of(429, _json(response))
                self._pacer.throttled(response.headers.get("retry-after"), _code(error))
            elif response.status_code == 401 and not refreshed:
                refreshed = True
                await self._auth.token(refused=token)
            elif response.status_code in (401, 403):
                raise self._refused(response)
            else:
                return response

    async def _send(
        self,
        method: str,
        target: str,
        content: bytes | None,
        headers: dict[str, str] | None,
    ) -> tuple[str, httpx.Response | httpx.TransportError]:
        """One try: the token used, and the response or why there is none."""
        client = self._client
        if client is None:
            raise PermanentError(f"side {self.side}: the transport is not open")
        await self._pacer.ready()
        async with self._pacer.slot:
            token = await self._auth.token()
            auth = {"Authorization": f"Bearer {token}"}
            try:
                response = await client.request(
                    method,
                    target,
                    content=content,
                    headers={**(headers or {}), **auth},
                )
            except httpx.TransportError as exc:
                if _untrusted(exc):
                    raise Untrusted(self._tls_message(target, exc)) from None
                return token, exc
        self._pacer.answered(response.status_code, response.headers.get("x-ms-dop-hint"))
        return token, response

    def _absolute(self, url: str) -> str:
        if "://" not in url:
            return self.api + url.lstrip("/")
        if _origin(url) != self._origin:
            raise PermanentError(
                f"side {self.side}: refusing a link to another host: {url} "
                f"(expected {self._origin})"
            )
        return url

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=certifi.where())
        if self.options.ca_file:
            try:
                context.load_verify_locations(cafile=self.options.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise PermanentError(
                    f"side {self.side}: ca_file {self.options.ca_file} cannot be used: {exc}"
                ) from None
        return context

    def _gave_up(
        self, method: str, target: str, answer: httpx.Response | Exception, attempts: int
    ) -> TransientError:
        return TransientError(
            f"side {self.side}: {method} {target} failed {attempts} times: {_why(answer)}",
            retry_after=self._backoff.most_s,
        )

    def _refused(self, response: httpx.Response) -> PermanentError:
        error = error_of(response.status_code, _json(response), response.reason_phrase)
        if response.status_code == 401:
            return PermanentError(
                f"side {self.side}: {self.service} refused the application's token: "
                f"{error} (is client {self.options.client_id} an application user of {self.api}?)"
            )
        return PermanentError(
            f"side {self.side}: {response.request.method} {response.request.url} is forbidden: "
            f"{error} (does the application user have a security role that allows it?)"
        )

    def _tls_message(self, target: str, exc: Exception) -> str:
        return (
            f"side {self.side}: the TLS certificate of {_origin(target)} is not trusted ({exc}); "
            "if a proxy or a test server signs it with its own CA, set ca_file to that CA's PEM"
        )


def _failed(exc: Exception, count: int) -> list[Reply]:
    body = {"error": {"code": "", "message": str(exc)}}
    return [Reply(status=503, headers={}, body=body)] * count


def _reply(response: httpx.Response) -> Reply:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Reply(
        status=response.status_code, headers=headers, body=decode_body(headers, response.content)
    )


def _json(response: httpx.Response) -> Any:
    return decode_body({"content-type": response.headers.get("content-type", "")}, response.content)


def _why(answer: httpx.Response | Exception) -> str:
    if isinstance(answer, Exception):
        return f"{type(answer).__name__}: {answer}"
    return str(error_of(answer.status_code, _json(answer), answer.reason_phrase))


def _untrusted(exc: httpx.TransportError) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _code(error: ODataError | None) -> str:
    return error.code if error else ""


def with_query(url: str, params: dict[str, str] | None) -> str:
    """``url`` with ``params`` appended: spaces as %20, OData's ``$ , ' ( )`` left as they are."""
    if not params:
        return url
    query = urlencode(params, quote_via=quote, safe="$,'()")
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _under(base_dir: Path, path: str | None) -> str | None:
    return None if path is None else str(base_dir / path)

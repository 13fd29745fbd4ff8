"""The server side of an OData ``$batch``: parse a multipart body, run it, render the answer.

Shared by the emulators (Dataverse's ``emulators/dataverse/batch.py`` and F&O's
``emulators/fno/batch.py`` pick the service root, the limit and the error body in a
``Dialect``). From Dataverse's ``webapi/execute-batch-operations-using-web-api.md`` and
F&O's ``data-entities/odata.md`` (both follow OData 4.0 §11.7): a ``multipart/mixed`` body
whose parts are single requests (``application/http``) or change sets (a nested
``multipart/mixed``); at most ``Dialect.max_requests`` requests; no GET inside a change set;
a change set is atomic, and its requests may name an entity created earlier in the same change
set as ``$<Content-ID>`` (in the URL, or as an ``@odata.bind``/``@odata.id`` value).
Requests run in order and the responses come back in the same order. Without
``Prefer: odata.continue-on-error`` the batch stops at the first failure and the batch
answers with that failure's status; with it, every request runs and the batch answers 200.

The app calls::

    requests = parse_batch(content_type, body, dialect)   # BatchError -> 400 with its message
    results = await run_batch(requests, dispatch, atomic, dialect, continue_on_error=...)
    content_type, body = render_batch(results)             # status: batch_status(...)

A change set that succeeded is a ``list`` of its responses; one that failed is its single
failure, a bare ``SubResponse``, rendered as one ``application/http`` part for the whole
change set (OData 4.0 §11.7.4).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from urllib.parse import urlsplit

import msgspec

from emulators import _multipart as multipart
from emulators import _references as references

METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


class Dialect(msgspec.Struct, frozen=True, kw_only=True):
    """What differs between services: where relative URLs start, how many requests a batch
    may hold, and the JSON error body of a failure the batch itself finds."""

    service_root: str
    max_requests: int
    error_body: Callable[[str], bytes]


class SubRequest(msgspec.Struct, kw_only=True):
    """One request of a batch, as the handler of a top-level request would see it."""

    method: str
    url: str  # a path from the server root with its query, or "$n[/...]" inside a change set
    headers: dict[str, str]  # lower-case names
    body: bytes
    content_id: str | None
    changeset: int | None  # index of its change set in the batch, None outside one


class SubResponse(msgspec.Struct, kw_only=True):
    """The answer to one sub-request."""

    status: int
    headers: dict[str, str]
    body: bytes
    content_id: str | None = None


class BatchError(Exception):
    """The batch body is malformed or breaks a rule: the app answers 400 with the message."""


class RollBack(Exception):
    """Raised inside ``atomic()`` to undo every write of a failed change set."""


Result = SubResponse | list[SubResponse]


# ---- parsing ------------------------------------------------------------------------


def parse_batch(content_type: str, body: bytes, dialect: Dialect) -> list[SubRequest]:
    """The sub-requests of a ``$batch`` body, in order; BatchError if it is malformed."""
    try:
        return _parse(content_type, body, dialect.service_root, dialect.max_requests)
    except multipart.MultipartError as exc:
        raise BatchError(str(exc)) from exc


def _parse(content_type: str, body: bytes, root: str, most: int) -> list[SubRequest]:
    boundary = multipart.boundary_of(content_type, "the $batch request")
    requests: list[SubRequest] = []
    changesets = 0
    for headers, content in multipart.split_parts(body, boundary, "batch"):
        if multipart.media_type(headers, "batch") == "multipart/mixed":
            inner = multipart.boundary_of(headers["content-type"], "a change set")
            requests += _changeset(content, inner, changesets, root, most)
            changesets += 1
        else:
            request = _request(headers, content, None, root)
            _check_references(request, set())  # $n names an entity of its own change set
            requests.append(request)
        if len(requests) > most:
            raise BatchError(
                "The current batch message contains too many parts. Only batch messages with"
                f" a maximum number of '{most}' query operations, including changeset"
                " operations, are allowed."
            )
    return requests


def _changeset(content: bytes, boundary: str, index: int, root: str, most: int) -> list[SubRequest]:
    requests: list[SubRequest] = []
    for headers, part in multipart.split_parts(content, boundary, "change set"):
        if multipart.media_type(headers, "change set") != "application/http":
            raise BatchError("A change set cannot contain another change set or batch.")
        request = _request(headers, part, index, root)
        if request.method == "GET":
            raise BatchError(
                "An invalid HTTP method 'GET' was detected for a request in a change set."
                " Requests in change sets only support the HTTP methods 'POST', 'PUT',"
                " 'DELETE', and 'PATCH'."
            )
        _check_references(request, {r.content_id for r in requests if r.content_id})
        if request.content_id and any(r.content_id == request.content_id for r in requests):
            raise BatchError(
                f"The Content-ID '{request.content_id}' is used twice in a change set."
            )
        requests.append(request)
    if len(requests) > most:
        raise BatchError(
            "The current change set contains too many operations. A maximum number of"
            f" '{most}' operations are allowed in a change set."
        )
    return requests


def _request(
    headers: dict[str, str], content: bytes, changeset: int | None, root: str
) -> SubRequest:
    encoding = headers.get("content-transfer-encoding", "binary").lower()
    if encoding != "binary":
        raise BatchError(f"Content-Transfer-Encoding '{encoding}' is not supported: use binary.")
    head, body = multipart.split_head(content)
    if not head:
        raise BatchError("A batch part of type application/http holds no request line.")
    request_line, *header_lines = head
    method, url = _request_line(request_line)
    inner = multipart.parse_headers(header_lines)
    content_id = headers.get("content-id") or inner.get("content-id")
    return SubRequest(
        method=method,
        url=_normalise_url(url, root),
        headers=inner,
        body=_body(body, inner),
        content_id=content_id,
        changeset=changeset,
    )


def _body(content: bytes, headers: dict[str, str]) -> bytes:
    """The request's body: its Content-Length bytes when it gives one; otherwise all, less
    the blank lines clients leave before the next delimiter (JSON, where they mean nothing)."""
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) <= len(content):
        return content[: int(length)]
    return content.rstrip(multipart.CRLF)


def _request_line(line: str) -> tuple[str, str]:
    words = line.split()
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise BatchError(f"Malformed request line in a batch part: {line!r}.")
    method, url = words[0].upper(), words[1]
    if method not in METHODS:
        raise BatchError(f"The HTTP method '{method}' is not supported in a batch.")
    if urlsplit(url).path.rstrip("/").endswith("$batch"):
        raise BatchError("A batch request cannot contain another batch request.")
    return method, url


def _normalise_url(url: str, root: str) -> str:
    """A path from the server root: absolute URLs lose scheme and host, relative ones get
    the service root; ``$n`` references stay as they are until run_batch resolves them."""
    if references.REFERENCE.match(url) or url.startswith("/"):
        return url
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return root + url


def _check_references(request: SubRequest, declared: set[str]) -> None:
    for ref in references.references(request.url, request.body):
        if ref not in declared:
            raise BatchError(f"Content-ID Reference: '${ref}' does not exist in the batch context.")


# ---- running --------------------------------------------------------------------------


async def run_batch(
    requests: Sequence[SubRequest],
    dispatch: Callable[[SubRequest], Awaitable[SubResponse]],
    atomic: Callable[[], AbstractAsyncContextManager[None]],
    dialect: Dialect,
    *,
    continue_on_error: bool,
) -> list[Result]:
    """Run the sub-requests in order; a change set inside ``atomic()``, undone on a failure."""
    results: list[Result] = []
    for group in _groups(requests):
        if group[0].changeset is None:
            result: Result = _answered(group[0], await dispatch(group[0]))
        else:
            result = await _run_changeset(group, dispatch, atomic, dialect)
        results.append(result)
        if isinstance(result, SubResponse) and result.status >= 400 and not continue_on_error:
            break
    return results


def _groups(requests: Sequence[SubRequest]) -> list[list[SubRequest]]:
    groups: list[list[SubRequest]] = []
    for request in requests:
        same = groups and request.changeset is not None
        if same and groups[-1][0].changeset == request.changeset:
            groups[-1].append(request)
        else:
            groups.append([request])
    return groups


async def _run_changeset(
    group: list[SubRequest],
    dispatch: Callable[[SubRequest], Awaitable[SubResponse]],
    atomic: Callable[[], AbstractAsyncContextManager[None]],
    dialect: Dialect,
) -> Result:
    answers: list[SubResponse] = []
    failure: SubResponse | None = None
    try:
        async with atomic():
            for request in group:
                resolved = await _dispatch_resolved(request, answers, dispatch, dialect)
                answer = _answered(request, resolved)
                if answer.status >= 400:
                    failure = answer
                    raise RollBack(request.url)
                answers.append(answer)
    except RollBack:
        # atomic() may re-raise RollBack once it has undone the writes, or swallow it.
        pass
    return failure if failure is not None else answers


async def _dispatch_resolved(
    request: SubRequest,
    earlier: list[SubResponse],
    dispatch: Callable[[SubRequest], Awaitable[SubResponse]],
    dialect: Dialect,
) -> SubResponse:
    locations = {a.content_id: _location(a) for a in earlier if a.content_id}
    refs = references.references(request.url, request.body)
    if missing := [ref for ref in refs if not locations.get(ref)]:
        # Parsing checked that the Content-ID exists; here its request created no entity.
        message = f"Content-ID Reference: '${missing[0]}' does not refer to an entity."
        return _error(dialect, 400, message)
    found = {ref: url for ref, url in locations.items() if url}
    url, body = references.resolve(request.url, request.body, found)
    return await dispatch(msgspec.structs.replace(request, url=url, body=body))


def _location(response: SubResponse) -> str | None:
    lowered = {name.lower(): value for name, value in response.headers.items()}
    return lowered.get("location") or lowered.get("odata-entityid")


def _answered(request: SubRequest, response: SubResponse) -> SubResponse:
    return msgspec.structs.replace(response, content_id=request.content_id)


def _error(dialect: Dialect, status: int, message: str) -> SubResponse:
    return SubResponse(
        status=status,
        headers={
            "Content-Type": "application/json; odata.metadata=minimal",
            "OData-Version": "4.0",
        },
        body=dialect.error_body(message),
    )


def batch_status(results: Sequence[Result], *, continue_on_error: bool) -> int:
    """The status of the whole ``$batch`` answer: without continue-on-error, a batch that
    stopped at a failure answers with that failure's status (the docs' example: 400)."""
    last = results[-1] if results else None
    if not continue_on_error and isinstance(last, SubResponse) and last.status >= 400:
        return last.status
    return 200


def prefers_continue_on_error(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header asks for ``odata.continue-on-error`` (bare or ``=true``)."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.partition("=")
        if name.strip().lower() == "odata.continue-on-error":
            return value.strip().strip('"').lower() in ("", "true")
    return False


# ---- rendering ------------------------------------------------------------------------


def render_batch(results: Sequence[Result]) -> tuple[str, bytes]:
    """The ``$batch`` answer's Content-Type (with its boundary) and body, CRLF throughout."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    parts = [_render_changeset(r) if isinstance(r, list) else _render_part(r) for r in results]
    body = multipart.join_parts(boundary, parts) + multipart.CRLF
    return f"multipart/mixed; boundary={boundary}", body


def _render_changeset(responses: list[SubResponse]) -> bytes:
    boundary = f"changesetresponse_{uuid.uuid4()}"
    mime = multipart.head([f"Content-Type: multipart/mixed; boundary={boundary}"])
    return mime + multipart.join_parts(boundary, [_render_part(r) for r in responses])


def _render_part(response: SubResponse) -> bytes:
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if response.content_id is not None:
        mime.append(f"Content-ID: {response.content_id}")
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    http = [f"HTTP/1.1 {response.status} {reason}".rstrip()]
    http += [f"{name}: {value}" for name, value in response.headers.items()]
    return multipart.head(mime) + multipart.head(http) + response.body

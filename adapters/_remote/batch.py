"""The client side of OData's ``$batch``: a multipart/mixed request, and its answer parsed.

The format is OData's (part 1, 11.7 Batch Requests) as the Dataverse Web API
(powerapps-docs, webapi/execute-batch-operations-using-web-api.md) and F&O's ``/data/``
(data-entities/odata.md) use it: the request body is a
``multipart/mixed`` document whose parts are ``application/http`` requests; a change set is a
nested ``multipart/mixed`` part whose requests succeed or fail together. A ``GET`` may not be
inside a change set.

Every write ``Part`` goes in a change set of its own (``Part.changeset``), so that one refused
record never rolls back another, and a read goes outside any change set. The answer holds one
part per top-level request in the same order: a change set that succeeded answers with a
nested multipart of its requests' responses, one that failed with that single failure (so with
one operation per change set, every ``Part`` gets exactly one ``Reply``). Without
``Prefer: odata.continue-on-error`` the server stops at the first failure; the parts it never
ran get a ``Reply`` with status 424 (Failed Dependency) from ``decode_batch``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from .errors import ODataError, error_of

NOT_RUN = 424
"""The status ``decode_batch`` gives a part the server did not run (it stopped before it)."""

ENCODER = msgspec.json.Encoder(decimal_format="number")
"""JSON for request bodies: a ``Decimal`` goes as a JSON number, every digit kept."""
_DECODER = msgspec.json.Decoder()
_CRLF = "\r\n"
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"\r?\n")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)


class Part(msgspec.Struct, kw_only=True):
    """One operation of a ``$batch``: a request relative to the service root (or absolute)."""

    method: str
    url: str
    headers: dict[str, str] = {}
    json: Any = None
    changeset: bool = True
    """A write goes in a change set of its own (ignored for ``GET``, never in one)."""


class Reply(msgspec.Struct, kw_only=True):
    """One answer: its status, headers (lower-case names) and body (decoded JSON, or None)."""

    status: int
    headers: dict[str, str]
    body: Any

    def error(self) -> ODataError | None:
        """The ``{"error": {"code", "message"}}`` of a non-2xx answer; None for a 2xx."""
        return error_of(self.status, self.body)


class BatchFormatError(ValueError):
    """An answer that is not the multipart document a ``$batch`` answers with."""


def encode_batch(parts: Sequence[Part], api: str) -> tuple[str, bytes]:
    """The content type (with its boundary) and body of a ``$batch`` of ``parts``.

    ``api`` is the service root (``https://host/api/data/v9.2/``, ``https://host/data/``):
    part URLs are made absolute against it.
    """
    batch = f"batch_{uuid.uuid4()}"
    chunks: list[bytes] = []
    for number, part in enumerate(parts, 1):
        request = _request(part, api)
        if part.changeset and part.method.upper() != "GET":
            changeset = f"changeset_{uuid.uuid4()}"
            head = f"--{batch}{_CRLF}Content-Type: multipart/mixed; boundary={changeset}"
            chunks.append(f"{head}{_CRLF}{_CRLF}".encode())
            chunks.append(_http_part(changeset, request, content_id=number))
            chunks.append(f"--{changeset}--{_CRLF}".encode())
        else:
            chunks.append(_http_part(batch, request))
    chunks.append(f"--{batch}--{_CRLF}".encode())
    return f"multipart/mixed; boundary={batch}", b"".join(chunks)


def decode_batch(content_type: str, body: bytes, count: int) -> list[Reply]:
    """The ``count`` replies of a ``$batch`` answer, in request order.

    Raises ``BatchFormatError`` when the answer is not a multipart document or holds more
    replies than requests; replies missing at the end (the server stopped) are ``NOT_RUN``.
    """
    replies = _flatten(_multipart(content_type, body))
    if len(replies) > count:
        raise BatchFormatError(f"the $batch answer holds {len(replies)} replies for {count}")
    skipped = Reply(
        status=NOT_RUN,
        headers={},
        body={"error": {"code": "", "message": "not run: an earlier request of its $batch failed"}},
    )
    return replies + [skipped] * (count - len(replies))


def _request(part: Part, api: str) -> bytes:
    url = part.url if "://" in part.url else api + part.url.lstrip("/")
    lines = [f"{part.method.upper()} {url} HTTP/1.1"]
    body = b""
    if part.json is not None:
        body = ENCODER.encode(part.json)
        lines.append("Content-Type: application/json; type=entry")
    lines += [f"{name}: {value}" for name, value in part.headers.items()]
    return (_CRLF.join(lines) + _CRLF + _CRLF).encode() + body


def _http_part(boundary: str, request: bytes, *, content_id: int | None = None) -> bytes:
    lines = [f"--{boundary}", "Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    return (_CRLF.join(lines) + _CRLF + _CRLF).encode() + request + _CRLF.encode()


def _multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    """The parts (headers, content) of a multipart document."""
    found = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/") or found is None:
        raise BatchFormatError(f"the $batch answer is not multipart: {content_type!r}")
    delimiter = b"--" + found[1].strip().encode()
    segments = body.split(delimiter)
    if len(segments) < 2 or not segments[-1].startswith(b"--"):
        raise BatchFormatError("the $batch answer ends before its closing boundary")
    parts = []
    for segment in segments[1:-1]:
        segment = segment[2:] if segment.startswith(b"\r\n") else segment.lstrip(b"\n")
        headers, content = _head(segment)
        parts.append((headers, _chomp(content)))
    return parts


def _flatten(parts: list[tuple[dict[str, str], bytes]]) -> list[Reply]:
    replies: list[Reply] = []
    for headers, content in parts:
        kind = headers.get("content-type", "")
        if kind.lower().startswith("multipart/"):
            replies += _flatten(_multipart(kind, content))  # a change set's answers
        else:
            replies.append(_response(content))
    return replies


def _response(content: bytes) -> Reply:
    """One ``application/http`` response: status line, headers, body."""
    status_line, _, rest = content.partition(b"\n")
    fields = status_line.decode("latin-1").split(None, 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise BatchFormatError(f"a $batch reply starts with {status_line[:80]!r}")
    headers, body = _head(rest)
    return Reply(status=int(fields[1]), headers=headers, body=decode_body(headers, body))


def decode_body(headers: dict[str, str], body: bytes) -> Any:
    """A JSON body decoded; a text body as it is (an error's plain message); empty: None."""
    if not body.strip():
        return None
    if "json" in headers.get("content-type", "json"):
        try:
            return _DECODER.decode(body)
        except msgspec.DecodeError:
            pass
    return body.decode("utf-8", "replace").strip()


def _head(block: bytes) -> tuple[dict[str, str], bytes]:
    """Header lines up to the first empty line (names lower-cased), and what follows."""
    if _LINE.match(block):  # no headers at all
        return {}, _LINE.split(block, 1)[1]
    found = _HEAD_END.search(block)
    head, rest = (block[: found.start()], block[found.end() :]) if found else (block, b"")
    headers = {}
    for line in _LINE.split(head):
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _chomp(content: bytes) -> bytes:
    """Content without the line break that belongs to the next boundary delimiter."""
    if content.endswith(b"\r\n"):
        return content[:-2]
    return content[:-1] if content.endswith(b"\n") else content

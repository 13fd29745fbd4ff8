"""MIME ``multipart/mixed`` framing as OData ``$batch`` uses it (RFC 2046, OData 4.0 §11.7).

Generic, so the F&O emulator's ``$batch`` can use it too: split a body into parts (headers
and content), split a part into its header lines and what follows the blank line, and
join parts back under a boundary. Lines end in CRLF when written; bare LF is accepted
when read. Every malformation raises MultipartError, with a message fit for a 400.
"""

from __future__ import annotations

import re

CRLF = b"\r\n"


class MultipartError(Exception):
    """A multipart body or one of its parts is malformed."""


def boundary_of(content_type: str, what: str) -> str:
    """The boundary of a ``multipart/mixed`` Content-Type, quoted or not."""
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "multipart/mixed":
        raise MultipartError(f"The Content-Type of {what} must be multipart/mixed, not {media!r}.")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"')
    raise MultipartError(f"The Content-Type of {what} has no boundary parameter.")


def split_parts(body: bytes, boundary: str, what: str) -> list[tuple[dict[str, str], bytes]]:
    """Each part's headers (lower-case names) and content, up to the closing delimiter.

    A delimiter is ``--boundary`` at the start of a line and the line break before it
    belongs to it (RFC 2046 §5.1.1); the preamble and the epilogue are ignored."""
    delimiter = re.compile(
        rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|$)"
    )
    matches = list(delimiter.finditer(body))
    if not matches:
        raise MultipartError(f"The {what} body holds no part delimited by '--{boundary}'.")
    closing = next((i for i, m in enumerate(matches) if m.group(1)), None)
    if closing is None:
        raise MultipartError(f"The {what} body does not end with the delimiter '--{boundary}--'.")
    parts = []
    for start, end in zip(matches[:closing], matches[1 : closing + 1], strict=True):
        head, content = split_head(body[start.end() : end.start()])
        parts.append((parse_headers(head), content))
    return parts


def split_head(data: bytes) -> tuple[list[str], bytes]:
    """The header lines (a start line first, if any) and what follows the blank line."""
    blank = re.search(rb"(?:^|\r?\n)\r?\n", data)
    head, rest = (data[: blank.start()], data[blank.end() :]) if blank else (data, b"")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MultipartError("A batch part has header lines that are not UTF-8.") from exc
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()], rest


def parse_headers(lines: list[str]) -> dict[str, str]:
    """``Name: value`` lines (the space after the colon optional), names lower-cased."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise MultipartError(f"Malformed header line in a batch part: {line!r}.")
        headers[name.strip().lower()] = value.strip()
    return headers


def media_type(headers: dict[str, str], what: str) -> str:
    """A part's media type: ``application/http`` (one request) or ``multipart/mixed``."""
    if "content-type" not in headers:
        raise MultipartError(f"A part of the {what} has no Content-Type header.")
    media = headers["content-type"].partition(";")[0].strip().lower()
    if media not in ("application/http", "multipart/mixed"):
        raise MultipartError(
            f"A part of the {what} has Content-Type {media!r}:"
            " expected application/http or multipart/mixed."
        )
    return media


def join_parts(boundary: str, parts: list[bytes]) -> bytes:
    """Parts (each its header lines, a blank line and its content) under one boundary,
    up to the closing delimiter (no line break after it: a nested body's ends where the
    outer delimiter's line break starts)."""
    delimiter = f"--{boundary}".encode()
    return b"".join(delimiter + CRLF + part + CRLF for part in parts) + delimiter + b"--"


def head(lines: list[str]) -> bytes:
    """Header lines and the blank line that ends them."""
    return "".join(f"{line}\r\n" for line in lines).encode() + CRLF

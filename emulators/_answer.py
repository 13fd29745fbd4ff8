"""What an emulator's OData handler answers: status, headers (their real spelling) and body;
the same for a top-level request and for a part of a ``$batch``."""

from __future__ import annotations

import msgspec


class Answer(msgspec.Struct, kw_only=True):
    """A response: status, headers and body."""

    status: int
    headers: dict[str, str] = {}
    body: bytes = b""

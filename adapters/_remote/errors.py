"""The error of one OData answer: ``{"error": {"code": "…", "message": "…"}}``.

OData JSON format 4.0 §21 gives every error that shape; Dataverse fills ``code`` with its
``0x…`` codes (powerapps-docs, webapi/compose-http-requests-handle-errors.md), F&O mostly
leaves it empty and puts its infolog in ``message`` and ``innererror``.
"""

from __future__ import annotations

from typing import Any

import msgspec


class ODataError(msgspec.Struct):
    """The error of one non-2xx answer: its HTTP status, service code and message."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status}{code}: {self.message}"


def error_of(status: int, body: Any, reason: str = "") -> ODataError | None:
    """The error a non-2xx answer carries (``None`` for a 2xx); ``reason`` when it has no body."""
    if 200 <= status < 300:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = body if isinstance(body, str) and body else ""
        return ODataError(status, "", text or reason or f"HTTP {status}")
    code, message = error.get("code"), error.get("message")
    return ODataError(
        status,
        code.upper().replace("0X", "0x") if isinstance(code, str) else "",
        message if isinstance(message, str) else reason or f"HTTP {status}",
    )

"""One Web API request as the handlers see it, and their answer: the same for a top-level
request and for a part of a ``$batch``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

from emulators._answer import Answer as Answer  # re-exported: the handlers import it from here
from emulators.dataverse import errors
from emulators.dataverse.tables import Tables
from emulators.dataverse.urls import parse_prefer

API_PATH = "/api/data/v9.2/"
JSON = "application/json; odata.metadata=minimal"
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class Call:
    """A request: method, resource path below the API root, query, headers, body, caller."""

    def __init__(
        self,
        *,
        db: Tables,
        base_url: str,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        user: str,
        retention_s: float | None = None,
    ) -> None:
        parts = urlsplit(target)
        self.db = db
        self.base_url = base_url
        self.api_url = base_url + API_PATH
        self.method = method.upper()
        self.path = unquote(parts.path).removeprefix(API_PATH)  # after splitting off the query
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = {name.lower(): value for name, value in headers.items()}
        self.body = body
        self.user = user
        self.retention_s = retention_s
        self.prefer = parse_prefer(self.headers.get("prefer"))

    def json_body(self, entity_set: str) -> dict[str, Any]:
        """The body as a JSON object; 400 (payload error) otherwise."""
        try:
            value = _decoder.decode(self.body or b"{}")
        except msgspec.DecodeError as exc:
            raise errors.payload(entity_set, f"Invalid JSON. {exc}") from None
        if not isinstance(value, dict):
            raise errors.payload(entity_set, "A JSON object was expected.")
        return value


def json_answer(status: int, value: Any, headers: dict[str, str] | None = None) -> Answer:
    """A JSON answer with the OData headers."""
    base = {"Content-Type": JSON, "OData-Version": "4.0"}
    return Answer(status=status, headers={**base, **(headers or {})}, body=_encoder.encode(value))


def error_answer(error: errors.ApiError) -> Answer:
    """The answer for an ApiError."""
    headers = {"Content-Type": JSON, "OData-Version": "4.0", **error.headers}
    return Answer(status=error.status, headers=headers, body=error.body())


def etag(row: dict[str, Any]) -> str:
    return f'W/"{row["versionnumber"]}"'

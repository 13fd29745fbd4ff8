"""One OData request as the handlers see it (top level or a part of a ``$batch``) and their
answer, with the JSON helpers every handler uses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

from emulators._answer import Answer as Answer  # re-exported: the handlers import it from here
from emulators.fno import errors

DATA_PATH = "/data/"
JSON = "application/json; odata.metadata=minimal; odata.streaming=true"
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


class Call:
    """A request: method, path below ``/data/``, query, headers, body; the caller (its Entra
    object id) and its default company."""

    def __init__(
        self,
        *,
        base_url: str,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        company: str,
        user: str,
    ) -> None:
        parts = urlsplit(target)
        self.base_url = base_url
        self.data_url = base_url + DATA_PATH
        self.method = method.upper()
        self.raw_path = parts.path
        self.path = unquote(parts.path).removeprefix(DATA_PATH)
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = {name.lower(): value for name, value in headers.items()}
        self.body = body
        self.company = company
        self.user = user

    @property
    def url(self) -> str:
        return self.base_url + self.raw_path

    @property
    def cross_company(self) -> bool:
        return self.query.get("cross-company", "").lower() == "true"

    def prefer(self, name: str) -> str | None:
        """The value of one ``Prefer`` preference ("" for a bare one), or None."""
        for preference in self.headers.get("prefer", "").split(","):
            key, _, value = preference.partition("=")
            if key.strip().lower() == name:
                return value.strip().strip('"')
        return None

    def json_body(self) -> dict[str, Any]:
        try:
            value = _decoder.decode(self.body or b"{}")
        except msgspec.DecodeError as exc:
            raise errors.bad_payload(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise errors.bad_payload("The request body must be a JSON object.")
        return value


def json_answer(status: int, value: Any, headers: dict[str, str] | None = None) -> Answer:
    base = {"Content-Type": JSON, "OData-Version": "4.0"}
    return Answer(status=status, headers={**base, **(headers or {})}, body=_encoder.encode(value))


def error_answer(error: errors.FnoError) -> Answer:
    headers = {"Content-Type": "application/json; charset=utf-8", **error.headers}
    return Answer(status=error.status, headers=headers, body=error.body())

"""F&O's OData error answers.

The shape F&O returns (seen in the community threads and issues on data entities; the docs show
none): ``{"error": {"code": "", "message": "...", "innererror": {"message": "...", "type":
"...", "stacktrace": ""}}}``. A write that X++ refuses (``validateWrite``, a duplicate key)
comes back with the top message "An error has occurred." and the Infolog in the inner message,
typed ``AxODataWriteException``; URI and payload errors carry the OData library's own texts,
typed ``Microsoft.OData.ODataException``. Status codes are undocumented too: the emulator
answers 400 for a refused write, as the service commonly does (``WRITE_FAILED``).
"""

from __future__ import annotations

import msgspec

WRITE_EXCEPTION = "Microsoft.Dynamics.Platform.Integration.Services.OData.AxODataWriteException"
ODATA_EXCEPTION = "Microsoft.OData.ODataException"
WRITE_FAILED = 400
_encoder = msgspec.json.Encoder()


class FnoError(Exception):
    """An error answer: status, the outer and inner messages, the inner type, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        inner: str | None = None,
        kind: str = ODATA_EXCEPTION,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.inner = inner if inner is not None else message
        self.kind = kind
        self.headers = headers or {}

    def body(self) -> bytes:
        inner = {"message": self.inner, "type": self.kind, "stacktrace": ""}
        return _encoder.encode(
            {"error": {"code": "", "message": self.message, "innererror": inner}}
        )


def bad_query(message: str) -> FnoError:
    """A URI the OData layer cannot serve (unknown property, malformed $filter ...)."""
    return FnoError(400, f"The query specified in the URI is not valid. {message}", inner=message)


def bad_payload(message: str) -> FnoError:
    """A body the OData layer cannot read (unknown property, wrong type, unknown enum member)."""
    return FnoError(400, "An error has occurred.", inner=message)


def not_found(url: str) -> FnoError:
    # The text ASP.NET Web API gives a key that matches no row; F&O passes it through.
    return FnoError(404, f"No HTTP resource was found that matches the request URI '{url}'.")


def write_failed(class_name: str, infolog: list[str]) -> FnoError:
    """X++ refused the write: the Infolog's errors, as the service joins them."""
    lines = "; ".join(f"Error: {line}" for line in infolog)
    return FnoError(
        WRITE_FAILED,
        "An error has occurred.",
        inner=f"Write failed for table row of type '{class_name}'. Infolog: {lines}.",
        kind=WRITE_EXCEPTION,
    )


def etag_mismatch() -> FnoError:
    # ASP.NET OData's text for an If-Match that no longer matches.
    return FnoError(
        412,
        "The etag value in the request header does not match with the current etag value of"
        " the object.",
    )

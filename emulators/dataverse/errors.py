"""The Dataverse Web API's error answers: ``{"error": {"code": "0x...", "message": "..."}}``.

Codes and messages come from the powerapps-docs Web API pages where they give them
(conditional operations, change tracking, alternate keys, api limits); where they are silent
the text is the real service's common one, and a comment says so.
"""

from __future__ import annotations

import msgspec

PAYLOAD = "0x80048d19"  # "Error identified in Payload provided by the user for Entity"
QUERY = "0x80060888"  # OData URI/query errors (unknown property, unsupported option)
NOT_FOUND = "0x80040217"
VERSION_MISMATCH = "0x80060882"
DUPLICATE_KEY = "0x80060892"
DUPLICATE_RECORD = "0x80040237"
VALIDATION = "0x80044331"
EXPIRED_VERSION = "0x80044352"
# No documented code for a missing/expired bearer token (the real service answers 401 with an
# empty body and WWW-Authenticate); the emulator keeps the common error shape.
UNAUTHORIZED = "0x8004a001"

_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """An error answer of the Web API: status, code, message and extra headers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        """The JSON error body."""
        return _encoder.encode({"error": {"code": self.code, "message": self.message}})


def entity_type(logical_name: str) -> str:
    return f"Microsoft.Dynamics.CRM.{logical_name}"


def not_found(logical_name: str, guid: str) -> ApiError:
    """404 for a row that does not exist (message as in the conditional-operations page)."""
    return ApiError(404, NOT_FOUND, f"{logical_name} With Id = {guid} Does Not Exist")


def no_such_key_row(logical_name: str, key: dict[str, object]) -> ApiError:
    # Real service wording for a missing row addressed by alternate key.
    values = ",".join(f"{name}:{value}" for name, value in key.items())
    return ApiError(
        404,
        NOT_FOUND,
        f"A record with the specified key values does not exist in {logical_name} entity. Key: "
        f"{values}",
    )


def unknown_property(logical_name: str, name: str) -> ApiError:
    """400 for $select/$filter/$orderby naming a column the table does not have."""
    message = f"Could not find a property named '{name}' on type '{entity_type(logical_name)}'."
    return ApiError(400, QUERY, message)


def payload(entity_set: str, inner: str) -> ApiError:
    """400 for a bad request body: the real service wraps the OData reader's message."""
    message = (
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', For more"
        " information on this error please follow this help link"
        f" https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException :"
        f" Microsoft.OData.ODataException: {inner}"
    )
    return ApiError(400, PAYLOAD, message)


def undeclared_property(entity_set: str, logical_name: str, name: str) -> ApiError:
    inner = (
        f"The property '{name}' does not exist on type '{entity_type(logical_name)}'. Make sure"
        " to only use property names that are defined by the type or mark the type as open type."
    )
    return payload(entity_set, inner)


def version_mismatch() -> ApiError:
    message = "The version of the existing record doesn't match the RowVersion property provided."
    return ApiError(412, VERSION_MISMATCH, message)


def already_exists() -> ApiError:
    """412 for ``If-None-Match: *`` on an existing row (message from the docs, code common)."""
    return ApiError(412, DUPLICATE_RECORD, "A record with matching key values already exists.")


def duplicate_key(key_name: str, columns: tuple[str, ...]) -> ApiError:
    message = (
        f"A record that has the attribute values {', '.join(columns)} already exists. The entity"
        f" key {key_name} requires that this set of attributes contains unique values. Select"
        " unique values and try again."
    )
    return ApiError(412, DUPLICATE_KEY, message)


def validation(message: str) -> ApiError:
    return ApiError(400, VALIDATION, f"A validation error occurred. {message}")


def bad_query(message: str, status: int = 400) -> ApiError:
    return ApiError(status, QUERY, message)


def expired_version() -> ApiError:
    """The change-tracking token is older than the retention (change-tracking page)."""
    message = "Version stamp associated with the client has expired. Please perform a full sync."
    return ApiError(400, EXPIRED_VERSION, message)

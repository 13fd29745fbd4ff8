"""Field values as F&O's OData layer reads them from a body and writes them back.

F&O has no nulls: an unset string is ``""``, a number ``0``, an enum its first member, a
date-time 1900-01-01 (X++'s empty date). Enums travel as member names (``"Yes"``); a name the
enum does not have is a 400 with the OData layer's text. Strings are stored as given (their
length is ``validateWrite``'s business, ``validation.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from emulators.fno import errors
from emulators.fno.definitions import Edm, EntityDef, FieldDef, Registry
from emulators.fno.literals import parse_datetime

EMPTY_DATETIME = "1900-01-01T00:00:00Z"
_NUMBERS = (Edm.INT, Edm.INT64, Edm.DECIMAL, Edm.REAL)


def default(field: FieldDef, registry: Registry) -> Any:
    """The value of a field no one has set."""
    if field.edm is Edm.STRING:
        return ""
    if field.edm is Edm.ENUM:
        return registry.enum_of(field).members[0][0]
    if field.edm is Edm.DATETIME:
        return EMPTY_DATETIME
    if field.edm is Edm.DATE:
        return "1900-01-01"
    return 0


def read_body(entity: EntityDef, body: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """The body's fields as stored values; 400 for an unknown property or a wrong value."""
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@odata.") or "@odata." in name:
            continue
        field = entity.field(name)
        if field is None:
            raise errors.bad_payload(
                f"The property '{name}' does not exist on type '{entity.qualified}'. Make sure"
                " to only use property names that are defined by the type."
            )
        values[name] = convert(field, value, registry)
    return values


def convert(field: FieldDef, value: Any, registry: Registry) -> Any:
    """One body value as stored; 400 naming the field when it does not fit its type."""
    if value is None:
        return default(field, registry)  # F&O stores the empty value of the type
    if field.edm is Edm.ENUM:
        return _member(field, value, registry)
    if field.edm is Edm.STRING and isinstance(value, str):
        return value
    if field.edm in _NUMBERS and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if field.edm in (Edm.INT, Edm.INT64) and value == int(value) else value
    if field.edm is Edm.DATETIME and isinstance(value, str):
        try:
            return format_datetime(parse_datetime(value))
        except errors.FnoError:
            pass
    if field.edm is Edm.DATE and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise errors.bad_payload(
        f"Cannot convert the literal '{value}' to the expected type '{field.edm.value}'"
        f" of the property '{field.name}'."
    )


def _member(field: FieldDef, value: Any, registry: Registry) -> str:
    enum = registry.enum_of(field)
    if isinstance(value, str) and value in enum.names():
        return value
    raise errors.bad_payload(
        f"The value '{value}' of the property '{field.name}' is not a valid member of the"
        f" enumeration type '{enum.qualified}'. Requested value '{value}' was not found."
    )


def stamp(entity: EntityDef) -> dict[str, Any]:
    """The entity's modified date-time set to now (nothing if it has none), as F&O's kernel
    sets ``ModifiedDateTime`` on every write whatever the body says."""
    if entity.modified_field is None:
        return {}
    return {entity.modified_field: format_datetime(dt.datetime.now(dt.UTC))}


def format_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

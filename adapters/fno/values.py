"""Field values: F&O OData JSON <-> the core's values (None, bool, int, float, str).

What the core sees, per field type (the ``Type`` of the field in ``$metadata``):

* ``Edm.String``: ``str``. F&O has no NULL strings: an empty field reads as ``""``, so ``""``
  is read as ``None`` and ``None`` is written as ``""`` (the shadows then compare equal with
  a side that has NULLs). A write longer than ``MaxLength`` is refused.
* An enum (``Microsoft.Dynamics.DataEntities.NoYes``): the member's name (``"Yes"``), in
  bodies as it is, in ``$filter`` as ``Microsoft.Dynamics.DataEntities.NoYes'Yes'``; a name
  that is not a member is refused.
* ``Edm.Int32``, ``Edm.Int64``, ``Edm.Byte``, ``Edm.Int16``: ``int``. ``Edm.Decimal``,
  ``Edm.Double``, ``Edm.Single``: ``float`` (an integral value may be written as ``int``).
* ``Edm.Boolean``: ``bool``. ``Edm.Guid``: the lower-case GUID.
* ``Edm.DateTimeOffset``: ``"2026-12-02T10:00:00Z"``; ``Edm.Date``: ``"2026-12-02"``. F&O's
  empty date is 1900-01-01 (``dateNull()``): it is read as ``None`` and ``None`` written so.

Every conversion is lossless or raises ``BadValue`` naming the entity, the field and the value.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from typing import Any

from replicator.adapter import Value
from replicator.errors import PermanentError

from .metadata import Property

EMPTY_DATETIME = "1900-01-01T00:00:00Z"
EMPTY_DATE = "1900-01-01"
_INTEGERS = ("Edm.Int32", "Edm.Int64", "Edm.Int16", "Edm.Byte", "Edm.SByte")
_NUMBERS = ("Edm.Decimal", "Edm.Double", "Edm.Single")


class BadValue(PermanentError):
    """A value that cannot cross between F&O and the core without loss."""


def from_fno(entity: str, prop: Property, raw: Any) -> Value:
    """The core's value for ``raw``, read from field ``prop`` of ``entity``."""
    if raw is None:
        return None
    try:
        return _read(prop, raw)
    except (ValueError, TypeError) as exc:
        raise _bad(entity, prop, raw, str(exc)) from None


def to_fno(entity: str, prop: Property, value: Value) -> Any:
    """The JSON value to send for ``value`` in field ``prop`` of ``entity``."""
    try:
        return _write(prop, value)
    except (ValueError, TypeError) as exc:
        raise _bad(entity, prop, value, str(exc)) from None


def literal(entity: str, prop: Property, value: Value) -> str:
    """``value`` as an OData literal for ``prop`` in a ``$filter`` or a key predicate:
    ``'O''Brien'``, ``42``, ``true``, ``Microsoft.Dynamics.DataEntities.NoYes'Yes'``."""
    sent = to_fno(entity, prop, value)
    if sent is None:
        return "null"
    if prop.enum:
        return f"{prop.type}'{sent}'"
    if isinstance(sent, bool):
        return "true" if sent else "false"
    if isinstance(sent, int | float):
        return repr(sent)
    if prop.type in ("Edm.DateTimeOffset", "Edm.Date", "Edm.Guid"):
        return str(sent)
    return "'" + str(sent).replace("'", "''") + "'"


def _read(prop: Property, raw: Any) -> Value:
    kind = prop.type
    if prop.enum or kind == "Edm.String":
        if not isinstance(raw, str):
            raise TypeError("expected a string")
        return raw or None
    if kind in _INTEGERS:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise TypeError("expected an integer")
        return raw
    if kind in _NUMBERS:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise TypeError("expected a number")
        return float(raw)
    if kind == "Edm.Boolean":
        if not isinstance(raw, bool):
            raise TypeError("expected true or false")
        return raw
    if kind == "Edm.DateTimeOffset":
        moment = _moment(str(raw))
        return None if moment == EMPTY_DATETIME else moment
    if kind == "Edm.Date":
        day = date.fromisoformat(str(raw)[:10]).isoformat()
        return None if day == EMPTY_DATE else day
    if kind == "Edm.Guid":
        return str(uuid.UUID(str(raw)))
    return raw if isinstance(raw, str | int | float | bool) else str(raw)


def _write(prop: Property, value: Value) -> Any:
    kind = prop.type
    if prop.enum:
        if value is None:
            return None
        if not isinstance(value, str) or value not in (prop.members or ()):
            raise ValueError(f"not a member of {kind} ({', '.join(prop.members or ())})")
        return value
    if kind == "Edm.String":
        text = "" if value is None else value
        if not isinstance(text, str):
            raise TypeError("expected a string")
        if prop.max_length is not None and len(text) > prop.max_length:
            raise ValueError(f"longer than the field's {prop.max_length} characters")
        return text
    if value is None:
        if kind == "Edm.DateTimeOffset":
            return EMPTY_DATETIME
        return EMPTY_DATE if kind == "Edm.Date" else None
    if kind in _INTEGERS:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected an integer")
        return value
    if kind in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError("expected a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    if kind == "Edm.Boolean":
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if kind == "Edm.DateTimeOffset":
        return _moment(str(value), need_zone=True)
    if kind == "Edm.Date":
        return date.fromisoformat(str(value)[:10]).isoformat()
    if kind == "Edm.Guid":
        return str(uuid.UUID(str(value)))
    return value


def _moment(text: str, *, need_zone: bool = False) -> str:
    """ISO 8601 in UTC with whole seconds (``Z``), as F&O gives it."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        if need_zone:
            raise ValueError("a time without an offset (its zone is unknown)")
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bad(entity: str, prop: Property, value: Any, why: str) -> BadValue:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return BadValue(f"entity {entity!r}, field {prop.name!r} ({prop.type}): {shown}: {why}")

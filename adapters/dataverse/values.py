"""Column values: Dataverse JSON <-> the core's values (None, bool, int, float, str).

Every conversion is lossless or raises ``BadValue`` naming the entity, the column and
the value. What the core sees, per column type:

* String, Memo: ``str`` (a write longer than ``MaxLength`` is refused).
* Integer, BigInt: ``int`` (a float with a fraction, or a value out of the column's
  range, is refused). Picklist, State, Status: ``int`` (the option's value).
* MultiSelectPicklist: the ``str`` Dataverse sends, ``"1,2,3"``; a write takes that form
  (or one ``int``).
* Money, Decimal, Double: ``float`` (an integral value may be written as ``int``). The
  digits are compared as ``Decimal``: a write with more digits after the point than the
  column's precision is refused (Dataverse would round it, and the echo would differ),
  and so is one a JSON number (an IEEE double) cannot carry exactly.
* Boolean: ``bool``.
* DateTime: ``"2026-12-02T10:00:00Z"`` (UTC, whole seconds: Dataverse keeps no fraction);
  a DateOnly column: ``"2026-12-02"``. A write may carry any ISO 8601 offset (converted
  to UTC); a time without an offset is refused (its zone is unknown).
* Uniqueidentifier and lookups: the lower-case GUID string.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from replicator.adapter import Value
from replicator.errors import PermanentError

from .metadata import LOOKUPS, Column

MONEY_PRECISION = 4  # Dataverse stores money with four decimals whatever the display precision
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_CHOICES = re.compile(r"^-?\d+(,-?\d+)*$")
_NUMBERS = ("Money", "Decimal", "Double")
_INTEGERS = ("Integer", "BigInt", "Picklist", "State", "Status")


class BadValue(PermanentError):
    """A value that cannot cross between Dataverse and the core without loss."""


def from_dataverse(entity: str, column: Column, raw: Any) -> Value:
    """The core's value for ``raw``, read from ``column`` of ``entity``."""
    if raw is None:
        return None
    try:
        return _read(column, raw)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise _bad(entity, column, raw, str(exc)) from None


def to_dataverse(entity: str, column: Column, value: Value) -> Any:
    """The JSON value to send for ``value`` in ``column`` of ``entity``."""
    if value is None:
        return None
    try:
        return _write(column, value)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise _bad(entity, column, value, str(exc)) from None


def _bad(entity: str, column: Column, value: Any, why: str) -> BadValue:
    return BadValue(f"entity {entity!r}, column {column.name!r} ({column.type}): {value!r}: {why}")


# -- reading ----------------------------------------------------------------------------


def _read(column: Column, raw: Any) -> Value:
    kind = column.type
    if kind in ("String", "Memo", "MultiSelectPicklist"):
        return _expect(raw, str)
    if kind in _INTEGERS:
        return _integer(raw)
    if kind in _NUMBERS:
        return _float(_decimal(raw))
    if kind == "Boolean":
        return _expect(raw, bool)
    if kind == "DateTime":
        return _date(raw) if column.date_only else _datetime(raw)
    if kind == "Uniqueidentifier" or kind in LOOKUPS:
        return _guid(raw)
    raise ValueError(f"the dataverse adapter does not replicate {kind} columns")


def _expect(raw: Any, kind: type) -> Any:
    if not isinstance(raw, kind):
        raise TypeError(f"expected a {kind.__name__}, got a {type(raw).__name__}")
    return raw


# -- writing ----------------------------------------------------------------------------


def _write(column: Column, value: Value) -> Any:
    kind = column.type
    if kind in ("String", "Memo"):
        return _text(column, value)
    if kind == "MultiSelectPicklist":
        return _choices(value)
    if kind in _INTEGERS:
        return _bounded(column, _integer(value))
    if kind in _NUMBERS:
        return _number(column, value)
    if kind == "Boolean":
        return _boolean(value)
    if kind == "DateTime":
        return _date(value) if column.date_only else _datetime(value)
    if kind == "Uniqueidentifier" or kind in LOOKUPS:
        return _guid(value)
    raise ValueError(f"the dataverse adapter does not replicate {kind} columns")


def _text(column: Column, value: Value) -> str:
    text = _expect(value, str)
    if column.max_length is not None and len(text) > column.max_length:
        raise ValueError(f"{len(text)} characters, the column holds at most {column.max_length}")
    return str(text)


def _choices(value: Value) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = _expect(value, str).replace(" ", "")
    if not _CHOICES.match(text):
        raise ValueError("expected option values separated by commas, e.g. '1,2,3'")
    return str(text)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise TypeError(f"expected an integer, got a {type(value).__name__}")


def _bounded(column: Column, number: int) -> int:
    low, high = _INT64 if column.type == "BigInt" else _INT32
    if column.min_value is not None:
        low = max(low, math.ceil(column.min_value))
    if column.max_value is not None:
        high = min(high, math.floor(column.max_value))
    if not low <= number <= high:
        raise ValueError(f"out of the column's range {low}..{high}")
    return number


def _decimal(value: Any) -> Decimal:
    """The exact decimal a JSON number (or numeric string) denotes."""
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return Decimal(repr(value))  # the shortest decimal that reads back as this float
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value.strip())
    raise TypeError(f"expected a number, got a {type(value).__name__}")


def _float(number: Decimal) -> float:
    as_float = float(number)
    if Decimal(repr(as_float)) != number:
        raise ValueError("more significant digits than a JSON number (a double) carries exactly")
    return as_float


def _number(column: Column, value: Value) -> int | float:
    number = _decimal(value)
    if not number.is_finite():
        raise ValueError("not a finite number")
    places = column.precision
    if places is None and column.type == "Money":
        places = MONEY_PRECISION
    exponent = number.normalize().as_tuple().exponent
    if places is not None and isinstance(exponent, int) and -exponent > places:
        raise ValueError(f"more than {places} digits after the point (the column's precision)")
    if column.min_value is not None and number < Decimal(repr(column.min_value)):
        raise ValueError(f"below the column's minimum {column.min_value}")
    if column.max_value is not None and number > Decimal(repr(column.max_value)):
        raise ValueError(f"above the column's maximum {column.max_value}")
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    return _float(number)


def _boolean(value: Value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"expected a bool, got {type(value).__name__}")


def _datetime(value: Any) -> str:
    text = _expect(value, str).strip()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a date and time needs a UTC offset (e.g. 'Z')")
    if moment.microsecond:
        raise ValueError("Dataverse keeps whole seconds: the fraction would be lost")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: Any) -> str:
    text = _expect(value, str).strip()
    if len(text) == 10:
        return date.fromisoformat(text).isoformat()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        raise ValueError("the column holds a date only: the time of day would be lost")
    return moment.date().isoformat()


def _guid(value: Any) -> str:
    text = _expect(value, str)
    return str(uuid.UUID(text.strip()))

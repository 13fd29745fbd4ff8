"""Check and normalise a value written to a column, as the Web API's OData reader and the
platform's validation do: JSON type by the column's Edm type, length, range, precision,
option values, date formats. Lookups are resolved by ``writes`` (they need the store).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from emulators.dataverse import errors
from emulators.dataverse.schema import Column
from emulators.dataverse.tableinfo import TableInfo

EDM = {
    "String": "Edm.String",
    "Memo": "Edm.String",
    "Integer": "Edm.Int32",
    "BigInt": "Edm.Int64",
    "Decimal": "Edm.Decimal",
    "Money": "Edm.Decimal",
    "Double": "Edm.Double",
    "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset",
    "Uniqueidentifier": "Edm.Guid",
    "Picklist": "Edm.Int32",
    "State": "Edm.Int32",
    "Status": "Edm.Int32",
    "MultiSelectPicklist": "Edm.String",
}
# The platform's default ranges where a column declares none.
DEFAULT_RANGE = {
    "Integer": (-2147483648.0, 2147483647.0),
    "BigInt": (-9223372036854775808.0, 9223372036854775807.0),
    "Money": (-922337203685477.0, 922337203685477.0),
    "Decimal": (-100000000000.0, 100000000000.0),
    "Double": (-100000000000.0, 100000000000.0),
}
DEFAULT_PRECISION = {"Money": 2, "Decimal": 2, "Double": 5}
DEFAULT_MAX_LENGTH = {"String": 100, "Memo": 2000}


def check(info: TableInfo, column: Column, value: Any) -> Any:
    """The stored form of ``value`` for ``column``; ApiError (400) if the service refuses it."""
    if value is None:
        return None
    kind = column.type
    if kind in ("String", "Memo"):
        return _string(info, column, _typed(info, column, value, str))
    if kind in ("Integer", "BigInt"):
        return _ranged(info, column, _integer(info, column, value))
    if kind in ("Decimal", "Money", "Double"):
        return _ranged(info, column, _number(info, column, value))
    if kind == "Boolean":
        return _typed(info, column, value, bool)
    if kind == "DateTime":
        return _datetime(info, column, _typed(info, column, value, str))
    if kind == "Uniqueidentifier":
        return _guid(info, column, _typed(info, column, value, str))
    if kind in ("Picklist", "State", "Status"):
        return _option(info, column, _integer(info, column, value))
    if kind == "MultiSelectPicklist":
        return _options(info, column, _typed(info, column, value, str))
    raise _convert_error(info, column, value)


def _convert_error(info: TableInfo, column: Column, value: Any) -> errors.ApiError:
    edm = EDM.get(column.type, "Edm.Guid")
    if isinstance(value, str):
        return errors.payload(
            info.entity_set, f"Cannot convert the literal '{value}' to the expected type '{edm}'."
        )
    inner = (
        f"Cannot convert a primitive value to the expected type '{edm}'. See the inner "
        "exception for more details."
    )
    return errors.payload(info.entity_set, inner)


def _typed(info: TableInfo, column: Column, value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _convert_error(info, column, value)
    return value


def _integer(info: TableInfo, column: Column, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _convert_error(info, column, value)
    return value


def _number(info: TableInfo, column: Column, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _convert_error(info, column, value)
    precision = column.precision if column.precision is not None else DEFAULT_PRECISION[column.type]
    return value if isinstance(value, int) else round(value, precision)


def _string(info: TableInfo, column: Column, value: str) -> str:
    limit = column.max_length or DEFAULT_MAX_LENGTH[column.type]
    if len(value) > limit:
        raise errors.validation(
            f"The length of the '{column.logical_name}' attribute of the '{info.logical_name}'"
            f" entity exceeded the maximum allowed length of '{limit}'."
        )
    return value


def _ranged(info: TableInfo, column: Column, value: int | float) -> int | float:
    low, high = DEFAULT_RANGE[column.type]
    low = column.min_value if column.min_value is not None else low
    high = column.max_value if column.max_value is not None else high
    if not low <= value <= high:
        raise errors.validation(
            f"The value {value} of '{column.logical_name}' on record of type"
            f" '{info.logical_name}' is outside the valid range. Accepted range: {_num(low)} to"
            f" {_num(high)}"
        )
    return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _option(info: TableInfo, column: Column, value: int) -> int:
    if value not in column.options:
        raise errors.validation(
            f"The value {value} of '{column.logical_name}' on record of type"
            f" '{info.logical_name}' is outside the valid range."
        )
    return value


def _options(info: TableInfo, column: Column, value: str) -> str | None:
    if value == "":
        return None
    try:
        chosen = [int(part) for part in value.split(",")]
    except ValueError:
        raise _convert_error(info, column, value) from None
    for option in chosen:
        _option(info, column, option)
    return ",".join(str(option) for option in chosen)


def _datetime(info: TableInfo, column: Column, value: str) -> str:
    try:
        if column.date_format == "DateOnly" and len(value) == 10:
            return dt.date.fromisoformat(value).isoformat()
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _convert_error(info, column, value) from None
    if column.date_format == "DateOnly":
        return moment.date().isoformat()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(info: TableInfo, column: Column, value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _convert_error(info, column, value) from None

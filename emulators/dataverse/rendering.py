"""Row properties as the Web API renders them: ``$select``, the ``@odata.etag``, and the
annotations ``Prefer: odata.include-annotations`` asks for (``query-data-web-api.md``:
``OData.Community.Display.V1.FormattedValue``, ``Microsoft.Dynamics.CRM.lookuplogicalname``,
``Microsoft.Dynamics.CRM.associatednavigationproperty``), and nothing else unless asked.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from typing import Any

from emulators.dataverse import errors
from emulators.dataverse.call import etag
from emulators.dataverse.schema import Column
from emulators.dataverse.tableinfo import LOOKUP_TYPES, TableInfo, nav_properties
from emulators.dataverse.tables import Tables

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"


def selected(info: TableInfo, select: str | None) -> list[str]:
    """The row keys ``$select`` names (all columns without it); 400 for an unknown one."""
    if not select:
        return list(info.by_wire)
    names = [name.strip() for name in select.split(",") if name.strip()]
    for name in names:
        if name not in info.by_wire:
            raise errors.unknown_property(info.logical_name, name)
    if info.primary_id not in names:
        names.append(info.primary_id)
    money = any(info.by_wire[name].type == "Money" for name in names)
    if money and "_transactioncurrencyid_value" in info.by_wire:
        # query-data-web-api.md: asking for a money value returns its currency lookup too
        names.append("_transactioncurrencyid_value")
    return list(dict.fromkeys(names))


def wanted(patterns: str | None) -> list[str]:
    """The annotation name patterns of an ``odata.include-annotations`` preference."""
    return [p.strip() for p in (patterns or "").split(",") if p.strip()]


def render(
    db: Tables, info: TableInfo, row: dict[str, Any], names: list[str], patterns: list[str]
) -> dict[str, Any]:
    """The JSON object of one row: etag, the selected properties and the asked annotations."""
    out: dict[str, Any] = {"@odata.etag": etag(row)}
    for name in names:
        value = row.get(name)
        if patterns and value is not None:
            out.update(_annotations(db, info, info.by_wire[name], name, row, patterns))
        out[name] = value
    return out


def _asked(patterns: list[str], annotation: str) -> bool:
    return any(fnmatch.fnmatchcase(annotation, pattern) for pattern in patterns)


def _annotations(
    db: Tables, info: TableInfo, column: Column, name: str, row: dict[str, Any], patterns: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    value = row[name]
    if column.type in LOOKUP_TYPES:
        target = _target(db, info, column, row)
        if _asked(patterns, NAVIGATION):
            navs = [n for n, t in nav_properties(column).items() if t == target]
            out[f"{name}@{NAVIGATION}"] = navs[0] if navs else column.logical_name
        if _asked(patterns, LOOKUP_NAME):
            out[f"{name}@{LOOKUP_NAME}"] = target
    formatted = _formatted(db, column, value, row, info)
    if formatted is not None and _asked(patterns, FORMATTED):
        out[f"{name}@{FORMATTED}"] = formatted
    return out


def _target(db: Tables, info: TableInfo, column: Column, row: dict[str, Any]) -> str:
    if len(column.targets) == 1:
        return column.targets[0]
    stored = db.store(info.logical_name).lookup_targets.get(row[info.primary_id], {})
    return stored.get(f"_{column.logical_name}_value", column.targets[0])


def _formatted(
    db: Tables, column: Column, value: Any, row: dict[str, Any], info: TableInfo
) -> str | None:
    kind = column.type
    if kind in LOOKUP_TYPES:
        target = _target(db, info, column, row)
        if not db.has(target):
            return None
        store = db.store(target)
        referenced = store.rows.get(value)
        return referenced.get(store.info.table.primary_name) if referenced else None
    if kind in ("Picklist", "State", "Status"):
        return column.options.get(value)
    if kind == "MultiSelectPicklist":
        return "; ".join(column.options.get(int(v), v) for v in str(value).split(","))
    if kind == "Boolean":
        return "Yes" if value else "No"
    if kind == "Money":
        return f"${value:,.2f}"
    if kind in ("Integer", "BigInt", "Decimal", "Double"):
        return f"{value:,}"
    if kind == "DateTime":
        return _formatted_date(str(value))
    return None


def _formatted_date(value: str) -> str:
    """US English, as the service formats for a user with default settings: 12/2/2026 6:52 AM."""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    day = f"{moment.month}/{moment.day}/{moment.year}"
    if len(value) == 10:
        return day
    hour = moment.hour % 12 or 12
    return f"{day} {hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"

"""The shape of an emulated Dataverse table: columns, alternate keys, lookups.

The server adds the system columns itself (primary id, createdon, modifiedon, versionnumber,
_createdby_value/_modifiedby_value, statecode/statuscode); a Table lists the others.
"""

from __future__ import annotations

from typing import Literal

import msgspec

ColumnType = Literal[
    "String",
    "Memo",
    "Integer",
    "BigInt",
    "Decimal",
    "Double",
    "Money",
    "Boolean",
    "DateTime",
    "Uniqueidentifier",
    "Lookup",
    "Customer",
    "Owner",
    "Picklist",
    "MultiSelectPicklist",
    "State",
    "Status",
]


class Column(msgspec.Struct, frozen=True, kw_only=True):
    """One column of a table, as its attribute metadata describes it."""

    logical_name: str
    type: ColumnType
    max_length: int | None = None  # String/Memo
    precision: int | None = None  # Decimal/Money/Double: digits after the point
    min_value: float | None = None
    max_value: float | None = None
    options: dict[int, str] = {}  # Picklist/MultiSelectPicklist/State/Status: value -> label
    targets: tuple[str, ...] = ()  # Lookup/Customer/Owner: referenced tables' logical names
    nav_property: str | None = None  # Lookup: ReferencingEntityNavigationPropertyName
    date_behavior: Literal["UserLocal", "DateOnly", "TimeZoneIndependent"] = "UserLocal"
    date_format: Literal["DateOnly", "DateAndTime"] = "DateAndTime"
    required: bool = False  # ApplicationRequired
    read_only: bool = False  # e.g. createdon, versionnumber, modifiedby


class AlternateKey(msgspec.Struct, frozen=True, kw_only=True):
    """An alternate key: the columns whose values identify a row."""

    logical_name: str
    columns: tuple[str, ...]


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """One table: its names, its columns (without the system columns) and its keys."""

    logical_name: str  # account
    entity_set: str  # accounts
    primary_id: str  # accountid
    primary_name: str  # name
    columns: tuple[Column, ...]
    keys: tuple[AlternateKey, ...] = ()
    change_tracking: bool = True

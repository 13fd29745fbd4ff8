"""Table definitions: the ``EntityDefinitions`` JSON of the Web API as a typed model, and
what ``check`` finds wrong with a map's entity against it.

One definition is read per mapped entity set (``EntityDefinitions?$filter=EntitySetName eq
'accounts'`` with ``Attributes``, ``Keys`` and ``ManyToOneRelationships`` expanded), and
one per table a lookup refers to (by ``LogicalName``). An expanded attribute carries only
the properties every attribute shares (the docs: "Querying EntityMetadata attributes");
``MaxLength``, ``Precision``, ``MinValue``/``MaxValue``, ``Format`` and
``DateTimeBehavior`` come from the derived types, read by casting the collection
(``Attributes/Microsoft.Dynamics.CRM.MoneyAttributeMetadata``) when the expanded entry
lacks them (``derived_queries``/``merge_derived``).

A map's field is a column's logical name, or ``<lookup column>.<column of the referenced
table>`` (a *dotted* field: the value of that column in the referenced row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

SUPPORTED = frozenset(
    {
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
        "State",
        "Status",
        "MultiSelectPicklist",
    }
)
"""The column types the adapter replicates (``values.py`` converts each both ways)."""

LOOKUPS = frozenset({"Lookup", "Customer", "Owner"})

# The derived metadata type holding each type's own properties, and those we read.
DERIVED: dict[str, tuple[str, tuple[str, ...]]] = {
    "String": ("StringAttributeMetadata", ("MaxLength",)),
    "Memo": ("MemoAttributeMetadata", ("MaxLength",)),
    "Integer": ("IntegerAttributeMetadata", ("MinValue", "MaxValue")),
    "BigInt": ("BigIntAttributeMetadata", ("MinValue", "MaxValue")),
    "Decimal": ("DecimalAttributeMetadata", ("Precision", "MinValue", "MaxValue")),
    "Double": ("DoubleAttributeMetadata", ("Precision", "MinValue", "MaxValue")),
    "Money": ("MoneyAttributeMetadata", ("Precision", "MinValue", "MaxValue")),
    "DateTime": ("DateTimeAttributeMetadata", ("Format", "DateTimeBehavior")),
}

TRACK_CHANGES_HINT = (
    "turn on Track changes in the table's properties in make.powerapps.com "
    "(or set ChangeTrackingEnabled on its definition)"
)


class Column(msgspec.Struct, frozen=True, kw_only=True):
    """One column (attribute) of a table, as far as replication needs it."""

    name: str
    type: str
    max_length: int | None = None
    precision: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    date_only: bool = False
    targets: tuple[str, ...] = ()
    writable: bool = True


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    """A many-to-one relationship: ``column`` refers to ``target``'s ``target_id``."""

    column: str
    target: str
    target_id: str
    nav_property: str


class Key(msgspec.Struct, frozen=True, kw_only=True):
    """An alternate key: the columns whose values name one row."""

    name: str
    columns: tuple[str, ...]
    status: str = "Active"


class Table(msgspec.Struct, frozen=True, kw_only=True):
    """A table definition: names, columns, alternate keys, lookups, change tracking."""

    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str | None
    change_tracking: bool
    columns: dict[str, Column]
    keys: tuple[Key, ...] = ()
    references: dict[str, tuple[Reference, ...]] = {}


# -- parsing ----------------------------------------------------------------------------


def definition_query(
    *, entity_set: str | None = None, logical_name: str | None = None
) -> tuple[str, dict[str, str]]:
    """The URL (relative to the API) and parameters of one table's definition."""
    params = {
        "$select": "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,"
        "ChangeTrackingEnabled",
        "$expand": "Attributes,Keys,ManyToOneRelationships",
    }
    if entity_set is not None:
        return "EntityDefinitions", {"$filter": f"EntitySetName eq '{entity_set}'", **params}
    return f"EntityDefinitions(LogicalName='{logical_name}')", params


def parse_table(entry: Mapping[str, Any]) -> Table:
    """A ``Table`` from one ``EntityDefinitions`` entry (``KeyError`` if it is not one)."""
    columns = {c.name: c for c in map(parse_column, entry.get("Attributes") or ())}
    references: dict[str, list[Reference]] = {}
    for rel in entry.get("ManyToOneRelationships") or ():
        ref = Reference(
            column=rel["ReferencingAttribute"],
            target=rel["ReferencedEntity"],
            target_id=rel.get("ReferencedAttribute") or "",
            nav_property=rel.get("ReferencingEntityNavigationPropertyName") or "",
        )
        references.setdefault(ref.column, []).append(ref)
    keys = tuple(
        Key(
            name=k["LogicalName"],
            columns=tuple(k.get("KeyAttributes") or ()),
            status=k.get("EntityKeyIndexStatus") or "Active",
        )
        for k in entry.get("Keys") or ()
    )
    return Table(
        logical_name=entry["LogicalName"],
        entity_set=entry.get("EntitySetName") or "",
        primary_id=entry["PrimaryIdAttribute"],
        primary_name=entry.get("PrimaryNameAttribute"),
        change_tracking=bool(entry.get("ChangeTrackingEnabled")),
        columns=columns,
        keys=keys,
        references={c: tuple(refs) for c, refs in references.items()},
    )


def parse_column(attr: Mapping[str, Any]) -> Column:
    """A ``Column`` from one attribute definition (common and, if there, derived properties)."""
    kind = str(attr.get("AttributeType") or "")
    type_name = _value(attr.get("AttributeTypeName"))
    if kind == "Virtual" and type_name and type_name.endswith("Type"):
        kind = type_name[: -len("Type")]  # MultiSelectPicklist, Image, File: "Virtual" types
    behavior = _value(attr.get("DateTimeBehavior"))
    writable = (
        attr.get("IsValidForCreate") is not False or attr.get("IsValidForUpdate") is not False
    )
    return Column(
        name=attr["LogicalName"],
        type=kind,
        max_length=_int(attr.get("MaxLength")),
        precision=_int(attr.get("Precision")),
        min_value=_number(attr.get("MinValue")),
        max_value=_number(attr.get("MaxValue")),
        date_only=attr.get("Format") == "DateOnly" or behavior == "DateOnly",
        targets=tuple(attr.get("Targets") or ()),
        writable=writable,
    )


def derived_queries(table: Table, wanted: Iterable[str]) -> dict[str, tuple[str, dict[str, str]]]:
    """Per derived type: the cast query for the properties the ``wanted`` columns lack."""
    queries: dict[str, tuple[str, dict[str, str]]] = {}
    for name in wanted:
        column = table.columns.get(name.partition(".")[0])
        if column is None or column.type not in DERIVED or _has_derived(column):
            continue
        cast, props = DERIVED[column.type]
        url = (
            f"EntityDefinitions(LogicalName='{table.logical_name}')/Attributes/"
            f"Microsoft.Dynamics.CRM.{cast}"
        )
        queries[cast] = (url, {"$select": f"LogicalName,{','.join(props)}"})
    return queries


def merge_derived(table: Table, entries: Iterable[Mapping[str, Any]]) -> Table:
    """``table`` with the derived properties of ``entries`` (cast query results) merged in."""
    columns = dict(table.columns)
    for entry in entries:
        old = columns.get(entry.get("LogicalName", ""))
        if old is None:
            continue
        behavior = _value(entry.get("DateTimeBehavior"))
        columns[old.name] = msgspec.structs.replace(
            old,
            max_length=_int(entry.get("MaxLength"), old.max_length),
            precision=_int(entry.get("Precision"), old.precision),
            min_value=_number(entry.get("MinValue"), old.min_value),
            max_value=_number(entry.get("MaxValue"), old.max_value),
            date_only=old.date_only or entry.get("Format") == "DateOnly" or behavior == "DateOnly",
        )
    return msgspec.structs.replace(table, columns=columns)


def _has_derived(column: Column) -> bool:
    if column.type in ("String", "Memo"):
        return column.max_length is not None
    if column.type in ("Decimal", "Double", "Money"):
        return column.precision is not None
    if column.type == "DateTime":
        return column.date_only  # a DateAndTime column cannot tell: asked again, cheaply
    return column.min_value is not None or column.max_value is not None


def _value(prop: Any) -> str | None:
    """The ``Value`` of a managed property or enum complex type (or the plain string)."""
    if isinstance(prop, Mapping):
        value = prop.get("Value")
        return None if value is None else str(value)
    return None if prop is None else str(prop)


def _int(value: Any, default: int | None = None) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _number(value: Any, default: float | None = None) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default

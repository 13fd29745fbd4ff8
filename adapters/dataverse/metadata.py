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

from replicator.adapter import EntitySpec

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


def definition_query(*, entity_set: str | None = None, logical_name: str | None = None) -> str:
    """The URL (relative to the API) of one table's definition, by set or logical name."""
    select = "$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute"
    select += ",ChangeTrackingEnabled&$expand=Attributes,Keys,ManyToOneRelationships"
    if entity_set is not None:
        return f"EntityDefinitions?$filter=EntitySetName eq '{entity_set}'&{select}"
    return f"EntityDefinitions(LogicalName='{logical_name}')?{select}"


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


def derived_queries(table: Table, wanted: Iterable[str]) -> dict[str, str]:
    """Per derived type: the cast query for the properties the ``wanted`` columns lack."""
    queries: dict[str, str] = {}
    for name in wanted:
        column = table.columns.get(name)
        if column is None or column.type not in DERIVED or _has_derived(column):
            continue
        cast, props = DERIVED[column.type]
        queries[cast] = (
            f"EntityDefinitions(LogicalName='{table.logical_name}')/Attributes/"
            f"Microsoft.Dynamics.CRM.{cast}?$select=LogicalName,{','.join(props)}"
        )
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


# -- a map's fields against the definitions ----------------------------------------------


class Field(msgspec.Struct, frozen=True, kw_only=True):
    """How one field of a map is read and written on this side."""

    name: str
    column: Column
    reference: Reference | None = None  # the lookup (a plain lookup field, or a dotted one's)
    target_column: Column | None = None  # a dotted field's column in the referenced table
    target: Table | None = None

    @property
    def dotted(self) -> bool:
        return self.target_column is not None

    @property
    def select(self) -> str:
        """The property to ``$select`` for this field."""
        return f"_{self.column.name}_value" if self.column.type in LOOKUPS else self.column.name


def lookup_targets(table: Table, fields: Iterable[str]) -> set[str]:
    """The logical names of the tables the lookup columns among ``fields`` refer to."""
    targets: set[str] = set()
    for name in fields:
        column = table.columns.get(name.partition(".")[0])
        if column is not None and column.type in LOOKUPS:
            targets.update(ref.target for ref in table.references.get(column.name, ()))
            targets.update(column.targets)
    return targets


def resolve_fields(
    spec: EntitySpec, table: Table, tables: Mapping[str, Table]
) -> tuple[dict[str, Field], list[str]]:
    """Each field of ``spec`` (fields and key fields) resolved, and every problem found."""
    fields: dict[str, Field] = {}
    problems: list[str] = []
    for name in dict.fromkeys((*spec.key_fields, *spec.fields)):
        found = _resolve(name, table, tables)
        if isinstance(found, str):
            problems.append(found)
        else:
            fields[name] = found
    problems.extend(key_problems(spec, table))
    if not table.change_tracking:
        problems.append(
            f"table {table.logical_name!r} does not track changes: {TRACK_CHANGES_HINT}"
        )
    return fields, problems


def _resolve(name: str, table: Table, tables: Mapping[str, Table]) -> Field | str:
    head, dot, tail = name.partition(".")
    column = table.columns.get(head)
    if column is None:
        near = _near(head, table)
        return f"field {name!r}: table {table.logical_name!r} has no column {head!r}{near}"
    if column.type not in SUPPORTED:
        return f"field {name!r}: the adapter does not replicate {column.type} columns"
    if column.type not in LOOKUPS:
        if dot:
            return (
                f"field {name!r}: column {head!r} is a {column.type}, not a lookup: drop '.{tail}'"
            )
        return Field(name=name, column=column)
    refs = table.references.get(head, ())
    targets = sorted({r.target for r in refs} | set(column.targets))
    if len(refs) != 1 or len(targets) != 1:
        shown = ", ".join(targets) or "none"
        return f"field {name!r}: lookup {head!r} must refer to one table (it refers to: {shown})"
    ref = refs[0]
    target = tables.get(ref.target)
    if target is None:
        return f"field {name!r}: the table {ref.target!r} that lookup {head!r} refers to is missing"
    if not dot:
        return Field(name=name, column=column, reference=ref, target=target)
    target_column = target.columns.get(tail)
    if (
        target_column is None
        or target_column.type in LOOKUPS
        or target_column.type not in SUPPORTED
    ):
        why = "has no column" if target_column is None else "cannot match on its column"
        return f"field {name!r}: table {ref.target!r} (lookup {head!r}) {why} {tail!r}"
    return Field(
        name=name, column=column, reference=ref, target_column=target_column, target=target
    )


def key_problems(spec: EntitySpec, table: Table) -> list[str]:
    """The key fields must be exactly the columns of one active alternate key."""
    if not spec.key_fields:
        return []
    wanted = {f.partition(".")[0] for f in spec.key_fields}
    for key in table.keys:
        if set(key.columns) == wanted:
            if key.status != "Active":
                return [f"alternate key {key.name!r} is not active yet (status {key.status})"]
            return []
    listed = "; ".join(f"{k.name} ({', '.join(k.columns)})" for k in table.keys) or "none"
    columns = ", ".join(sorted(wanted))
    return [
        f"key ({columns}): no alternate key of table {table.logical_name!r} has exactly "
        f"these columns (its keys: {listed})"
    ]


def _near(name: str, table: Table) -> str:
    lowered = name.lower()
    if lowered != name and lowered in table.columns:
        return f" (logical names are lower case: {lowered!r})"
    return ""


def entity_problem(entity: str) -> str:
    """The message for an entity set that no table has."""
    return (
        f"entity {entity!r}: no table has this entity set name (a map names a table by its "
        "entity set name, e.g. 'accounts')"
    )

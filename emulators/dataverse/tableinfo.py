"""A table as the server sees it: its declared columns plus the system columns, by name.

Every Dataverse table has its primary id, ``createdon``/``modifiedon``, ``versionnumber``,
``createdby``/``modifiedby`` (lookups to systemuser) and ``statecode``/``statuscode``; a
``schema.Table`` lists only the others, and ``TableInfo`` adds these unless declared.
Lookups read as ``_<column>_value`` and are written through their navigation property.
"""

from __future__ import annotations

from collections.abc import Sequence

from emulators.dataverse.schema import AlternateKey, Column, Table

LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
OPTION_TYPES = frozenset({"Picklist", "MultiSelectPicklist", "State", "Status"})


def _system_columns(table: Table) -> tuple[Column, ...]:
    return (
        Column(logical_name=table.primary_id, type="Uniqueidentifier"),
        Column(logical_name="createdon", type="DateTime", read_only=True),
        Column(logical_name="modifiedon", type="DateTime", read_only=True),
        Column(logical_name="versionnumber", type="BigInt", read_only=True),
        Column(
            logical_name="createdby",
            type="Lookup",
            targets=("systemuser",),
            nav_property="createdby",
            read_only=True,
        ),
        Column(
            logical_name="modifiedby",
            type="Lookup",
            targets=("systemuser",),
            nav_property="modifiedby",
            read_only=True,
        ),
        Column(logical_name="statecode", type="State", options={0: "Active", 1: "Inactive"}),
        Column(logical_name="statuscode", type="Status", options={1: "Active", 2: "Inactive"}),
    )


def wire_name(column: Column) -> str:
    """The property a row carries for the column: ``_x_value`` for a lookup."""
    return f"_{column.logical_name}_value" if column.type in LOOKUP_TYPES else column.logical_name


def nav_properties(column: Column) -> dict[str, str]:
    """Navigation property -> target table. A lookup with several targets (Customer, Owner)
    has one per target, ``<nav>_<target>``, as the real service names them."""
    nav = column.nav_property or column.logical_name
    if len(column.targets) == 1:
        return {nav: column.targets[0]}
    return {f"{nav}_{target}": target for target in column.targets}


class TableInfo:
    """A table with all its columns, found by logical name, wire name or navigation property."""

    def __init__(self, table: Table) -> None:
        self.table = table
        declared = {column.logical_name for column in table.columns}
        system = [c for c in _system_columns(table) if c.logical_name not in declared]
        self.columns: dict[str, Column] = {c.logical_name: c for c in (*table.columns, *system)}
        self.by_wire: dict[str, Column] = {wire_name(c): c for c in self.columns.values()}
        self.navigation: dict[str, tuple[Column, str]] = {}
        for column in self.columns.values():
            if column.type in LOOKUP_TYPES:
                for nav, target in nav_properties(column).items():
                    self.navigation[nav] = (column, target)

    @property
    def logical_name(self) -> str:
        return self.table.logical_name

    @property
    def entity_set(self) -> str:
        return self.table.entity_set

    @property
    def primary_id(self) -> str:
        return self.table.primary_id

    def key_for(self, names: Sequence[str]) -> AlternateKey | None:
        """The alternate key whose columns are exactly ``names`` (wire or logical names)."""
        wanted = {self.by_wire[n].logical_name if n in self.by_wire else n for n in names}
        for key in self.table.keys:
            if set(key.columns) == wanted and len(key.columns) == len(names):
                return key
        return None

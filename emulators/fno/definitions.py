"""What the F&O emulator knows of a data entity: its fields, keys, enums and validation rules.

A plain, typed registry, so a helper building the standard maps can add entities later:

- ``EnumDef``: an X++ enum (``NoYes``) and its members, named in bodies (``"Yes"``) and in
  filters (``Microsoft.Dynamics.DataEntities.NoYes'Yes'``);
- ``FieldDef``: a public field, its EDM type (or enum), max length, and whether
  ``validateWrite`` requires it;
- ``Reference``: a field whose value must exist in another entity (same company for
  company-specific ones), as a table relation makes ``validateWrite`` check;
- ``EntityDef``: the entity set name (``CustomersV3``), the public entity name (the EDM type,
  ``CustomerV3``), the key (``dataAreaId`` first for company-specific entities), an optional
  modified date-time field, and whether rows carry an etag.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import msgspec

NAMESPACE = "Microsoft.Dynamics.DataEntities"
COMPANY = "dataAreaId"


class Edm(StrEnum):
    """The EDM types data entity fields have."""

    STRING = "Edm.String"
    INT = "Edm.Int32"
    INT64 = "Edm.Int64"
    DECIMAL = "Edm.Decimal"
    REAL = "Edm.Double"
    DATETIME = "Edm.DateTimeOffset"
    DATE = "Edm.Date"
    ENUM = "enum"  # the field's ``enum`` names its EnumDef


class EnumDef(msgspec.Struct, frozen=True, kw_only=True):
    """An enum and its members (name, value), in declaration order."""

    name: str
    members: tuple[tuple[str, int], ...]

    @property
    def qualified(self) -> str:
        return f"{NAMESPACE}.{self.name}"

    def names(self) -> list[str]:
        return [name for name, _ in self.members]


class FieldDef(msgspec.Struct, frozen=True, kw_only=True):
    """A public field of a data entity."""

    name: str
    edm: Edm
    label: str = ""  # what validateWrite's messages call it ("Customer group")
    enum: str | None = None
    max_length: int | None = None
    mandatory: bool = False

    @property
    def caption(self) -> str:
        return self.label or self.name


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    """``field`` must name a row of ``entity_set`` by its last key field (the company of the
    row itself for a company-specific target); an empty value is not checked."""

    field: str
    entity_set: str


class EntityDef(msgspec.Struct, frozen=True, kw_only=True):
    """A data entity as OData serves it."""

    entity_set: str
    public_name: str
    label: str  # the table's label in messages ("Customers")
    table: str  # the root data source's table ("CustTable"), named in messages too
    fields: tuple[FieldDef, ...]
    keys: tuple[str, ...]
    modified_field: str | None = None
    etag: bool = True
    references: tuple[Reference, ...] = ()
    class_name: str = ""  # the entity's X++ class ("CustCustomerV3Entity"), in write errors

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"entity {self.entity_set}: a field is defined twice")
        for name in (*self.keys, *(r.field for r in self.references)):
            if name not in names:
                raise ValueError(f"entity {self.entity_set}: no field {name!r}")
        modified = self.field(self.modified_field) if self.modified_field else None
        if self.modified_field and (modified is None or modified.edm is not Edm.DATETIME):
            raise ValueError(f"entity {self.entity_set}: {self.modified_field!r} is no date-time")
        if COMPANY in self.keys and self.keys[0] != COMPANY:
            raise ValueError(f"entity {self.entity_set}: {COMPANY} must come first in the key")

    @property
    def company_specific(self) -> bool:
        return bool(self.keys) and self.keys[0] == COMPANY

    @property
    def qualified(self) -> str:
        return f"{NAMESPACE}.{self.public_name}"

    @property
    def aot_name(self) -> str:
        """The entity's class name as F&O's write errors give it."""
        return self.class_name or f"{self.public_name}Entity"

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)


class Registry:
    """The entities and enums one emulated environment serves."""

    def __init__(self, entities: Iterable[EntityDef] = (), enums: Iterable[EnumDef] = ()) -> None:
        self.entities: dict[str, EntityDef] = {}
        self.enums: dict[str, EnumDef] = {}
        for enum in enums:
            self.add_enum(enum)
        for entity in entities:
            self.add(entity)

    def add_enum(self, enum: EnumDef) -> None:
        self.enums[enum.name] = enum

    def add(self, entity: EntityDef) -> None:
        """Register an entity; its enums must be registered first."""
        for field in entity.fields:
            if field.edm is Edm.ENUM and field.enum not in self.enums:
                raise ValueError(f"entity {entity.entity_set}: unknown enum {field.enum!r}")
        self.entities[entity.entity_set] = entity

    def entity(self, entity_set: str) -> EntityDef | None:
        return self.entities.get(entity_set)

    def enum_of(self, field: FieldDef) -> EnumDef:
        assert field.enum is not None
        return self.enums[field.enum]

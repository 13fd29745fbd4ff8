"""The data entities of an F&O environment, read from its OData ``/data/$metadata``.

The document is CSDL XML (OData v4, part 3): an ``EntityContainer`` lists each
``EntitySet`` (``CustomersV3``) and its ``EntityType`` (``CustomerV3``), whose ``Key`` names
the key properties in order (``dataAreaId``, ``CustomerAccount``) and whose ``Property``
elements give each public field's type: ``Edm.String`` (with ``MaxLength``), ``Edm.Int32``,
``Edm.Decimal``, ``Edm.DateTimeOffset``, … or an enum of the schema
(``Microsoft.Dynamics.DataEntities.NoYes``), whose ``Member`` names are what bodies carry.

Namespaces are matched by local name only, so a service's edmx/edm namespace URIs need not
be known here. The document of a real environment is large (tens of MB): it is parsed once
per ``check``/``prepare`` with ``iterparse``, keeping only the types and enums.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import msgspec

COMPANY = "dataareaid"
"""The key field (compared case-insensitively) that makes an entity company-specific."""


class Property(msgspec.Struct, frozen=True):
    """One public field of a data entity."""

    name: str
    type: str
    """``Edm.String``, ``Edm.Int32``, … or the full name of an enum type."""
    nullable: bool = True
    max_length: int | None = None
    members: tuple[str, ...] | None = None
    """An enum's member names (None for every other type)."""

    @property
    def enum(self) -> bool:
        return self.members is not None


class EntityType(msgspec.Struct, frozen=True):
    """A data entity: its entity set, its key fields in order, its fields by name."""

    entity_set: str
    type_name: str
    key: tuple[str, ...]
    properties: dict[str, Property]

    @property
    def company_specific(self) -> bool:
        """Whether ``dataAreaId`` is part of the key: reads then go ``cross-company``."""
        return any(k.lower() == COMPANY for k in self.key)


class MetadataError(ValueError):
    """A ``$metadata`` document this module cannot read; the message says why."""


def parse_metadata(document: bytes) -> dict[str, EntityType]:
    """Every entity set of the document, by entity set name."""
    types: dict[str, tuple[tuple[str, ...], list[dict[str, str]]]] = {}
    enums: dict[str, tuple[str, ...]] = {}
    sets: dict[str, str] = {}
    namespace = ""
    key: list[str] = []
    props: list[dict[str, str]] = []
    members: list[str] = []
    try:
        for event, element in ET.iterparse(io.BytesIO(document), events=("start", "end")):
            tag = element.tag.rpartition("}")[2]
            if event == "start":
                if tag == "Schema":
                    namespace = element.get("Namespace", "")
                elif tag == "EntityType":
                    key, props = [], []
                elif tag == "EnumType":
                    members = []
                continue
            if tag == "PropertyRef":
                key.append(element.get("Name", ""))
            elif tag == "Property":
                props.append(dict(element.attrib))
            elif tag == "Member":
                members.append(element.get("Name", ""))
            elif tag == "EntityType":
                types[f"{namespace}.{element.get('Name', '')}"] = (tuple(key), props)
                element.clear()
            elif tag == "EnumType":
                enums[f"{namespace}.{element.get('Name', '')}"] = tuple(members)
            elif tag == "EntitySet":
                sets[element.get("Name", "")] = element.get("EntityType", "")
    except ET.ParseError as exc:
        raise MetadataError(f"$metadata is not XML: {exc}") from None
    if not sets:
        raise MetadataError("$metadata names no entity set")
    found: dict[str, EntityType] = {}
    for entity_set, type_name in sets.items():
        if type_name not in types:
            continue
        keys, attributes = types[type_name]
        properties = {a["Name"]: _property(a, enums) for a in attributes if a.get("Name")}
        found[entity_set] = EntityType(entity_set, type_name, keys, properties)
    return found


def _property(attributes: dict[str, str], enums: dict[str, tuple[str, ...]]) -> Property:
    kind = attributes.get("Type", "Edm.String")
    length = attributes.get("MaxLength", "")
    return Property(
        name=attributes["Name"],
        type=kind,
        nullable=attributes.get("Nullable", "true").lower() != "false",
        max_length=int(length) if length.isdigit() else None,
        members=enums.get(kind),
    )

"""``/data/$metadata``: the CSDL XML document (OData 4.0 CSDL) listing the enum types, the
entity types with their keys (in key order) and properties, and the entity sets, in the
``Microsoft.Dynamics.DataEntities`` namespace, as F&O's service document does."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from emulators.fno.call import Answer
from emulators.fno.definitions import NAMESPACE, Edm, EntityDef, EnumDef, FieldDef, Registry

_EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
_EDM = "http://docs.oasis-open.org/odata/ns/edm"


def document(registry: Registry) -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx Version="4.0" xmlns:edmx="{_EDMX}">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{NAMESPACE}" xmlns="{_EDM}">',
    ]
    lines += [line for enum in registry.enums.values() for line in _enum(enum)]
    lines += [line for entity in registry.entities.values() for line in _entity(entity, registry)]
    lines.append('<EntityContainer Name="Resources">')
    lines += [
        f"<EntitySet Name={quoteattr(e.entity_set)} EntityType={quoteattr(e.qualified)} />"
        for e in registry.entities.values()
    ]
    lines += ["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(lines) + "\n"


def _enum(enum: EnumDef) -> list[str]:
    members = [
        f"<Member Name={quoteattr(name)} Value={quoteattr(str(value))} />"
        for name, value in enum.members
    ]
    return [f"<EnumType Name={quoteattr(enum.name)}>", *members, "</EnumType>"]


def _entity(entity: EntityDef, registry: Registry) -> list[str]:
    keys = [f"<PropertyRef Name={quoteattr(name)} />" for name in entity.keys]
    properties = [_property(field, registry) for field in entity.fields]
    return [
        f"<EntityType Name={quoteattr(entity.public_name)}>",
        "<Key>",
        *keys,
        "</Key>",
        *properties,
        "</EntityType>",
    ]


def _property(field: FieldDef, registry: Registry) -> str:
    kind = registry.enum_of(field).qualified if field.edm is Edm.ENUM else field.edm.value
    extra = f" MaxLength={quoteattr(str(field.max_length))}" if field.max_length else ""
    if field.edm is Edm.DECIMAL:
        extra += ' Precision="32" Scale="6"'
    return (
        f'<Property Name={quoteattr(field.name)} Type={quoteattr(kind)} Nullable="false"{extra} />'
    )


def answer(registry: Registry) -> Answer:
    return Answer(
        status=200,
        headers={"Content-Type": "application/xml", "OData-Version": "4.0"},
        body=document(registry).encode(),
    )

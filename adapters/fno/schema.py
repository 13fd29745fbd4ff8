"""What the side knows of each mapped entity: its data entity, the fields it reads, its filter.

``resolve`` checks one ``EntitySpec`` against the entity types of ``$metadata``: the entity
set exists, every field and key field is one of its public fields, and (for the poll feed)
the entity has its modified date-time field. Every problem is named at once.
"""

from __future__ import annotations

import msgspec

from replicator.adapter import EntitySpec

from .metadata import EntityType


class Entity(msgspec.Struct, frozen=True, kw_only=True):
    """A prepared entity: its spec, its data entity, what a read selects."""

    spec: EntitySpec
    type: EntityType
    select: tuple[str, ...]
    """The key fields, then the mapped fields (and the poll field), each once."""
    poll_field: str | None = None

    @property
    def name(self) -> str:
        return self.spec.entity

    @property
    def filter(self) -> str | None:
        return self.spec.filter


def resolve(
    spec: EntitySpec, types: dict[str, EntityType], *, poll_field: str | None
) -> Entity | list[str]:
    """The entity of ``spec``, or every problem with it (each naming the field)."""
    found = types.get(spec.entity)
    if found is None:
        near = [name for name in types if name.lower() == spec.entity.lower()]
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return [f"no data entity {spec.entity!r} in $metadata{hint}"]
    problems = []
    if not spec.fields:
        problems.append("maps no field")
    wanted = [*spec.key_fields, *spec.fields, *([poll_field] if poll_field else [])]
    for name in dict.fromkeys(wanted):
        if name not in found.properties:
            what = "modified date-time field (poll_field)" if name == poll_field else "field"
            problems.append(f"no {what} {name!r} in {found.type_name}")
    if poll_field and poll_field in found.properties:
        kind = found.properties[poll_field].type
        if kind != "Edm.DateTimeOffset":
            problems.append(f"poll field {poll_field!r} is {kind}, not Edm.DateTimeOffset")
    if problems:
        return problems
    select = tuple(dict.fromkeys([*found.key, *wanted]))
    return Entity(spec=spec, type=found, select=select, poll_field=poll_field)

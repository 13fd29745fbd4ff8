"""A map's entities against the table definitions: what ``check`` says, what reads use.

``load`` reads the definitions a set of ``EntitySpec`` needs (each mapped entity set, each
table a lookup refers to, the derived properties of the mapped columns); ``resolve``
gives each entity its ``Field``s and every problem, one line each: a missing entity,
column, lookup target or alternate key, a table without change tracking, a filter
outside the supported subset or naming a missing column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from replicator.adapter import EntitySpec
from replicator.errors import PermanentError

from .keys import Filter, FilterError, literal_fits, parse_filter

if TYPE_CHECKING:
    from adapters._remote.batch import Reply
from .metadata import (
    LOOKUPS,
    SUPPORTED,
    TRACK_CHANGES_HINT,
    Column,
    Reference,
    Table,
    definition_query,
    derived_queries,
    merge_derived,
    parse_table,
)


class Getter(Protocol):
    """What reading needs of the transport (``Transport.get``)."""

    async def get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply: ...


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
    problems: list[str] = [] if spec.fields else ["the map gives the entity no field"]
    for name in dict.fromkeys((*spec.key_fields, *spec.fields)):
        found = _resolve(name, table, tables)
        if isinstance(found, str):
            problems.append(found)
        else:
            fields[name] = found
    problems.extend(key_problems(spec, table))
    problems.extend(lookup_problems(spec, fields))
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


def lookup_problems(spec: EntitySpec, fields: Mapping[str, Field]) -> list[str]:
    """A map lookup field (``lookup = "<map>"``) must be a lookup column referring to the
    table of that map's entity (``spec.lookups``: field, the map's entity set here)."""
    problems = []
    for name, entity_set in spec.lookups:
        field = fields.get(name)
        if field is None or field.dotted:  # missing: named already; dotted: holds a value
            continue
        wanted = f"the lookup's map is on {entity_set!r}"
        if field.target is None:
            problems.append(
                f"field {name!r}: column {field.column.name!r} is a {field.column.type}, not a "
                f"lookup column, so it cannot hold a reference ({wanted}): map a lookup column "
                f"that refers to {entity_set!r}"
            )
        elif field.target.entity_set != entity_set:
            problems.append(
                f"field {name!r}: lookup column {field.column.name!r} refers to "
                f"{field.target.entity_set!r} (table {field.target.logical_name!r}), but "
                f"{wanted}: map a column that refers to {entity_set!r}, or look up in the map "
                f"of {field.target.entity_set!r}"
            )
    return problems


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


# -- resolved entities --------------------------------------------------------------------

SYSTEM_SELECT = ("modifiedon", "_modifiedby_value", "versionnumber")
"""Read with every row: when it changed, who changed it (echoes), its version."""


class Entity(msgspec.Struct, frozen=True, kw_only=True):
    """A mapped entity set, resolved against its table: what reads select and convert."""

    spec: EntitySpec
    table: Table
    fields: dict[str, Field]
    filter: Filter | None = None

    @property
    def name(self) -> str:
        return self.spec.entity

    @property
    def select(self) -> tuple[str, ...]:
        """The primary id, every field's property, the filter's columns, the system ones."""
        names = [self.table.primary_id, *(f.select for f in self.fields.values())]
        names += sorted(self.filter.columns if self.filter else ())
        names += [
            n for n in SYSTEM_SELECT if n.lstrip("_").removesuffix("_value") in self.table.columns
        ]
        return tuple(dict.fromkeys(names))


def resolve(spec: EntitySpec, table: Table, tables: Mapping[str, Table]) -> Entity | list[str]:
    """The entity resolved, or every problem with it (fields, key, tracking, filter)."""
    fields, problems = resolve_fields(spec, table, tables)
    found: Filter | None = None
    if spec.filter is not None and spec.filter.strip():
        try:
            found = parse_filter(spec.filter)
        except FilterError as exc:
            problems.append(str(exc))
        else:
            problems += filter_problems(found, table)
    if problems:
        return problems
    return Entity(spec=spec, table=table, fields=fields, filter=found)


def filter_problems(found: Filter, table: Table) -> list[str]:
    """A filter may name only plain columns of the table, compared with fitting literals."""
    problems: list[str] = []
    at = f"filter {found.text!r}"
    for node in _comparisons(found.tree):
        column = table.columns.get(node.column)
        name = repr(node.column)
        if column is None:
            problems.append(f"{at}: table {table.logical_name!r} has no column {name}")
        elif column.type in LOOKUPS or column.type not in SUPPORTED:
            problems.append(f"{at}: column {name} ({column.type}) cannot be filtered on")
        elif not literal_fits(node.value, column.type):
            problems.append(f"{at}: {node.value!r} cannot be compared with {name} ({column.type})")
    return problems


def _comparisons(node: Any) -> Iterable[Any]:
    if hasattr(node, "parts"):
        for part in node.parts:
            yield from _comparisons(part)
    else:
        yield node


# -- reading the definitions ----------------------------------------------------------------


async def load(
    side: str, getter: Getter, specs: Sequence[EntitySpec]
) -> tuple[dict[str, Table], dict[str, Table]]:
    """The tables of ``specs`` by entity set (absent: no such set) and every table read, by
    logical name (mapped ones and those their lookups refer to), derived properties merged."""
    by_set: dict[str, Table] = {}
    by_name: dict[str, Table] = {}
    wanted: dict[str, set[str]] = {}
    for spec in specs:
        url, params = definition_query(entity_set=spec.entity)
        found = _entries(side, spec.entity, await getter.get(url, params=params))
        if found:
            by_set[spec.entity] = by_name[found[0]["LogicalName"]] = parse_table(found[0])
            names = wanted.setdefault(found[0]["LogicalName"], set())
            names.update(f.partition(".")[0] for f in (*spec.fields, *spec.key_fields))
    for spec in specs:
        table = by_set.get(spec.entity)
        for target in sorted(lookup_targets(table, spec.fields + spec.key_fields) if table else ()):
            if target not in by_name:
                url, params = definition_query(logical_name=target)
                reply = await getter.get(url, params=params)
                if reply.status == 200 and isinstance(reply.body, dict):
                    by_name[target] = parse_table(reply.body)
            dotted = {f.partition(".")[2] for f in (*spec.fields, *spec.key_fields) if "." in f}
            wanted.setdefault(target, set()).update(dotted)
    for name, columns in wanted.items():
        if name in by_name:
            by_name[name] = await _derived(side, getter, by_name[name], columns)
    by_set = {s: by_name[t.logical_name] for s, t in by_set.items()}
    return by_set, by_name


async def _derived(side: str, getter: Getter, table: Table, columns: Iterable[str]) -> Table:
    for cast, (url, params) in derived_queries(table, columns).items():
        reply = await getter.get(url, params=params)
        table = merge_derived(table, _entries(side, f"{table.logical_name} {cast}", reply))
    return table


def _entries(side: str, what: str, reply: Reply) -> list[dict[str, Any]]:
    error = reply.error()
    body = reply.body
    if error is not None or not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise PermanentError(
            f"side {side}: cannot read the definition of {what!r}: {error or body!r}"
        )
    return [e for e in body["value"] if isinstance(e, dict)]


__all__ = [
    "Column",
    "Entity",
    "Field",
    "Getter",
    "Reference",
    "TRACK_CHANGES_HINT",
    "load",
    "resolve",
]

"""Entity keys: native ids, row URLs and the ``$filter`` conditions that find rows by key.

An F&O row is addressed by its entity key, ``dataAreaId`` first for a company-specific
entity: ``CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')`` (data-entities/odata.md),
strings in single quotes with a quote doubled (``'O''Brien'``). The side's native id is that
key predicate, ``dataAreaId='usmf',CustomerAccount='US-001'``: the key fields in the order of
``$metadata``, each value as its OData literal, ``dataAreaId`` in lower case (F&O keeps company
ids in lower case and compares them without case). It is stable for the row's whole life, as
F&O's keys are, and it turns back into the row's URL and into a ``$filter`` condition with no
lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from replicator.adapter import Value

from .metadata import COMPANY, EntityType, Property
from .values import literal

URL_BUDGET = 7_000
"""Characters a ``$filter`` may take in a GET URL: F&O's front end (IIS) refuses long query
strings well before Dataverse's 32 KB; the docs give no number, 7,000 keeps clear of the
common 8 KB request-line limits."""

_PAIR = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*((?:[A-Za-z0-9_.]*'(?:[^']|'')*')|[^,']+)\s*(,|$)"
)


_SAFE = "=,'.-_~"


class BadKey(ValueError):
    """A native id that is not a key predicate of the entity; the message says why."""


def native_id(entity: EntityType, values: Mapping[str, Value]) -> str:
    """The native id of the row whose key fields hold ``values`` (core values)."""
    return ",".join(
        f"{name}={_key_literal(entity, entity.properties[name], values.get(name))}"
        for name in entity.key
    )


def _key_literal(entity: EntityType, prop: Property, value: Value) -> str:
    if prop.name.lower() == COMPANY and isinstance(value, str):
        value = value.lower()
    return literal(entity.entity_set, prop, value)


def pairs(entity: EntityType, text: str) -> list[tuple[str, str]]:
    """The (field, literal) pairs of native id ``text``, checked against the entity's key."""
    found: list[tuple[str, str]] = []
    at = 0
    while at < len(text):
        match = _PAIR.match(text, at)
        if match is None:
            raise BadKey(f"entity {entity.entity_set!r}: {text!r} is not a key predicate")
        found.append((match[1], match[2].strip()))
        at = match.end()
        if not match[3]:
            break
    names = tuple(name for name, _ in found)
    if names != entity.key:
        raise BadKey(
            f"entity {entity.entity_set!r}: {text!r} names {', '.join(names) or 'nothing'}, "
            f"not the key ({', '.join(entity.key)})"
        )
    return found


def row_url(entity: EntityType, text: str) -> str:
    """``CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')``, URL-encoded."""
    pairs(entity, text)
    return f"{entity.entity_set}({quote(text, safe=_SAFE)})"


def condition(entity: EntityType, text: str) -> str:
    """``(dataAreaId eq 'usmf' and CustomerAccount eq 'US-001')``: the row of native id ``text``."""
    return "(" + " and ".join(f"{name} eq {lit}" for name, lit in pairs(entity, text)) + ")"


def key_values(entity: EntityType, text: str) -> dict[str, Value]:
    """The key fields' core values of native id ``text`` (for a create by a PATCH's URL)."""
    return {name: _value(entity.properties[name], lit) for name, lit in pairs(entity, text)}


def _value(prop: Property, lit: str) -> Value:
    if lit == "null":
        return None
    if lit.endswith("'") and "'" in lit[:-1]:
        inner = lit[lit.index("'") + 1 : -1]
        return inner.replace("''", "'")
    if lit in ("true", "false"):
        return lit == "true"
    try:
        return int(lit)
    except ValueError:
        pass
    try:
        return float(lit)
    except ValueError:
        return lit

"""Resource paths below ``/data/``: ``CustomersV3``, ``CustomersV3/$count`` and one row by its
composite key, ``CustomersV3(dataAreaId='usmf',CustomerAccount='US-001')`` (names in any order,
a quote inside a string doubled; one unnamed value for a single-field key)."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from emulators.fno import errors
from emulators.fno.definitions import Edm, EntityDef
from emulators.fno.literals import EnumLiteral, quote, tokens

_SET = re.compile(r"^(?P<set>[A-Za-z_]\w*)")


class Address(msgspec.Struct, kw_only=True):
    """The entity set, the key (its field values, if one row is addressed) and what follows."""

    entity_set: str
    key: dict[str, Any] | None
    rest: str


def parse_path(path: str) -> Address:
    """The parts of a resource path (already %-decoded)."""
    match = _SET.match(path)
    if match is None:
        raise errors.FnoError(404, f"No HTTP resource was found for the path '{path}'.")
    entity_set, rest = match["set"], path[match.end() :]
    if not rest.startswith("("):
        return Address(entity_set=entity_set, key=None, rest=rest)
    end = _closing(rest)
    return Address(entity_set=entity_set, key=_key_values(rest[1:end]), rest=rest[end + 1 :])


def _closing(text: str) -> int:
    quoted = False
    for index, char in enumerate(text):
        if char == "'":
            quoted = not quoted  # a doubled quote flips twice
        elif char == ")" and not quoted:
            return index
    raise errors.bad_query(f"The key segment '{text}' has no closing parenthesis.")


def _key_values(text: str) -> dict[str, Any]:
    items = tokens(text, "key")
    if len(items) == 1 and items[0].kind == "literal":
        return {"": items[0].value}
    values: dict[str, Any] = {}
    for start in range(0, len(items), 4):
        group = items[start : start + 4]
        shape = [t.kind for t in group[:3]] == ["name", "op", "literal"] and group[1].text == "="
        if not shape or (len(group) == 4 and group[3].text != ","):
            raise errors.bad_query(f"Bad key segment '({text})': expected name=value pairs.")
        if group[0].text in values:
            raise errors.bad_query(f"The key property '{group[0].text}' is given twice.")
        values[group[0].text] = group[2].value
    return values


def normalise_key(entity: EntityDef, given: dict[str, Any]) -> dict[str, Any]:
    """The key fields in the entity's order, each of its field's type; 400 otherwise."""
    if list(given) == [""] and len(entity.keys) == 1:
        given = {entity.keys[0]: given[""]}
    if set(given) != set(entity.keys):
        expected = ",".join(entity.keys)
        raise errors.bad_query(
            f"The number of keys specified in the URI does not match number of key properties"
            f" for the resource '{entity.qualified}' ({expected})."
        )
    key: dict[str, Any] = {}
    for name in entity.keys:
        field = entity.field(name)
        assert field is not None
        value = given[name]
        if isinstance(value, EnumLiteral):
            value = value.member
        if (field.edm is Edm.STRING) != isinstance(value, str):
            raise errors.bad_query(f"The key value {quote(value)} does not fit {name}.")
        key[name] = value
    return key


def key_segment(entity: EntityDef, values: dict[str, Any]) -> str:
    """``(dataAreaId='usmf',CustomerAccount='US-001')`` for a row's values."""
    return "(" + ",".join(f"{name}={quote(values[name])}" for name in entity.keys) + ")"

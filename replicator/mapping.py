"""Field mapping: pure functions between a side's row and the canonical values.

Canonical values are keyed by field id (the field's name on side 0) and expressed in
side 0's terms: a value of side 1 passes through the value map backwards. A field the
source leaves empty takes the field's ``default`` (given in side 0's terms).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from .adapter import Value, Values
from .config import FieldMap, TableMap
from .errors import RuleViolation

_key_encoder = msgspec.json.Encoder()
_key_decoder = msgspec.json.Decoder(list[Value])


def to_canonical(field: FieldMap, side: int, value: Value) -> Value:
    """One side's value of ``field`` in canonical (side 0) terms, default applied."""
    if value is None:
        return field.default
    vm = field.value_map
    if vm is None or side == 0:
        return value
    if value in vm.backward:
        return vm.backward[value]
    if vm.strict:
        raise RuleViolation(
            f"value {value!r} of field {field.names[1]!r} is not in strict value map {vm.name!r}"
        )
    return value


def from_canonical(field: FieldMap, side: int, value: Value) -> Value:
    """A canonical value of ``field`` in side ``side``'s terms."""
    vm = field.value_map
    if value is None or vm is None or side == 0:
        return value
    if value in vm.forward:
        return vm.forward[value]
    if vm.strict:
        raise RuleViolation(
            f"value {value!r} of field {field.names[0]!r} is not in strict value map {vm.name!r}"
        )
    return value


def side_value(field: FieldMap, side: int, value: Value) -> Value:
    """A canonical value as ``side`` shows it, for logs: as is if the value map refuses it."""
    try:
        return from_canonical(field, side, value)
    except RuleViolation:
        return value


def canonical(m: TableMap, side: int, row: Values) -> Values:
    """Every mapped field of a side's row, canonical."""
    return {f.id: to_canonical(f, side, row.get(f.names[side])) for f in m.all_fields}


def side_values(m: TableMap, side: int, values: Values, ids: Iterable[str] | None = None) -> Values:
    """Canonical ``values`` (only ``ids`` if given) as a row of ``side``."""
    wanted = set(values) if ids is None else set(ids)
    return {
        f.names[side]: from_canonical(f, side, values.get(f.id))
        for f in m.all_fields
        if f.id in wanted
    }


def key_of(m: TableMap, values: Values) -> tuple[Value, ...]:
    """The integration key of canonical values."""
    return tuple(values.get(f.id) for f in m.key)


def missing_key_fields(m: TableMap, side: int, values: Values) -> list[str]:
    """The key fields (named on ``side``) that are empty in canonical ``values``."""
    return [f.names[side] for f in m.key if values.get(f.id) in (None, "")]


def side_key(m: TableMap, side: int, key: tuple[Value, ...]) -> tuple[Value, ...]:
    """A canonical integration key in ``side``'s terms (for ``Side.find``)."""
    return tuple(from_canonical(f, side, v) for f, v in zip(m.key, key, strict=True))


def encode_key(key: tuple[Value, ...]) -> str:
    """A key as stored in the state store and shown to users: ``["usmf","US-001"]``."""
    return _key_encoder.encode(list(key)).decode()


def decode_key(text: str) -> list[Value] | str:
    """An encoded key as a list again (``["usmf", "US-001"]``); other text as it is."""
    if not text.startswith("["):
        return text
    try:
        return _key_decoder.decode(text)
    except msgspec.DecodeError:
        return text

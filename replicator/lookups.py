"""Lookups: which referenced records a record needs before it can be written.

A lookup field (``lookup = "customer_groups"``) holds the referenced record's last key
field; the referenced map's other key fields (the company) are taken from the record's
own key, matched by field name (the name on side 0), else by position. A record whose
referenced record is not linked yet is *parked* until it is; a lookup into the record's
own map (an invoice account that is another customer) does not park the record: it is
written without that field first and patched once the target is linked.

On a side whose lookup columns hold native ids (Dataverse GUIDs), ``native_lookups``
translates them to keys on the way in; a native id no link knows yet arrives as
``Unresolved``, and the record waits for the link of that row instead of a key.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from .adapter import Value, Values
from .config import FieldMap, TableMap
from .mapping import encode_key

NATIVE = "#native"
"""The first part of a reference by native id: ``("#native", side, native id)``."""


class Unresolved(msgspec.Struct, frozen=True):
    """A lookup column's native id on ``side`` that no link of the referenced map holds."""

    side: int
    native_id: str


def native_key(side: int, native_id: str) -> tuple[Value, ...]:
    """The stand-in key of a reference to row ``native_id`` of ``side`` (not linked yet)."""
    return (NATIVE, side, native_id)


class Reference(msgspec.Struct, frozen=True):
    """A record's need: field ``field`` refers to the record of ``map`` with ``key``."""

    field: str
    map: str
    key: tuple[Value, ...]

    @property
    def encoded(self) -> str:
        return encode_key(self.key)

    @property
    def native(self) -> tuple[int, str] | None:
        """(side, native id) if this refers to a row by native id, not by key."""
        if len(self.key) == 3 and self.key[0] == NATIVE:
            return int(self.key[1]), str(self.key[2])
        return None

    def describe(self) -> str:
        """How users see it: ``customer_groups[usmf, 10]``."""
        if (native := self.native) is not None:
            return f"{self.map}[row {native[1]} of side {native[0]}]"
        return f"{self.map}[{', '.join(str(v) for v in self.key)}]"


def referenced_key(
    m: TableMap, ref: TableMap, field: FieldMap, values: Values
) -> tuple[Value, ...]:
    """The key of the record ``field`` refers to, completed from the record's own key."""
    own = {f.id: values.get(f.id) for f in m.key}
    parts = []
    for i, rk in enumerate(ref.key[:-1]):
        if rk.id in own:
            parts.append(own[rk.id])
        else:
            parts.append(values.get(m.key[i].id) if i < len(m.key) else None)
    parts.append(values.get(field.id))
    return tuple(parts)


def references(m: TableMap, maps: Mapping[str, TableMap], values: Values) -> list[Reference]:
    """The records that canonical ``values`` refer to through non-empty lookup fields."""
    out = []
    for f in m.all_fields:
        value = values.get(f.id)
        if f.lookup is None or value in (None, ""):
            continue
        if isinstance(value, Unresolved):
            key = native_key(value.side, value.native_id)
        else:
            key = referenced_key(m, maps[f.lookup], f, values)
        out.append(Reference(f.id, f.lookup, key))
    return out

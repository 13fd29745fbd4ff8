"""Lookups: which referenced records a record needs before it can be written.

A lookup field (``lookup = "customer_groups"``) holds the referenced record's last key
field; the referenced map's other key fields (the company) are taken from the record's
own key, matched by field name (the name on side 0), else by position. A record whose
referenced record is not linked yet is *parked* until it is; a lookup into the record's
own map (an invoice account that is another customer) does not park the record: it is
written without that field first and patched once the target is linked.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from .adapter import Value, Values
from .config import FieldMap, TableMap
from .mapping import encode_key


class Reference(msgspec.Struct, frozen=True):
    """A record's need: field ``field`` refers to the record of ``map`` with ``key``."""

    field: str
    map: str
    key: tuple[Value, ...]

    @property
    def encoded(self) -> str:
        return encode_key(self.key)

    def describe(self) -> str:
        """How users see it: ``customer_groups[usmf, 10]``."""
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
        if f.lookup is None or values.get(f.id) in (None, ""):
            continue
        key = referenced_key(m, maps[f.lookup], f, values)
        out.append(Reference(f.id, f.lookup, key))
    return out

"""OData ``$filter`` text that both remote sides build: OR-chains for batched reads.

A batched read asks for many rows in one GET: an OR of one condition per row, split into
several requests so that none passes the service's URL limit (``budget``, counted after
URL-encoding, as the server counts it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import quote


def chunks(conditions: Sequence[str], *, base: str | None = None, budget: int) -> Iterator[str]:
    """``$filter`` texts that OR ``conditions`` together, each under ``budget`` characters
    once URL-encoded, each AND-ed with ``base`` (the map's filter) when given."""
    prefix = f"({base}) and (" if base else ""
    suffix = ")" if base else ""
    fixed = _encoded(prefix + suffix)
    part: list[str] = []
    size = fixed
    for text in conditions:
        cost = _encoded(text) + (len(" or ") * 3 if part else 0)
        if part and size + cost > budget:
            yield prefix + " or ".join(part) + suffix
            part, size = [], fixed
            cost = _encoded(text)
        part.append(text)
        size += cost
    if part:
        yield prefix + " or ".join(part) + suffix


def _encoded(text: str) -> int:
    return len(quote(text, safe=""))

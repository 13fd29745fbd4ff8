"""OData reads both remote sides make: ``$filter`` OR-chains, and collection answers.

A batched read asks for many rows in one GET: an OR of one condition per row, split into
several requests so that none passes the service's URL limit (``budget``, counted after
URL-encoding, as the server counts it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from replicator.errors import PermanentError

from .batch import Reply


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


def collection(side: str, what: str, reply: Reply) -> list[dict[str, Any]]:
    """The entries (``value``) of a collection answer; ``PermanentError`` naming ``side``
    and ``what`` was read, with the server's error, for any other answer."""
    error, body = reply.error(), reply.body
    listed = isinstance(body, dict) and isinstance(body.get("value"), list)
    if error is not None or not listed:
        why = error or f"an answer that is not a collection: {str(body)[:200]!r}"
        raise PermanentError(f"side {side!r}: cannot read {what!r}: {why}")
    assert isinstance(body, dict)
    return [item for item in body["value"] if isinstance(item, dict)]


def moment(text: Any) -> float | None:
    """The POSIX time of an OData ``Edm.DateTimeOffset`` text (``…Z`` or ``…+01:00``), or None."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def fold(value: Any) -> Any:
    """``value`` as both services compare keys: strings without case."""
    return value.casefold() if isinstance(value, str) else value

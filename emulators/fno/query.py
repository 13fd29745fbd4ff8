"""The query options of a collection read (``data-entities/odata.md``): ``$filter``,
``$select``, ``$orderby`` (several, asc/desc), ``$top``, ``$skip``, ``$count``, plus
``cross-company``. Each is checked against the entity (400 with the OData library's text)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from emulators.fno import errors
from emulators.fno.definitions import EntityDef, Registry
from emulators.fno.filter import Predicate, compile_filter
from emulators.fno.store import Row

SUPPORTED = {"$filter", "$select", "$orderby", "$top", "$skip", "$count", "$format"}
OTHER_OPTIONS = {"cross-company"}


class Options(msgspec.Struct, kw_only=True):
    predicate: Predicate | None = None
    select: list[str] | None = None
    orderby: list[tuple[str, bool]] = []  # (field, descending)
    top: int | None = None
    skip: int = 0
    count: bool = False


def parse_options(query: dict[str, str], entity: EntityDef, registry: Registry) -> Options:
    for name in query:
        if name.startswith("$") and name not in SUPPORTED:
            raise errors.bad_query(f"The query parameter '{name}' is not supported.")
    options = Options(
        top=_number(query, "$top"),
        skip=_number(query, "$skip") or 0,
        count=_flag(query.get("$count", "false")),
    )
    if "$filter" in query:
        options.predicate = compile_filter(query["$filter"], entity, registry)
    if "$select" in query:
        options.select = [_field(entity, name.strip()) for name in query["$select"].split(",")]
    if "$orderby" in query:
        options.orderby = [_order(entity, item) for item in query["$orderby"].split(",")]
    return options


def _number(query: dict[str, str], name: str) -> int | None:
    text = query.get(name)
    if text is None:
        return None
    if not text.isdigit():
        raise errors.bad_query(f"Invalid value '{text}' for {name} query option found.")
    return int(text)


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise errors.bad_query(f"'{text}' is not a valid count option.")
    return text.lower() == "true"


def _field(entity: EntityDef, name: str) -> str:
    if entity.field(name) is None:
        raise errors.bad_query(
            f"Could not find a property named '{name}' on type '{entity.qualified}'."
        )
    return name


def _order(entity: EntityDef, item: str) -> tuple[str, bool]:
    words = item.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
        raise errors.bad_query(f"Syntax error in $orderby at '{item.strip()}'.")
    return _field(entity, words[0]), len(words) == 2 and words[1] == "desc"


def ordered(rows: list[Row], orderby: list[tuple[str, bool]]) -> list[Row]:
    """Rows sorted by each ``(field, descending)`` in turn (strings case-insensitively)."""
    for name, descending in reversed(orderby):  # stable sorts: the last key first
        rows = sorted(rows, key=_sort_key(name), reverse=descending)
    return rows


def _sort_key(name: str) -> Callable[[Row], Any]:
    def key(row: Row) -> Any:
        value = row.values[name]
        return value.casefold() if isinstance(value, str) else value

    return key

"""Dotted fields: ``msdyn_company.cdm_companycode`` carries the company code of the row the
``msdyn_company`` lookup refers to. The side holds GUIDs; the core sees codes.

``Lookups`` turns values into GUIDs (to write, and to find rows by a key holding a dotted
field) and GUIDs into values (to read), in batches (one ``$filter`` of OR-ed conditions
per chunk), cached per referenced table and column for the side's life: dotted fields
name reference data (companies, currencies) that is created rarely and renamed never. A
value no row holds is not cached (the row may be created later). String values match
case-insensitively, as Dataverse compares them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog

from replicator.adapter import Value

from .keys import condition
from .metadata import Column, Table
from .schema import Field
from .values import BadValue, from_dataverse, to_dataverse

log = structlog.get_logger()

Fetch = Callable[[str, str, Sequence[str]], Awaitable[list[dict[str, Any]]]]
"""``fetch(entity_set, select, conditions)``: the raw rows matching any of ``conditions``."""


class _Cache:
    def __init__(self) -> None:
        self.by_value: dict[Value, str] = {}
        self.by_guid: dict[str, Value] = {}

    def add(self, guid: str, value: Value) -> None:
        self.by_guid[guid] = value
        self.by_value.setdefault(_fold(value), guid)


class Lookups:
    """Value <-> GUID of the rows dotted fields refer to, batched and cached."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._caches: dict[tuple[str, str], _Cache] = {}
        self.fetches = 0

    async def guids(self, field: Field, values: Iterable[Value]) -> dict[Value, str]:
        """The GUID of the referenced row holding each of ``values`` (absent: no such row)."""
        cache, target, column = self._cache(field)
        wanted = {v for v in values if v is not None}
        missing = [v for v in wanted if _fold(v) not in cache.by_value]
        texts = []
        for value in missing:
            try:
                texts.append(condition(column.name, to_dataverse(target.entity_set, column, value)))
            except BadValue:
                continue  # no row can hold it (too long, wrong type): not found
        if texts:
            await self._load(field, texts)
        return {v: cache.by_value[_fold(v)] for v in wanted if _fold(v) in cache.by_value}

    async def values(self, field: Field, guids: Iterable[str]) -> dict[str, Value]:
        """The referenced column's value in each row of ``guids`` (absent: no such row)."""
        cache, target, _ = self._cache(field)
        wanted = {g.lower() for g in guids if g}
        missing = sorted(g for g in wanted if g not in cache.by_guid)
        if missing:
            await self._load(field, [condition(target.primary_id, g) for g in missing])
        return {g: cache.by_guid[g] for g in wanted if g in cache.by_guid}

    async def _load(self, field: Field, conditions: Sequence[str]) -> None:
        cache, target, column = self._cache(field)
        select = f"{target.primary_id},{column.name}"
        self.fetches += 1
        for raw in await self._fetch(target.entity_set, select, conditions):
            guid = str(raw.get(target.primary_id, "")).lower()
            if guid:
                cache.add(guid, from_dataverse(target.entity_set, column, raw.get(column.name)))
        log.debug("dataverse_lookups_loaded", entity=target.entity_set, column=column.name)

    def _cache(self, field: Field) -> tuple[_Cache, Table, Column]:
        target, column = field.target, field.target_column
        if target is None or column is None:
            raise ValueError(f"field {field.name!r} is not a dotted field")
        return self._caches.setdefault((target.logical_name, column.name), _Cache()), target, column


def _fold(value: Value) -> Value:
    return value.casefold() if isinstance(value, str) else value

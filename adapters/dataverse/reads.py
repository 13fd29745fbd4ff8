"""Reading rows: by GUID, by key, page by page, and raw entries turned into ``Row``s.

``by_ids`` and ``by_keys`` send one ``$filter`` per chunk (``keys.chunks``: an OR of
``<primary id> eq <guid>``, or of one ``(a eq 1 and _b_value eq <guid>)`` per key, under
the URL budget), AND-ed with the map's filter unless told not to (a conflict's current
row is read whatever the filter), following ``@odata.nextLink``. ``scan`` orders by the
primary id and continues after the last one (``gt``). Strings match case-insensitively,
as Dataverse compares them, so a key is found whatever the case of its letters.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from adapters._remote import odata
from adapters._remote.batch import Reply
from replicator.adapter import Row, ScanPage, Value

from .keys import chunks, condition
from .lookups import Lookups
from .schema import Entity, Field, Getter
from .values import BadValue, from_dataverse, to_dataverse

MAX_PAGE = 5000  # odata.maxpagesize's most


class Reader:
    """Rows of the side's entities through ``getter``, dotted fields through ``lookups``."""

    def __init__(self, side: str, getter: Getter, lookups: Lookups, *, page_size: int) -> None:
        self.side, self.getter, self.lookups, self.page_size = side, getter, lookups, page_size

    async def by_ids(
        self, entity: Entity, native_ids: Sequence[str], *, filtered: bool = True
    ) -> dict[str, Row]:
        ids = sorted({str(uuid.UUID(n)) for n in native_ids if _is_guid(n)})
        if not ids:
            return {}
        pid = entity.table.primary_id
        base = entity.filter.text if filtered and entity.filter else None
        raws = await self.query(entity.name, entity.select, [condition(pid, g) for g in ids], base)
        return {row.native_id: row for row in await self.rows(entity, raws)}

    async def by_keys(
        self,
        entity: Entity,
        fields: Sequence[Field],
        keys: Sequence[tuple[Value, ...]],
        *,
        filtered: bool = True,
    ) -> dict[tuple[Value, ...], Row]:
        """Rows by the values of ``fields``; a key no row holds is absent."""
        guids = {
            f.name: await self.lookups.guids(f, {k[i] for k in keys}) for i, f in _dotted(fields)
        }
        wanted: dict[tuple[Value, ...], str] = {}
        for key in keys:
            text = _key_condition(entity, fields, key, guids)
            if text is not None:
                wanted[key] = text
        base = entity.filter.text if filtered and entity.filter else None
        conditions = list(dict.fromkeys(wanted.values()))
        raws = await self.query(entity.name, entity.select, conditions, base) if conditions else []
        index: dict[tuple[Value, ...], Row] = {}
        for row in await self.rows(entity, raws):
            index.setdefault(tuple(odata.fold(row.values.get(f.name)) for f in fields), row)
        folded = {key: tuple(odata.fold(v) for v in key) for key in wanted}
        return {key: index[folded[key]] for key in wanted if folded[key] in index}

    async def scan(self, entity: Entity, page: str | None, limit: int) -> ScanPage:
        """A page of the entity's rows (filtered) for the initial sync. The first page is
        asked for with ``odata.maxpagesize``; the token of the next one is the server's own
        ``@odata.nextLink`` (Dataverse pages by its paging cookie, not by an offset)."""
        headers = {"Prefer": f"odata.maxpagesize={max(1, min(limit, MAX_PAGE))}"}
        if page is None:
            params = {"$select": ",".join(entity.select), "$orderby": entity.table.primary_id}
            if entity.filter is not None:
                params["$filter"] = entity.filter.text
            reply = await self.getter.get(entity.name, params=params, headers=headers)
        else:
            reply = await self.getter.get(page, headers=headers)
        rows = await self.rows(entity, self.entries(entity.name, reply))
        return ScanPage(rows=rows, next=reply.body.get("@odata.nextLink"))

    async def query(
        self, entity_set: str, select: Sequence[str], conditions: Sequence[str], base: str | None
    ) -> list[dict[str, Any]]:
        """Every entry matching any of ``conditions`` (and ``base``), chunk after chunk,
        page after page."""
        found: list[dict[str, Any]] = []
        headers = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        for text in chunks(conditions, base=base):
            params: dict[str, str] | None = {"$select": ",".join(select), "$filter": text}
            url: str | None = entity_set
            while url is not None:
                reply = await self.getter.get(url, params=params, headers=headers)
                found += self.entries(entity_set, reply)
                url, params = reply.body.get("@odata.nextLink"), None
        return found

    async def fetch(
        self, entity_set: str, select: str, conditions: Sequence[str]
    ) -> list[dict[str, Any]]:
        """``lookups.Fetch``: entries of a referenced table."""
        return await self.query(entity_set, select.split(","), conditions, None)

    def entries(self, entity_set: str, reply: Reply) -> list[dict[str, Any]]:
        """The ``value`` of a collection answer; ``PermanentError`` with the server's error."""
        return odata.collection(self.side, entity_set, reply)

    async def rows(self, entity: Entity, raws: list[dict[str, Any]]) -> list[Row]:
        """The rows of raw entries: values converted, dotted fields' GUIDs resolved."""
        resolved: dict[str, Mapping[str, Value]] = {}
        for _, f in _dotted(list(entity.fields.values())):
            guids = {str(r[f.select]).lower() for r in raws if r.get(f.select)}
            resolved[f.name] = await self.lookups.values(f, guids)
        return [_row(entity, raw, resolved) for raw in raws]


def passes(entity: Entity) -> Any:
    """A test of raw entries against the entity's filter (for the feed, which cannot filter)."""
    assert entity.filter is not None
    columns = {c: entity.table.columns[c] for c in entity.filter.columns}
    test = entity.filter.passes

    def check(raw: dict[str, Any]) -> bool:
        try:
            values = {n: from_dataverse(entity.name, c, raw.get(n)) for n, c in columns.items()}
        except BadValue:
            return False
        return test(values)

    return check


def _dotted(fields: Sequence[Field]) -> list[tuple[int, Field]]:
    return [(i, f) for i, f in enumerate(fields) if f.dotted]


def _key_condition(
    entity: Entity,
    fields: Sequence[Field],
    key: tuple[Value, ...],
    guids: Mapping[str, Mapping[Value, str]],
) -> str | None:
    """``(a eq 1 and _b_value eq <guid>)`` for one key; None if no row can hold it."""
    parts = []
    for field, value in zip(fields, key, strict=True):
        sent: Value = value
        if field.dotted and value is not None:
            sent = guids[field.name].get(value)
            if sent is None:
                return None
        elif value is not None:
            try:
                sent = to_dataverse(entity.name, field.column, value)
            except BadValue:
                return None
        parts.append(condition(field.select, sent))
    return "(" + " and ".join(parts) + ")"


def _row(
    entity: Entity, raw: Mapping[str, Any], resolved: Mapping[str, Mapping[str, Value]]
) -> Row:
    values: dict[str, Value] = {}
    errors: list[str] = []
    for name, field in entity.fields.items():
        try:
            value = from_dataverse(entity.name, field.column, raw.get(field.select))
        except BadValue as exc:
            errors.append(str(exc))
            continue
        if field.dotted and value is not None:
            value = resolved.get(name, {}).get(str(value))
        values[name] = value
    version = raw.get("@odata.etag") or str(raw.get("versionnumber", ""))
    native_id = str(raw.get(entity.table.primary_id, "")).lower()
    changed_at = odata.moment(raw.get("modifiedon"))
    return Row(native_id, str(version), values, changed_at, "; ".join(errors) or None)


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


__all__ = ["Reader", "passes"]

"""Reading rows: by native id, by key, page by page, and raw entries turned into ``Row``s.

``by_ids`` and ``by_keys`` send one ``$filter`` per chunk (an OR of one
``(dataAreaId eq 'usmf' and CustomerAccount eq 'US-001')`` per row, under F&O's URL budget),
AND-ed with the map's filter unless told not to, and follow ``@odata.nextLink`` (pages of at
most ``page_size``, asked with ``Prefer: odata.maxpagesize``; F&O pages at 10,000 at the most).
A company-specific entity is read with ``cross-company=true``: without it F&O answers with the
rows of the application's default company only (data-entities/odata.md).

A row's version is its ``@odata.etag``; an entity that gives none gets a digest of the row's
values instead (``#`` and 20 hex digits), which changes whenever a read value changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from adapters._remote import odata
from adapters._remote.batch import Reply
from adapters._remote.transport import with_query
from replicator.adapter import Row, ScanPage, Value
from replicator.errors import PermanentError

from .keys import URL_BUDGET, condition, native_id
from .schema import Entity
from .transport import Transport
from .values import BadValue, from_fno, literal

DIGEST = "#"
"""The prefix of a version computed here (the entity has no etag)."""
_ENCODER = msgspec.json.Encoder(order="sorted")


class Reader:
    """Rows of the side's entities through ``transport``."""

    def __init__(self, side: str, transport: Transport, *, page_size: int) -> None:
        self.side, self.transport, self.page_size = side, transport, page_size

    async def by_ids(
        self, entity: Entity, native_ids: Sequence[str], *, filtered: bool = True
    ) -> dict[str, Row]:
        """The rows of ``native_ids`` that exist (and pass the filter); an id that is not a
        key of the entity names no row."""
        wanted: list[str] = []
        for text in dict.fromkeys(native_ids):
            try:
                wanted.append(condition(entity.type, text))
            except ValueError:
                continue
        raws = await self.query(entity, wanted, filtered=filtered) if wanted else []
        rows = {row.native_id: row for row in self.rows(entity, raws)}
        return {n: rows[n] for n in native_ids if n in rows}

    async def by_keys(
        self,
        entity: Entity,
        fields: Sequence[str],
        keys: Sequence[tuple[Value, ...]],
        *,
        filtered: bool = True,
    ) -> dict[tuple[Value, ...], Row]:
        """Rows by the values of ``fields``; a key no row holds is absent. Strings match
        without case, as F&O compares them."""
        props = [entity.type.properties[f] for f in fields]
        wanted: dict[tuple[Value, ...], str] = {}
        for key in keys:
            try:
                parts = [
                    f"{p.name} eq {literal(entity.name, p, v)}"
                    for p, v in zip(props, key, strict=True)
                ]
            except BadValue:
                continue  # no row can hold a value the field cannot
            wanted[key] = "(" + " and ".join(parts) + ")"
        conditions = list(dict.fromkeys(wanted.values()))
        raws = await self.query(entity, conditions, filtered=filtered) if conditions else []
        index: dict[tuple[Value, ...], Row] = {}
        for row in self.rows(entity, raws):
            index.setdefault(tuple(odata.fold(row.values.get(f)) for f in fields), row)
        folded = {key: tuple(odata.fold(v) for v in key) for key in wanted}
        return {key: index[folded[key]] for key in wanted if folded[key] in index}

    async def scan(self, entity: Entity, page: str | None, limit: int) -> ScanPage:
        """A page of the entity's rows (filtered), ordered by key, for the initial sync.

        The token of the next page is the server's ``@odata.nextLink``; should the server
        give more rows than ``limit`` (it may ignore ``odata.maxpagesize``), the rest of its
        page is handed out first, its link and an offset in the token.
        """
        size = max(1, min(limit, 10_000))
        link, skip = (None, 0) if page is None else _decode_page(page)
        if link is None:
            params = self.params(entity, entity.filter)
            params["$orderby"] = ",".join(entity.type.key)
            link = with_query(entity.name, params)
        reply = await self.get(entity, link, None, size)
        raws = self.entries(entity, reply)
        taken = raws[skip : skip + size]
        rest = skip + size < len(raws)
        following = reply.body.get("@odata.nextLink")
        if rest:
            next_page: str | None = _encode_page(link, skip + size)
        else:
            next_page = None if following is None else _encode_page(str(following), 0)
        return ScanPage(rows=self.rows(entity, taken), next=next_page)

    async def query(
        self, entity: Entity, conditions: Sequence[str], *, filtered: bool = True
    ) -> list[dict[str, Any]]:
        """Every entry matching any of ``conditions`` (and the map's filter when
        ``filtered``), chunk after chunk, page after page."""
        found: list[dict[str, Any]] = []
        base = entity.filter if filtered else None
        for text in odata.chunks(conditions, base=base, budget=URL_BUDGET):
            found += await self.pages(entity, self.params(entity, text))
        return found

    async def pages(self, entity: Entity, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every entry of a query, following ``@odata.nextLink``."""
        found: list[dict[str, Any]] = []
        url: str | None = entity.name
        asked: dict[str, str] | None = params
        while url is not None:
            reply = await self.get(entity, url, asked, self.page_size)
            found += self.entries(entity, reply)
            link = reply.body.get("@odata.nextLink")
            url, asked = (str(link) if link else None), None
        return found

    def params(self, entity: Entity, text: str | None) -> dict[str, str]:
        """``$select``, ``$filter`` (when given) and ``cross-company`` of a read."""
        params = {"$select": ",".join(entity.select)}
        if text:
            params["$filter"] = text
        if entity.type.company_specific:
            params["cross-company"] = "true"
        return params

    async def get(
        self, entity: Entity, url: str, params: dict[str, str] | None, size: int
    ) -> Reply:
        headers = {"Prefer": f"odata.maxpagesize={size}"}
        return await self.transport.get(url, params=params, headers=headers)

    def entries(self, entity: Entity, reply: Reply) -> list[dict[str, Any]]:
        """The ``value`` of a collection answer; ``PermanentError`` with F&O's error."""
        return odata.collection(self.side, entity.name, reply)

    def rows(self, entity: Entity, raws: list[dict[str, Any]]) -> list[Row]:
        return [row(entity, raw) for raw in raws]


def row(entity: Entity, raw: Mapping[str, Any]) -> Row:
    """One raw entry as a ``Row``: values converted, an unreadable field named in ``error``."""
    values: dict[str, Value] = {}
    errors: list[str] = []
    for name in entity.select:
        try:
            values[name] = from_fno(entity.name, entity.type.properties[name], raw.get(name))
        except BadValue as exc:
            errors.append(str(exc))
    key = {name: values.get(name) for name in entity.type.key}
    etag = raw.get("@odata.etag")
    version = str(etag) if etag else DIGEST + digest(values)
    changed = odata.moment(values.get(entity.poll_field)) if entity.poll_field else None
    return Row(native_id(entity.type, key), version, values, changed, "; ".join(errors) or None)


def digest(values: Mapping[str, Value]) -> str:
    """20 hex digits that change whenever one of ``values`` does."""
    return hashlib.sha256(_ENCODER.encode(dict(values))).hexdigest()[:20]


def _encode_page(link: str, skip: int) -> str:
    return msgspec.json.encode([link, skip]).decode()


def _decode_page(page: str) -> tuple[str | None, int]:
    try:
        link, skip = msgspec.json.decode(page, type=tuple[str, int])
    except msgspec.DecodeError:
        raise PermanentError(f"not a page token of this side: {page[:80]!r}") from None
    return link, skip

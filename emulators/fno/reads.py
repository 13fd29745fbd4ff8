"""GET handlers: a collection (query options, default company or ``cross-company=true``,
server paging with ``@odata.nextLink``), its ``/$count``, and one row by key.

A company-specific entity read without ``cross-company=true`` sees the caller's default
company only (``data-entities/odata.md``). Pages hold at most the server's page size (10,000
unless configured smaller), or ``Prefer: odata.maxpagesize`` if smaller; the next link repeats
the request's options with ``$skip`` (and ``$top``) moved on, as F&O's links do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from emulators.fno import errors
from emulators.fno.call import Answer, Call, json_answer
from emulators.fno.definitions import COMPANY, EntityDef, Registry
from emulators.fno.query import Options, ordered, parse_options
from emulators.fno.store import Row, Store, key_of


def visible(call: Call, entity: EntityDef, store: Store) -> list[Row]:
    """The rows this call may see: all, or the default company's."""
    rows = store.rows(entity)
    if not entity.company_specific or call.cross_company:
        return rows
    company = call.company.casefold()
    return [row for row in rows if row.values[COMPANY].casefold() == company]


def render(entity: EntityDef, row: Row, select: list[str] | None = None) -> dict[str, Any]:
    """A row as JSON: its etag (if the entity has them) and its (selected) fields."""
    names = select if select is not None else [f.name for f in entity.fields]
    head = {"@odata.etag": row.etag} if entity.etag else {}
    return head | {name: row.values[name] for name in names}


def read_collection(
    call: Call, entity: EntityDef, store: Store, registry: Registry, page_size: int
) -> Answer:
    options = parse_options(call.query, entity, registry)
    matching = _matching(call, entity, store, options)
    chosen = matching[options.skip :]
    if options.top is not None:
        chosen = chosen[: options.top]
    page = min(page_size, _max_page(call) or page_size)
    body: dict[str, Any] = {"@odata.context": f"{call.data_url}$metadata#{entity.entity_set}"}
    if options.count:
        body["@odata.count"] = len(matching)
    body["value"] = [render(entity, row, options.select) for row in chosen[:page]]
    if len(chosen) > page:
        body["@odata.nextLink"] = _next_link(call, options, page)
    return json_answer(200, body)


def _matching(call: Call, entity: EntityDef, store: Store, options: Options) -> list[Row]:
    rows = visible(call, entity, store)
    if options.predicate is not None:
        predicate = options.predicate
        rows = [row for row in rows if predicate(row.values)]
    if options.orderby:
        rows = ordered(rows, options.orderby)
    return rows


def _max_page(call: Call) -> int | None:
    wanted = call.prefer("odata.maxpagesize")
    if wanted is None:
        return None
    if not wanted.isdigit() or int(wanted) < 1:
        raise errors.bad_query(f"The odata.maxpagesize preference '{wanted}' is not valid.")
    return int(wanted)


def _next_link(call: Call, options: Options, page: int) -> str:
    query = dict(call.query)
    query["$skip"] = str(options.skip + page)
    if options.top is not None:
        query["$top"] = str(options.top - page)
    return f"{call.url}?{urlencode(query)}"


def count(call: Call, entity: EntityDef, store: Store, registry: Registry) -> Answer:
    """``/$count``: the number of matching rows, as text."""
    options = parse_options(call.query, entity, registry)
    number = len(_matching(call, entity, store, options))
    return Answer(status=200, headers={"Content-Type": "text/plain"}, body=str(number).encode())


def find(call: Call, entity: EntityDef, store: Store, key: dict[str, Any]) -> Row:
    """The row the key names, if this call may see it (404 otherwise)."""
    row = store.get(entity, key_of(entity, key))
    if row is None or not _in_scope(call, entity, row):
        raise errors.not_found(call.url)
    return row


def _in_scope(call: Call, entity: EntityDef, row: Row) -> bool:
    if not entity.company_specific or call.cross_company:
        return True
    return bool(row.values[COMPANY].casefold() == call.company.casefold())


def read_row(
    call: Call, entity: EntityDef, store: Store, registry: Registry, key: dict[str, Any]
) -> Answer:
    row = find(call, entity, store, key)
    select = parse_options(call.query, entity, registry).select
    body = {"@odata.context": f"{call.data_url}$metadata#{entity.entity_set}/$entity"}
    headers = {"ETag": row.etag} if entity.etag else {}
    return json_answer(200, body | render(entity, row, select), headers)

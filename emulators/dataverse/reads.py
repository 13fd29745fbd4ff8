"""GET of rows: one row, a collection (``$select $filter $orderby $top $count``, paging with
``Prefer: odata.maxpagesize`` and ``$skiptoken``), and change tracking (``Prefer:
odata.track-changes``, ``$deltatoken``). From ``webapi/query-data-web-api.md`` and the
change-tracking page; ``$skip`` is refused as the real service does.

Default order is by primary id and its page cookie names the last id (as the real paging
cookie does), so rows written while a client pages do not shift the pages; ``$orderby`` pages
by offset.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from emulators.dataverse import errors, query, rendering, tracking
from emulators.dataverse.call import Answer, Call, etag, json_answer
from emulators.dataverse.tableinfo import TableInfo
from emulators.dataverse.tables import Row, TableStore
from emulators.dataverse.urls import Address

MAX_PAGE = 5000
_KNOWN = {"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken"}
_NOT_WITH_TRACKING = ("$filter", "$orderby", "$expand", "$top")
_COOKIE = re.compile(r'(\w+)="([^"]*)"')


def locate(call: Call, info: TableInfo, address: Address) -> Row | None:
    """The stored row an address names (by id or alternate key), or None."""
    store = call.db.store(info.entity_set)
    if address.guid is not None:
        return store.rows.get(address.guid)
    assert address.key is not None
    alternate = info.key_for(list(address.key))
    assert alternate is not None  # urls.normalise checked it
    return store.find(alternate, address.key)


def missing(info: TableInfo, address: Address) -> errors.ApiError:
    if address.guid is not None:
        return errors.not_found(info.logical_name, address.guid)
    return errors.no_such_key_row(info.logical_name, dict(address.key or {}))


def read_row(call: Call, info: TableInfo, address: Address) -> Answer:
    """GET of one row; 304 when ``If-None-Match`` has its etag and no annotations are asked."""
    row = locate(call, info, address)
    if row is None:
        raise missing(info, address)
    patterns = rendering.wanted(call.prefer.get("odata.include-annotations"))
    if call.headers.get("if-none-match") == etag(row) and not patterns:
        return Answer(status=304, headers={"OData-Version": "4.0"})
    names = rendering.selected(info, call.query.get("$select"))
    body = {"@odata.context": _context(call, info, "/$entity")}
    body.update(rendering.render(call.db, info, row, names, patterns))
    return json_answer(200, body, {"ETag": etag(row), **_applied(call, patterns)})


def count(call: Call, info: TableInfo) -> Answer:
    """``<set>/$count``: the number of rows as plain text (query-data-web-api.md)."""
    number = str(len(call.db.store(info.entity_set).rows)).encode()
    return Answer(
        status=200, headers={"Content-Type": "text/plain", "OData-Version": "4.0"}, body=number
    )


def read_collection(call: Call, info: TableInfo) -> Answer:
    """GET of an entity set: a query page, a first change-tracking load, or a delta page."""
    _refuse_options(call)
    if "$deltatoken" in call.query or "odata.track-changes" in call.prefer:
        return _tracked(call, info)
    rows = _filtered(call.db.store(info.entity_set), call)
    cookie = _cookie(call)
    body: dict[str, Any] = {"@odata.context": _context(call, info)}
    if call.query.get("$count") == "true":
        body["@odata.count"] = min(len(rows), MAX_PAGE)
    if "$orderby" in call.query:
        terms = query.compile_orderby(call.query["$orderby"], _resolver(info))
        offset = int(cookie.get("offset", "0"))
        page = query.sort_rows(rows, terms)[offset:]
        return _page(call, info, body, page, {"offset": str(offset + _size(call))}, top=_top(call))
    page = _by_id_after(rows, info.primary_id, cookie.get("last", ""))
    return _page(call, info, body, page, {}, top=_top(call))


def _by_id_after(rows: Iterable[Row], primary_id: str, last: str) -> list[Row]:
    """The rows whose id sorts after ``last``, by id: the default order and its page cookie."""
    return sorted((r for r in rows if r[primary_id] > last), key=lambda r: r[primary_id])


def _page(
    call: Call,
    info: TableInfo,
    body: dict[str, Any],
    rows: list[Row],
    more: dict[str, str],
    *,
    top: int | None,
) -> Answer:
    size = top if top is not None else _size(call)
    patterns = rendering.wanted(call.prefer.get("odata.include-annotations"))
    names = rendering.selected(info, call.query.get("$select"))
    body["value"] = [rendering.render(call.db, info, r, names, patterns) for r in rows[:size]]
    if top is None and len(rows) > size:
        more.setdefault("last", rows[size - 1][info.primary_id])
        body["@odata.nextLink"] = _next_link(call, info, more)
    return json_answer(200, body, _applied(call, patterns))


def _tracked(call: Call, info: TableInfo) -> Answer:
    store = call.db.store(info.entity_set)
    if not info.table.change_tracking:
        # The docs give no text for this refusal; this is the sense of the real one.
        raise errors.bad_query(
            f"Change tracking is not enabled for the entity '{info.logical_name}'."
        )
    for option in _NOT_WITH_TRACKING:
        if option in call.query:
            raise errors.bad_query(
                f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.'
            )
    cookie = _cookie(call)
    upto = int(cookie.get("upto", call.db.version))
    if "$deltatoken" not in call.query:
        return _first_load(call, info, store, cookie, upto)
    since, issued = tracking.parse(call.query["$deltatoken"])
    tracking.check_fresh(store, since, issued, call.db.clock(), call.retention_s)
    after = (int(cookie.get("phase", "0")), int(cookie.get("version", "0")))
    entries = [e for e in tracking.changes(store, since, upto) if (e.phase, e.version) > after]
    return _delta_page(call, info, store, entries, upto)


def _first_load(
    call: Call, info: TableInfo, store: TableStore, cookie: dict[str, str], upto: int
) -> Answer:
    rows = _by_id_after(store.rows.values(), info.primary_id, cookie.get("last", ""))
    body: dict[str, Any] = {"@odata.context": _context(call, info)}
    if len(rows) <= _size(call):
        body["@odata.deltaLink"] = _delta_link(call, info, upto)
    return _page(call, info, body, rows, {"upto": str(upto)}, top=None)


def _delta_page(
    call: Call, info: TableInfo, store: TableStore, entries: list[tracking.Entry], upto: int
) -> Answer:
    size = _size(call)
    patterns = rendering.wanted(call.prefer.get("odata.include-annotations"))
    names = rendering.selected(info, call.query.get("$select"))
    body: dict[str, Any] = {"@odata.context": _context(call, info, "/$delta")}
    deleted_context = f"{call.api_url}$metadata#{info.entity_set}/$deletedEntity"
    value: list[dict[str, Any]] = []
    for entry in entries[:size]:
        if entry.phase == 0:
            value.append(rendering.render(call.db, info, store.rows[entry.guid], names, patterns))
        else:
            value.append({"@odata.context": deleted_context, "id": entry.guid, "reason": "deleted"})
    body["value"] = value
    if len(entries) > size:
        last = entries[size - 1]
        more = {"phase": str(last.phase), "version": str(last.version), "upto": str(upto)}
        body["@odata.nextLink"] = _next_link(call, info, more)
    else:
        body["@odata.deltaLink"] = _delta_link(call, info, upto)
    return json_answer(200, body, _applied(call, patterns))


def _refuse_options(call: Call) -> None:
    if "$skip" in call.query:
        # The real service's answer to $skip (it pages only with $skiptoken).
        raise errors.bad_query("The query parameter $skip is not supported")
    for option in call.query:
        if option.startswith("$") and option not in _KNOWN and option != "$expand":
            raise errors.bad_query(f"The query parameter {option} is not supported", status=501)
    if "$expand" in call.query and "odata.track-changes" not in call.prefer:
        raise errors.bad_query("The emulator does not support $expand on rows.", status=501)


def _filtered(store: TableStore, call: Call) -> list[Row]:
    if "$filter" not in call.query:
        return list(store.rows.values())
    text = call.query["$filter"]
    predicate = query.compile_filter(text, _resolver(store.info))
    candidates = _candidates(store, query.alternatives(text, _resolver(store.info)))
    rows = candidates if candidates is not None else store.rows.values()
    return [row for row in rows if predicate(row)]


def _candidates(
    store: TableStore, alternatives: list[dict[str, list[Any]]] | None
) -> list[Row] | None:
    """The rows the alternatives' ids or alternate keys name (each row once); None when
    one of them pins no key, so the filter must scan."""
    found: dict[str, Row] = {}
    for equal in alternatives or [{}]:
        rows = _by_key(store, equal)
        if rows is None:
            return None
        found.update((row[store.info.primary_id], row) for row in rows)
    return list(found.values())


def _by_key(store: TableStore, equal: dict[str, list[Any]]) -> list[Row] | None:
    """The rows an id or alternate key names when the filter pins its columns; else None."""
    if store.info.primary_id in equal:
        return [store.rows[g] for g in map(str, equal[store.info.primary_id]) if g in store.rows]
    for key in store.info.table.keys:
        wires = store.key_wires(key)
        if all(wire in equal for wire in wires):
            found = (
                store.find(key, dict(zip(wires, values, strict=True)))
                for values in itertools.product(*(equal[w] for w in wires))
            )
            return [row for row in found if row is not None]
    return None


def _resolver(info: TableInfo) -> query.Resolve:
    def resolve(name: str) -> str:
        if name not in info.by_wire:
            raise errors.unknown_property(info.logical_name, name)
        return name

    return resolve


def _size(call: Call) -> int:
    try:
        return max(1, min(MAX_PAGE, int(call.prefer.get("odata.maxpagesize", MAX_PAGE))))
    except ValueError:
        return MAX_PAGE


def _top(call: Call) -> int | None:
    if "$top" not in call.query:
        return None
    try:
        return max(0, int(call.query["$top"]))
    except ValueError:
        raise errors.bad_query(
            f"Invalid value '{call.query['$top']}' for $top query option found."
        ) from None


def _cookie(call: Call) -> dict[str, str]:
    return dict(_COOKIE.findall(call.query.get("$skiptoken", "")))


def _context(call: Call, info: TableInfo, suffix: str = "") -> str:
    select = call.query.get("$select")
    shape = f"({select})" if select else ""
    return f"{call.api_url}$metadata#{info.entity_set}{shape}{suffix}"


def _query_string(params: dict[str, str]) -> str:
    return "&".join(f"{name}={quote(value, safe=',()')}" for name, value in params.items())


def _next_link(call: Call, info: TableInfo, cookie: dict[str, str]) -> str:
    pages = int(_cookie(call).get("pagenumber", "1")) + 1
    attrs = " ".join(
        f'{name}="{value}"' for name, value in {"pagenumber": str(pages), **cookie}.items()
    )
    params = {k: v for k, v in call.query.items() if k != "$skiptoken"}
    params["$skiptoken"] = f"<cookie {attrs} />"
    return f"{call.api_url}{info.entity_set}?{_query_string(params)}"


def _delta_link(call: Call, info: TableInfo, upto: int) -> str:
    params = {k: v for k, v in call.query.items() if k == "$select"}
    params["$deltatoken"] = tracking.issue(upto, call.db.clock())
    return f"{call.api_url}{info.entity_set}?{_query_string(params)}"


def _applied(call: Call, patterns: list[str]) -> dict[str, str]:
    applied = []
    if "odata.maxpagesize" in call.prefer:
        applied.append(f"odata.maxpagesize={_size(call)}")
    if "odata.track-changes" in call.prefer:
        applied.append("odata.track-changes")
    if patterns:
        applied.append(f'odata.include-annotations="{",".join(patterns)}"')
    return {"Preference-Applied": ",".join(applied)} if applied else {}

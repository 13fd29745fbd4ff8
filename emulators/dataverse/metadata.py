"""``EntityDefinitions``: table definitions read through the Web API.

Paths (``webapi/query-metadata-web-api.md``, ``retrieve-metadata-name-metadataid.md``):
``EntityDefinitions`` ($filter, $select, $expand), ``EntityDefinitions(LogicalName='x')``
or ``(<MetadataId>)``; below one, ``/Attributes``, ``/Attributes(LogicalName='y')``, a cast
(``/Microsoft.Dynamics.CRM.PicklistAttributeMetadata``, with ``$expand=OptionSet``), ``/Keys``
and ``/ManyToOneRelationships``. ``$expand=Attributes($select=...;$filter=...),Keys`` works on
a table. Definitions are not paged, as the docs say.
"""

from __future__ import annotations

import re
from typing import Any

from emulators.dataverse import definitions, errors, query
from emulators.dataverse.call import Answer, Call, json_answer
from emulators.dataverse.tableinfo import OPTION_TYPES, TableInfo

_PATH = re.compile(
    r"^EntityDefinitions(?:\((?P<entity>[^)]*)\))?"
    r"(?:/(?P<part>Attributes|Keys|ManyToOneRelationships)(?:\((?P<item>[^)]*)\))?"
    r"(?:/(?P<cast>Microsoft\.Dynamics\.CRM\.\w+))?)?$"
)
_NAMED = re.compile(r"^LogicalName='([^']*)'$")
_PARTS = ("Attributes", "Keys", "ManyToOneRelationships")


def is_metadata(path: str) -> bool:
    return path.startswith("EntityDefinitions")


def answer(call: Call) -> Answer:
    """The answer to a GET below ``EntityDefinitions``."""
    match = _PATH.match(call.path)
    if match is None:
        raise errors.bad_query(f"Resource not found for the segment '{call.path}'.", status=404)
    context = f"{call.api_url}$metadata#{call.path}"
    if match["entity"] is None:
        infos = call.db.infos()
        docs = _where([definitions.entity(info) for info in infos], call.query)
        ids = {doc["MetadataId"] for doc in docs}
        kept = [i for i in infos if definitions.metadata_id(i.logical_name) in ids]
        value = [_entity_doc(call, info, call.query) for info in kept]
        return json_answer(200, {"@odata.context": context, "value": value})
    info = _table(call, match["entity"])
    if match["part"] is None:
        doc = _entity_doc(call, info, call.query)
        return json_answer(200, {"@odata.context": f"{context}/$entity", **doc})
    items = _part(call, info, match["part"], match["cast"], call.query)
    if match["item"] is None:
        return json_answer(200, {"@odata.context": context, "value": items})
    chosen = [doc for doc in items if _matches(doc, match["item"])]
    if not chosen:
        raise errors.ApiError(
            404,
            errors.NOT_FOUND,
            f"Could not find {match['part']} '{match['item']}' on entity '{info.logical_name}'.",
        )
    return json_answer(200, {"@odata.context": f"{context}/$entity", **chosen[0]})


def _table(call: Call, selector: str) -> TableInfo:
    named = _NAMED.match(selector)
    for info in call.db.infos():
        if named and info.logical_name == named[1]:
            return info
        if not named and definitions.metadata_id(info.logical_name) == selector.strip().lower():
            return info
    # The docs give no text for this; the real service answers 404 like this.
    raise errors.ApiError(
        404,
        errors.NOT_FOUND,
        f"Could not find entity with name '{named[1] if named else selector}'.",
    )


def _matches(doc: dict[str, Any], selector: str) -> bool:
    named = _NAMED.match(selector)
    return (
        doc.get("LogicalName") == named[1]
        if named
        else doc.get("MetadataId") == selector.strip().lower()
    )


def _entity_doc(call: Call, info: TableInfo, options: dict[str, str]) -> dict[str, Any]:
    doc = definitions.entity(info)
    known = set(doc) | set(_PARTS)
    expand = _expand(options.get("$expand", ""))
    for name in expand:
        if name not in _PARTS:
            raise errors.unknown_property("EntityMetadata", name)
    doc = _select(doc, options.get("$select"), "EntityMetadata", known, keep=set(expand))
    for name, inner in expand.items():
        doc[name] = _part(call, info, name, None, inner)
    return doc


def _part(
    call: Call, info: TableInfo, part: str, cast: str | None, options: dict[str, str]
) -> list[dict[str, Any]]:
    if part == "Keys":
        docs = [definitions.key(info, k.logical_name, k.columns) for k in info.table.keys]
    elif part == "ManyToOneRelationships":
        docs = definitions.many_to_one(
            info, {i.logical_name: i.primary_id for i in call.db.infos()}
        )
    else:
        docs = _attributes(info, cast, options)
    docs = _where(docs, options)
    return [_select(doc, options.get("$select"), None, None, keep={"OptionSet"}) for doc in docs]


def _attributes(info: TableInfo, cast: str | None, options: dict[str, str]) -> list[dict[str, Any]]:
    expand = _expand(options.get("$expand", ""))
    docs = []
    for column in info.columns.values():
        doc = definitions.attribute(info, column)
        if cast and doc["@odata.type"] != f"#{cast}":
            continue
        if "OptionSet" in expand and column.type in OPTION_TYPES:
            doc["OptionSet"] = definitions.option_set(info, column)
        if "GlobalOptionSet" in expand:
            doc["GlobalOptionSet"] = None
        docs.append(doc)
    return docs


def _where(docs: list[dict[str, Any]], options: dict[str, str]) -> list[dict[str, Any]]:
    if "$filter" not in options:
        return docs
    known = set().union(*(doc.keys() for doc in docs)) if docs else set()

    def resolve(name: str) -> str:
        if name.split("/")[0] not in known:
            raise errors.unknown_property("EntityMetadata", name)
        return name

    predicate = query.compile_filter(options["$filter"], resolve)
    return [doc for doc in docs if predicate(doc)]


def _select(
    doc: dict[str, Any],
    select: str | None,
    type_name: str | None,
    known: set[str] | None,
    keep: set[str],
) -> dict[str, Any]:
    if not select:
        return doc
    names = [name.strip() for name in select.split(",") if name.strip()]
    for name in names:
        if known is not None and type_name is not None and name not in known:
            raise errors.unknown_property(type_name, name)
    always = {"@odata.type", "MetadataId"} | keep
    return {k: v for k, v in doc.items() if k in names or k in always}


def _expand(text: str) -> dict[str, dict[str, str]]:
    """``A($select=x;$filter=y),B`` -> {"A": {"$select": "x", "$filter": "y"}, "B": {}}."""
    found: dict[str, dict[str, str]] = {}
    for item in _split(text, ","):
        name, _, rest = item.partition("(")
        options: dict[str, str] = {}
        for option in _split(rest.removesuffix(")"), ";"):
            key, _, value = option.partition("=")
            options[key.strip()] = value.strip()
        found[name.strip()] = options
    return found


def _split(text: str, separator: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [part for part in [*parts, current] if part.strip()]

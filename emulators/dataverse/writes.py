"""POST, PATCH (update and upsert) and DELETE of rows.

From ``webapi/create-entity-web-api.md``, ``update-delete-entities-using-web-api.md``,
``perform-conditional-operations-using-web-api.md`` and
``associate-disassociate-entities-using-web-api.md``:
204 with ``OData-EntityId`` (201/200 with the row and its ``ETag`` under ``Prefer:
return=representation``); a PATCH creates a missing row unless ``If-Match`` is given (then
404), ``If-None-Match: *`` refuses an existing row (412), ``If-Match: W/"n"`` refuses another
version (412 0x80060882); lookups are written ``<navprop>@odata.bind: "/<set>(<id or key>)"``.
"""

from __future__ import annotations

from typing import Any

from emulators.dataverse import errors, rendering, values
from emulators.dataverse.call import Answer, Call, etag, json_answer
from emulators.dataverse.reads import locate, missing
from emulators.dataverse.tableinfo import LOOKUP_TYPES, TableInfo
from emulators.dataverse.tables import Row
from emulators.dataverse.urls import Address, bind_target, normalise

BIND = "@odata.bind"


def create(call: Call, info: TableInfo) -> Answer:
    """POST to an entity set."""
    body = call.json_body(info.entity_set)
    guid = body.pop(info.primary_id, None)
    if guid is not None:
        guid = values.check(info, info.columns[info.primary_id], guid)
    changes, targets = _changes(call, info, body)
    row = call.db.create(info.entity_set, changes, user=call.user, guid=guid, targets=targets)
    return _written(call, info, row, 201)


def upsert(call: Call, info: TableInfo, address: Address) -> Answer:
    """PATCH of a row by id or alternate key: update, or create when it is missing."""
    row = locate(call, info, address)
    if_match = call.headers.get("if-match")
    body = call.json_body(info.entity_set)
    body.pop(info.primary_id, None)
    if row is None:
        if if_match is not None:
            raise missing(info, address)
        changes, targets = _changes(call, info, {**body, **_key_columns(call, info, address)})
        created = call.db.create(
            info.entity_set, changes, user=call.user, guid=address.guid, targets=targets
        )
        return _written(call, info, created, 201)
    if call.headers.get("if-none-match") == "*":
        raise errors.already_exists()
    if if_match not in (None, "*", etag(row)):
        raise errors.version_mismatch()
    for name in address.key or {}:
        body.pop(name, None)  # key columns in the body of an existing row are dropped
    changes, targets = _changes(call, info, body)
    guid = row[info.primary_id]
    updated = call.db.update(info.entity_set, guid, changes, user=call.user, targets=targets)
    return _written(call, info, updated, 200)


def delete(call: Call, info: TableInfo, address: Address) -> Answer:
    """DELETE of a row; ``If-Match`` with another version answers 412."""
    row = locate(call, info, address)
    if row is None:
        raise missing(info, address)
    if call.headers.get("if-match") not in (None, "*", etag(row)):
        raise errors.version_mismatch()
    call.db.delete(info.entity_set, row[info.primary_id])
    return Answer(status=204, headers={"OData-Version": "4.0"})


def reference(call: Call, info: TableInfo, address: Address, nav: str) -> Answer:
    """PUT (``{"@odata.id": url}``) or DELETE of ``<row>/<single-valued navprop>/$ref``."""
    row = locate(call, info, address)
    if row is None:
        raise missing(info, address)
    if nav not in info.navigation:
        raise errors.bad_query(f"Resource not found for the segment '{nav}'.", status=404)
    value = call.json_body(info.entity_set).get("@odata.id") if call.method == "PUT" else None
    wire, target, guid = _bound(call, info, nav, value)
    targets = {wire: target} if guid is not None else None
    call.db.update(
        info.entity_set, row[info.primary_id], {wire: guid}, user=call.user, targets=targets
    )
    return Answer(status=204, headers={"OData-Version": "4.0"})


def single_property(call: Call, info: TableInfo, address: Address, name: str) -> Answer:
    """PUT ``{"value": v}`` to ``<row>/<property>``, or DELETE of it (sets it null)."""
    row = locate(call, info, address)
    if row is None:
        raise missing(info, address)
    column = info.by_wire.get(name)
    if column is None or column.type in LOOKUP_TYPES:
        raise errors.bad_query(f"Resource not found for the segment '{name}'.", status=404)
    value = call.json_body(info.entity_set).get("value") if call.method == "PUT" else None
    changes, _ = _changes(call, info, {name: value})
    call.db.update(info.entity_set, row[info.primary_id], changes, user=call.user)
    return Answer(status=204, headers={"OData-Version": "4.0"})


def _written(call: Call, info: TableInfo, row: Row, status: int) -> Answer:
    location = f"{call.api_url}{info.entity_set}({row[info.primary_id]})"
    if call.prefer.get("return") != "representation":
        return Answer(status=204, headers={"OData-Version": "4.0", "OData-EntityId": location})
    names = rendering.selected(info, call.query.get("$select"))
    patterns = rendering.wanted(call.prefer.get("odata.include-annotations"))
    select = call.query.get("$select")
    shape = f"({select})" if select else ""
    body = {"@odata.context": f"{call.api_url}$metadata#{info.entity_set}{shape}/$entity"}
    body.update(rendering.render(call.db, info, row, names, patterns))
    headers = {
        "ETag": etag(row),
        "OData-EntityId": location,
        "Location": location,
        "Preference-Applied": "return=representation",
    }
    return json_answer(status, body, headers)


def _key_columns(call: Call, info: TableInfo, address: Address) -> dict[str, Any]:
    """The key values of an upsert's URL, as body properties (lookups as binds)."""
    found: dict[str, Any] = {}
    for name, value in (address.key or {}).items():
        column = info.by_wire[name]
        if column.type in LOOKUP_TYPES:
            target = call.db.store(column.targets[0]).info
            nav = next(
                n
                for n, (c, t) in info.navigation.items()
                if c is column and t == target.logical_name
            )
            found[f"{nav}{BIND}"] = f"/{target.entity_set}({value})"
        else:
            found[name] = value
    return found


def _changes(call: Call, info: TableInfo, body: dict[str, Any]) -> tuple[Row, dict[str, str]]:
    """The body as stored values by wire name, and the target table of each lookup bound."""
    changes: Row = {}
    targets: dict[str, str] = {}
    for name, value in body.items():
        if name.endswith(BIND):
            wire, target, guid = _bound(call, info, name.removesuffix(BIND), value)
            changes[wire] = guid
            if guid is not None:
                targets[wire] = target
        elif name.startswith("@") or "@" in name:
            continue  # instance annotations such as @odata.type
        elif name in info.by_wire:
            column = info.by_wire[name]
            if column.type in LOOKUP_TYPES:
                raise errors.bad_query(
                    "CRM do not support direct update of Entity Reference properties, Use "
                    "Navigation properties instead."
                )
            if not column.read_only:  # the service ignores values for read-only columns
                changes[name] = values.check(info, column, value)
        elif name in info.navigation and value is None:  # disassociate by the property name
            changes[f"_{info.navigation[name][0].logical_name}_value"] = None
        elif name in info.navigation:
            raise errors.bad_query("The emulator does not support deep insert.", status=501)
        else:
            raise errors.undeclared_property(info.entity_set, info.logical_name, name)
    return changes, targets


def _bound(call: Call, info: TableInfo, nav: str, value: Any) -> tuple[str, str, str | None]:
    if nav not in info.navigation:
        raise errors.payload(
            info.entity_set,
            f"An undeclared property '{nav}' which only has property annotations in the payload"
            " but no property value was found in the payload. In OData, only declared navigation"
            " properties and declared named streams can be represented as properties without"
            " values.",
        )
    column, target = info.navigation[nav]
    wire = f"_{column.logical_name}_value"
    if value is None:
        return wire, target, None
    if not isinstance(value, str):
        raise errors.payload(info.entity_set, f"The value of '{nav}{BIND}' must be a URL string.")
    if not call.db.has(target):
        raise errors.payload(info.entity_set, f"The emulator has no table '{target}' for '{nav}'.")
    target_info = call.db.store(target).info
    address = bind_target(value, "/api/data/v9.2/")
    if address.entity_set != target_info.entity_set or address.rest:
        raise errors.payload(
            info.entity_set,
            f"The navigation property '{nav}' references entities of type"
            f" '{errors.entity_type(target)}', and '{value}' does not name one.",
        )
    address = normalise(target_info, address)
    row = locate(call, target_info, address)
    if row is None:
        raise missing(target_info, address)
    return wire, target, row[target_info.primary_id]

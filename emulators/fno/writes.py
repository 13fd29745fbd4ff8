"""POST, PATCH and DELETE of data entity rows, as ``data-entities/odata.md`` describes them.

- POST creates (201 with the row, ``Prefer: return=minimal`` -> 204); a key that exists is
  F&O's duplicate-key error. A company-specific row without ``dataAreaId`` goes to the caller's
  default company; a row for another company needs ``cross-company=true`` (the emulator refuses
  it otherwise, with an Infolog text of its own: the docs do not give F&O's).
- PATCH updates (204), DELETE deletes (204); either on a missing row is a 404 (no upsert).
- ``If-Match`` with the row's ``@odata.etag`` (or ``*``): a mismatch is 412.
- An entity's modified date-time field is the server's: every create and update sets it.
- Every create and update runs ``validateWrite`` (``validation.py``); its errors come back as
  F&O's write failure with the Infolog text.
"""

from __future__ import annotations

from typing import Any

from emulators.fno import errors, values
from emulators.fno.call import Answer, Call, json_answer
from emulators.fno.definitions import COMPANY, EntityDef, Registry
from emulators.fno.reads import find, render
from emulators.fno.store import Duplicate, Row, Store
from emulators.fno.urls import key_segment
from emulators.fno.validation import validate_write


def create(call: Call, entity: EntityDef, store: Store, registry: Registry) -> Answer:
    given = values.read_body(entity, call.json_body(), registry)
    if entity.company_specific:
        given[COMPANY] = _company(call, entity, given.get(COMPANY))
    row_values = {f.name: values.default(f, registry) for f in entity.fields} | given
    row_values |= values.stamp(entity)
    _validate(entity, row_values, store, registry)
    try:
        row = store.insert(entity, row_values, user=call.user)
    except Duplicate:
        raise errors.write_failed(entity.aot_name, [_duplicate(entity, row_values)]) from None
    location = f"{call.data_url}{entity.entity_set}{key_segment(entity, row.values)}"
    headers = {"Location": location} | ({"ETag": row.etag} if entity.etag else {})
    if call.prefer("return") == "minimal":
        minimal = {"OData-EntityId": location, "Preference-Applied": "return=minimal"}
        return Answer(status=204, headers=headers | minimal)
    body = {"@odata.context": f"{call.data_url}$metadata#{entity.entity_set}/$entity"}
    return json_answer(201, body | render(entity, row), headers)


def _company(call: Call, entity: EntityDef, given: Any) -> str:
    if not given:
        return call.company.lower()
    company = str(given).lower()
    if company != call.company.lower() and not call.cross_company:
        raise errors.write_failed(
            entity.aot_name,
            [f"The company '{company}' is not the current company '{call.company.lower()}'."
             " Write to another company with cross-company=true."],
        )  # fmt: skip
    return company


def _duplicate(entity: EntityDef, row_values: dict[str, Any]) -> str:
    own = [name for name in entity.keys if name != COMPANY]
    captions = ", ".join(_caption(entity, name) for name in own)
    shown = ", ".join(str(row_values[name]) for name in own)
    if entity.company_specific:
        shown += f", {row_values[COMPANY]}"
    return (
        f"Cannot create a record in {entity.label} ({entity.table}). {captions}: {shown}."
        " The record already exists."
    )


def _caption(entity: EntityDef, name: str) -> str:
    field = entity.field(name)
    return field.caption if field else name


def _validate(entity: EntityDef, row: dict[str, Any], store: Store, registry: Registry) -> None:
    problems = validate_write(entity, row, store, registry)
    if problems:
        raise errors.write_failed(entity.aot_name, problems)


def _check_etag(call: Call, entity: EntityDef, row: Row) -> None:
    wanted = call.headers.get("if-match")
    if wanted is None or wanted.strip() == "*" or not entity.etag:
        return
    if row.etag not in [tag.strip() for tag in wanted.split(",")]:
        raise errors.etag_mismatch()


def update(
    call: Call, entity: EntityDef, store: Store, registry: Registry, key: dict[str, Any]
) -> Answer:
    row = find(call, entity, store, key)
    _check_etag(call, entity, row)
    given = values.read_body(entity, call.json_body(), registry)
    for name in entity.keys:
        if name in given and str(given[name]).casefold() != str(row.values[name]).casefold():
            raise errors.bad_payload(
                f"The key property '{name}' of '{entity.qualified}' cannot be changed."
            )
        given.pop(name, None)
    given |= values.stamp(entity)
    _validate(entity, row.values | given, store, registry)
    new = store.update(entity, row, given, user=call.user)
    headers = {"ETag": new.etag} if entity.etag else {}
    if call.prefer("return") == "representation":
        body = {"@odata.context": f"{call.data_url}$metadata#{entity.entity_set}/$entity"}
        return json_answer(200, body | render(entity, new), headers)
    return Answer(status=204, headers=headers)


def delete(call: Call, entity: EntityDef, store: Store, key: dict[str, Any]) -> Answer:
    row = find(call, entity, store, key)
    _check_etag(call, entity, row)
    store.delete(entity, row, user=call.user)
    return Answer(status=204)

"""Writes: one ``$batch`` part per ``WriteOp`` (a change set each), and what its answer means.

(powerapps-docs: webapi/perform-conditional-operations-using-web-api.md,
webapi/compose-http-requests-handle-errors.md.) An insert is ``POST <set>`` with
``Prefer: return=representation`` (201: the new GUID and etag); an update is
``PATCH <set>(<guid>)`` with ``If-Match: <etag>`` (``*`` when no version is expected: it
never creates a row) and ``Prefer: return=representation`` (200: the new etag); a delete
is ``DELETE <set>(<guid>)``, with ``If-Match`` when a version is expected.

A plain lookup field (a GUID) is written ``<navigation property>@odata.bind:
"/<target set>(<guid>)"``; a dotted field the same with the GUID of the row holding its
value (resolved before by ``lookups.py``); ``None`` unbinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from adapters._remote.batch import Part, Reply
from adapters._remote.writes import retry_after, why
from replicator.adapter import Value, Values, WriteOp, WriteResult

from .errors import CONCURRENCY_MISMATCH, DUPLICATE_KEY, DUPLICATE_RECORD
from .keys import row_url
from .metadata import LOOKUPS
from .schema import Entity, Field
from .values import BadValue, to_dataverse

Guids = Mapping[str, Mapping[Value, str]]
"""Per dotted field: the GUID of the referenced row holding each value."""

Followup = Literal["current", "key"]
"""An answer that needs a read: the row as it is now (by id), or the row holding the key."""

_DUPLICATES = frozenset({DUPLICATE_KEY, DUPLICATE_RECORD})


def body(entity: Entity, values: Values, guids: Guids) -> dict[str, Any]:
    """The JSON body setting ``values``; ``BadValue`` for a value that cannot be sent."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        field = entity.fields.get(name)
        if field is None:
            raise BadValue(f"entity {entity.name!r}: field {name!r} is not mapped on this side")
        key, sent = _property(entity, field, value, guids)
        out[key] = sent
    return out


def _property(entity: Entity, field: Field, value: Value, guids: Guids) -> tuple[str, Any]:
    column = field.column
    if column.type not in LOOKUPS:
        return column.name, to_dataverse(entity.name, column, value)
    ref, target = field.reference, field.target
    assert ref is not None and target is not None  # resolve() gives every lookup both
    bind = f"{ref.nav_property}@odata.bind"
    if value is None:
        return bind, None
    if field.dotted:
        guid = guids.get(field.name, {}).get(value)
        if guid is None:
            shown = f"{target.entity_set}.{field.name.partition('.')[2]}"
            raise BadValue(
                f"entity {entity.name!r}, field {field.name!r}: no row has {shown} = {value!r}"
            )
    else:
        guid = str(to_dataverse(entity.name, column, value))
    return bind, f"/{row_url(target.entity_set, guid)}"


def part(entity: Entity, op: WriteOp, sent: dict[str, Any]) -> Part:
    """The ``$batch`` part of ``op`` (its own change set)."""
    representation = {"Prefer": "return=representation"}
    if op.op == "insert":
        return Part(method="POST", url=entity.name, headers=representation, json=sent)
    url = row_url(entity.name, op.native_id or "")
    if op.op == "update":
        headers = {"If-Match": op.expected_version or "*", **representation}
        return Part(method="PATCH", url=url, headers=headers, json=sent)
    headers = {"If-Match": op.expected_version} if op.expected_version else {}
    return Part(method="DELETE", url=url, headers=headers)


def outcome(side: str, entity: Entity, op: WriteOp, reply: Reply) -> WriteResult | Followup:
    """What the answer to ``op`` means, or which read decides it."""
    status = reply.status
    if 200 <= status < 300:
        return applied(entity, op, reply)
    error = reply.error()
    code = error.code if error is not None else ""
    if status == 429:
        return WriteResult(
            "transient", reason=why(side, op, str(error)), retry_after=retry_after(reply)
        )
    if status >= 500 or status == 424:
        return WriteResult("transient", reason=why(side, op, str(error)))
    if status == 404 and op.op == "delete":
        return WriteResult("applied", native_id=op.native_id)  # gone already: idempotent
    if status == 404 and op.op == "update":
        return WriteResult("conflict", reason="row does not exist")
    if op.op == "insert" and code in _DUPLICATES:
        return "key"
    if status == 412 or code == CONCURRENCY_MISMATCH:
        return "current"
    return WriteResult("permanent", native_id=op.native_id, reason=why(side, op, str(error)))


def applied(entity: Entity, op: WriteOp, reply: Reply) -> WriteResult:
    """An applied op, with the row's GUID and its new etag (when the answer carries them)."""
    data = reply.body if isinstance(reply.body, dict) else {}
    native_id = op.native_id
    if op.op == "insert":
        native_id = data.get(entity.table.primary_id) or _entity_id(reply)
    version = data.get("@odata.etag") or reply.headers.get("etag")
    return WriteResult(
        "applied",
        native_id=None if native_id is None else str(native_id).lower(),
        version=None if op.op == "delete" else version,
    )


def _entity_id(reply: Reply) -> str | None:
    """The GUID in ``OData-EntityId: <url>/accounts(<guid>)``."""
    link = reply.headers.get("odata-entityid", "")
    if link.endswith(")") and "(" in link:
        return link[link.rindex("(") + 1 : -1]
    return None

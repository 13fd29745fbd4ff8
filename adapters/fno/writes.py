"""Writes: one ``$batch`` part per ``WriteOp`` (a change set each), and what its answer means.

F&O's OData has no upsert (data-entities/odata.md): an insert is ``POST <set>`` with the key
fields in the body; an update is ``PATCH <set>(<key>)`` without them (the key is the URL),
``If-Match`` the row's etag when the core expects a version (``*`` when it does not: only an
existing row is changed); a delete is ``DELETE <set>(<key>)``. Bodies carry enum members by
name and ``""`` for an empty string (``values.py``). ``Prefer: return=representation`` asks
for the row back (its new etag); an answer without one is read back afterwards.

What an answer means (``outcome``):

* 2xx: applied. A 404 to a DELETE: applied (the row is gone already: idempotent).
* A 404 to a PATCH that expected no version: the row is missing, so the write is a create:
  the side POSTs it (``Followup`` ``"create"``). With an expected version, the row the core
  knew is gone: a conflict without a current row.
* 412 (the etag no longer matches): a conflict with the row as it is now (``"current"``).
* A refused POST (4xx): the row read by its key decides: there, a conflict with it
  (``"key"``); not there, a permanent failure with F&O's own message.
* 429 (a part throttled inside a ``$batch``), 5xx, 424: transient.
* Any other 4xx (``validateWrite``, business logic, a field F&O refuses): permanent, with
  F&O's own text (its ``message`` and its ``innererror``'s).

Every write of a company-specific entity carries ``cross-company=true``: without it F&O writes
only in the user's default company and refuses a row of another (D365-REFERENCE, F&O OData).
"""

from __future__ import annotations

from typing import Any, Literal

from adapters._remote.batch import Part, Reply
from adapters._remote.writes import retry_after, why
from replicator.adapter import Values, WriteOp, WriteResult

from .keys import key_values, native_id, row_url
from .reads import DIGEST
from .schema import Entity
from .values import BadValue, to_fno

Followup = Literal["current", "key", "create"]
"""An answer that needs another request: the row as it is now (by native id), the row
holding the insert's key, or a POST of a PATCH that found no row."""

REPRESENTATION = {"Prefer": "return=representation"}


def body(entity: Entity, values: Values, *, keys: bool) -> dict[str, Any]:
    """The JSON body setting ``values`` (the key fields only when ``keys``); ``BadValue`` for
    a value that cannot be sent, or a field the entity does not have."""
    out: dict[str, Any] = {}
    key = set(entity.type.key)
    for name, value in values.items():
        prop = entity.type.properties.get(name)
        if prop is None:
            raise BadValue(f"entity {entity.name!r}: no field {name!r}")
        if name in key and not keys:
            continue
        out[name] = to_fno(entity.name, prop, value)
    return out


def part(entity: Entity, op: WriteOp) -> Part:
    """The ``$batch`` part of ``op`` (its own change set)."""
    if op.op == "insert":
        return insert(entity, op.values)
    url = _scoped(entity, row_url(entity.type, op.native_id or ""))
    match = _if_match(op.expected_version)
    if op.op == "update":
        headers = {"If-Match": match or "*", **REPRESENTATION}
        return Part(
            method="PATCH", url=url, headers=headers, json=body(entity, op.values, keys=False)
        )
    return Part(method="DELETE", url=url, headers={"If-Match": match} if match else {})


def insert(entity: Entity, values: Values) -> Part:
    return Part(
        method="POST",
        url=_scoped(entity, entity.name),
        headers=REPRESENTATION,
        json=body(entity, values, keys=True),
    )


def _scoped(entity: Entity, url: str) -> str:
    """``url`` with ``cross-company=true`` for a company-specific entity (any company's row)."""
    return f"{url}?cross-company=true" if entity.type.company_specific else url


def create(entity: Entity, op: WriteOp) -> Part:
    """The POST of an update whose row is missing: its key from the native id, its values."""
    return insert(entity, {**op.values, **key_values(entity.type, op.native_id or "")})


def _if_match(version: str | None) -> str | None:
    """The ``If-Match`` of an expected version: an etag as it is; a digest (an entity without
    etags) or none: no condition here (the side compares digests itself before writing)."""
    if not version or version.startswith(DIGEST):
        return None
    return version


def outcome(side: str, entity: Entity, op: WriteOp, reply: Reply) -> WriteResult | Followup:
    """What the answer to ``op`` means, or which further request decides it."""
    status = reply.status
    if 200 <= status < 300:
        return applied(entity, op, reply)
    error = text(reply)
    if status == 429:
        return WriteResult("transient", reason=why(side, op, error), retry_after=retry_after(reply))
    if status >= 500 or status == 424:
        return WriteResult("transient", reason=why(side, op, error))
    if status == 404 and op.op == "delete":
        return WriteResult("applied", native_id=op.native_id)
    if status == 404 and op.op == "update":
        return "create" if not op.expected_version else "current"
    if status == 412:
        return "current"
    if op.op == "insert" and 400 <= status < 500:
        return "key"
    return WriteResult("permanent", native_id=op.native_id, reason=why(side, op, error))


def applied(entity: Entity, op: WriteOp, reply: Reply) -> WriteResult:
    """An applied op, with the row's native id and new etag (when the answer carries them)."""
    data = reply.body if isinstance(reply.body, dict) else {}
    nid = op.native_id
    if op.op == "insert" or nid is None:
        key = {k: data.get(k, op.values.get(k)) for k in entity.type.key}
        prop = entity.type.properties
        try:
            nid = native_id(entity.type, {k: _core(prop[k].type, v) for k, v in key.items()})
        except BadValue:
            nid = native_id(entity.type, {k: op.values.get(k) for k in entity.type.key})
    version = data.get("@odata.etag") or reply.headers.get("etag")
    return WriteResult(
        "applied", native_id=nid, version=None if op.op == "delete" else (version or None)
    )


def text(reply: Reply) -> str:
    """F&O's own words for a refused request: the error's message, and its inner error's
    when that says more (the infolog of ``validateWrite``)."""
    error = reply.error()
    message = str(error) if error else f"HTTP {reply.status}"
    inner = reply.body.get("error", {}).get("innererror") if isinstance(reply.body, dict) else None
    said = inner.get("message") if isinstance(inner, dict) else None
    if isinstance(said, str) and said.strip() and said.strip() not in message:
        message += f" ({said.strip()})"
    return message


def _core(kind: str, raw: Any) -> Any:
    """A key value as read from a body: ``""`` is what F&O sends for an empty string."""
    if kind == "Edm.String" and raw == "":
        return None
    return raw

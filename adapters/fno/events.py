"""Data events as F&O delivers them to an HTTPS endpoint, parsed into "which row changed".

F&O's data events (business-events/data-events.md) go out through the Power Platform
integration as a ``RemoteExecutionContext`` (the Dataverse SDK's class): ``MessageName``
(``Create``, ``Update``, ``Delete``), ``PrimaryEntityName`` (the virtual table of the data
entity, ``mserp_custcustomerv3entity``), ``InputParameters`` whose ``Target`` holds the record
(``Attributes`` as ``[{"key": …, "value": …}]`` pairs, or an object) and ``PreEntityImages`` /
``PreImage`` the record before the change (what a delete carries). An endpoint may get one such
object or a JSON array of them (Event Grid and Service Bus relays batch). Business events add
``EventId`` and ``ControlNumber`` (business-events/home-page.md), used here, when present, to
know a duplicate.

Only *which* row changed is taken: its entity and key. The payload's values are never applied
(events are neither ordered nor guaranteed: the feed reads the row as it is now). An event of an
entity the side does not map is accepted and dropped; one this module cannot read is refused
with the reason (``EventError``), and nothing of its request is journaled.

For an HTTPS endpoint the docs give no schema of a data event. The business-event envelope of
business-events/home-page.md (``BusinessEventId``, ``ControlNumber``, ``EventId``,
``EventTime``, ``BusinessEventLegalEntity``) carrying ``EventType`` (``Create``/``Update``/
``Delete``), ``EntitySetName`` (or ``EntityName``) and ``Keys`` (the key fields) is taken as
well: it is what the project's F&O emulator sends, and the shape F&O's own business events
would give a data event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from replicator.adapter import Value

from .keys import native_id
from .schema import Entity
from .values import BadValue

Op = Literal["upsert", "delete"]
_OPS: dict[str, Op] = {"create": "upsert", "update": "upsert", "delete": "delete"}
_DECODER = msgspec.json.Decoder()
MAX_EVENTS = 1000
"""The most events one request may carry."""


class EventError(ValueError):
    """A request that is not data events this side can read; the message says why."""


class Event(msgspec.Struct, frozen=True):
    """One accepted event: which row of which entity changed, and how to know it again."""

    entity: str
    native_id: str
    op: Op
    event_id: str
    """The row and the event's identity (``EventId``, else the context's ids, else a digest
    of it): the inbox keeps one of each."""


def parse(body: bytes, entities: Mapping[str, Entity], aliases: Mapping[str, str]) -> list[Event]:
    """The events of a request body for the mapped ``entities`` (by entity set name);
    ``aliases`` maps an event's table name to an entity set. Raises ``EventError``."""
    try:
        document = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise EventError(f"the body is not JSON: {exc}") from None
    items = document if isinstance(document, list) else [document]
    if not items:
        raise EventError("the body holds no event")
    if len(items) > MAX_EVENTS:
        raise EventError(f"the body holds {len(items)} events, more than {MAX_EVENTS}")
    lookup = _names(entities, aliases)
    found = []
    for number, item in enumerate(items, 1):
        where = f"event {number}" if len(items) > 1 else "the event"
        if not isinstance(item, dict):
            raise EventError(f"{where} is not a JSON object")
        event = _event(item, lookup, where)
        if event is not None:
            found.append(event)
    return found


def _names(entities: Mapping[str, Entity], aliases: Mapping[str, str]) -> dict[str, Entity]:
    """Every name an event may give a mapped entity, lower-cased: the entity set, the entity
    type, and each as a virtual table (``mserp_`` + name, with or without ``entity``)."""
    names: dict[str, Entity] = {}
    for entity in entities.values():
        for base in (entity.name, entity.type.type_name.rpartition(".")[2]):
            for name in (base, f"mserp_{base}", f"mserp_{base}entity", f"{base}entity"):
                names.setdefault(name.lower(), entity)
    for alias, entity_set in aliases.items():
        if entity_set in entities:
            names[alias.lower()] = entities[entity_set]
    return names


def _entity_for(table: str, lookup: Mapping[str, Entity]) -> Entity | None:
    """The mapped entity a data event's table stands for. A virtual table is named after the
    entity's AOT name (``mserp_custcustomerv3entity`` for ``CustCustomerV3Entity``), which
    ``$metadata`` does not give; the public type name (``CustomerV3``) ends it, so a single
    mapped entity whose type name ends the table's name is the one (``event_entities``
    settles the rest)."""
    name = table.lower()
    if name in lookup:
        return lookup[name]
    bare = name.removeprefix("mserp_").removesuffix("entity")
    found = {
        id(e): e
        for e in lookup.values()
        if bare.endswith(e.type.type_name.rpartition(".")[2].lower())
    }
    return next(iter(found.values())) if len(found) == 1 else None


def _event(item: dict[str, Any], lookup: Mapping[str, Entity], where: str) -> Event | None:
    if "MessageName" in item:
        message, table = item.get("MessageName"), item.get("PrimaryEntityName")
        name = "MessageName"
    elif "EventType" in item:
        message, name = item.get("EventType"), "EventType"
        table = item.get("EntitySetName") or item.get("EntityName")
    else:
        raise EventError(
            f"{where} is neither a RemoteExecutionContext (MessageName) nor a business-event "
            "envelope (EventType, Keys)"
        )
    if not isinstance(message, str) or message.lower() not in _OPS:
        raise EventError(f"{where}: {name} must be Create, Update or Delete, got {message!r}")
    if not isinstance(table, str) or not table:
        what = "PrimaryEntityName" if name == "MessageName" else "EntitySetName (or EntityName)"
        raise EventError(f"{where}: {what} is missing")
    entity = _entity_for(table, lookup)
    if entity is None:
        return None  # an entity the side does not map: nothing to do
    op = _OPS[message.lower()]
    record = _record(item, op) if name == "MessageName" else _pairs(item.get("Keys")) or None
    if record is None:
        wanted = "no Target or PreImage record with attributes"
        raise EventError(f"{where}: {wanted if name == 'MessageName' else 'no Keys'}")
    try:
        key = _key(entity, record)
    except BadValue as exc:
        raise EventError(f"{where}: {exc}") from None
    if key is None:
        missing = ", ".join(k for k in entity.type.key if _find(record, k) is _MISSING)
        raise EventError(f"{where}: the record of {table} lacks its key field(s) {missing}")
    nid = native_id(entity.type, key)
    return Event(entity.name, nid, op, f"{entity.name}({nid}) {_identity(item)}")


def _record(item: dict[str, Any], op: Op) -> dict[str, Any] | None:
    """The attributes of the event's record: Target, else its pre-image."""
    inputs = _pairs(item.get("InputParameters"))
    images = [inputs.get("Target"), inputs.get("PreImage")]
    for name in ("PreEntityImages", "PostEntityImages"):
        images += list(_pairs(item.get(name)).values())
    if op == "delete":
        images.reverse()  # a delete's Target may be a bare reference: its image says more
        images.sort(key=lambda image: not isinstance(image, dict) or "Attributes" not in image)
    for image in images:
        if isinstance(image, dict):
            attributes = _pairs(image.get("Attributes"))
            if attributes:
                return attributes
    return None


def _pairs(value: Any) -> dict[str, Any]:
    """A ``[{"key": k, "value": v}]`` collection (the SDK's JSON) or an object, as a dict."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {
            str(p["key"]): p.get("value")
            for p in value
            if isinstance(p, dict) and isinstance(p.get("key"), str)
        }
    return {}


_MISSING = object()


def _find(record: Mapping[str, Any], field: str) -> Any:
    """The value of ``field`` in a record whose names may be the virtual table's
    (``mserp_customeraccount``): compared without case, ``mserp_`` ignored."""
    wanted = field.lower()
    for name, value in record.items():
        bare = name.lower().removeprefix("mserp_")
        if bare == wanted:
            return value
    return _MISSING


def _key(entity: Entity, record: Mapping[str, Any]) -> dict[str, Value] | None:
    key: dict[str, Value] = {}
    for name in entity.type.key:
        value = _find(record, name)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, dict):  # an OptionSetValue or an EntityReference: no member name
            raise BadValue(f"key field {name!r} is {value!r}, not a value")
        key[name] = value
    return key


def _identity(item: dict[str, Any]) -> str:
    for name in ("EventId", "OperationId", "RequestId"):
        value = item.get(name)
        if isinstance(value, str | int) and str(value).strip("0-"):
            control = item.get("ControlNumber")
            return f"{name}:{value}" + (f"#{control}" if control is not None else "")
    return "digest:" + hashlib.sha256(msgspec.json.encode(item)).hexdigest()

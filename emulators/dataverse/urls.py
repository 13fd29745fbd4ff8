"""Resource paths and headers of the Web API: ``accounts``, ``accounts(<id>)``,
``accounts(accountnumber='A1',_msdyn_company_value=<id>)``
(``use-alternate-key-reference-record.md``: a lookup in a key is named by its lookup
property ``_x_value``), ``@odata.bind`` values, and the ``Prefer`` header.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec

from emulators.dataverse import errors
from emulators.dataverse.tableinfo import TableInfo

_RESOURCE = re.compile(r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>.*)\))?(?P<rest>/.*)?$")
_PAIR = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_]\w*)\s*=\s*)?(?P<value>'(?:[^']|'')*'|[^,]+)\s*(?:,|$)"
)


class Address(msgspec.Struct, frozen=True, kw_only=True):
    """A resource path: an entity set, maybe one row of it (by id or by alternate key)."""

    entity_set: str
    guid: str | None = None
    key: dict[str, Any] | None = None  # alternate key: property name -> value
    rest: str = ""  # what follows the set or row, e.g. "/$count"


def parse_resource(path: str) -> Address:
    """The address of ``accounts``, ``accounts(<id>)``, ``accounts(k='v',...)`` or
    ``accounts/$count``."""
    match = _RESOURCE.match(path)
    if match is None:
        raise errors.bad_query(f"Resource not found for the segment '{path}'.", status=404)
    entity_set, key, rest = match["set"], match["key"], match["rest"] or ""
    if key is None:
        return Address(entity_set=entity_set, rest=rest)
    pairs = _pairs(key)
    if list(pairs) == [None]:
        return Address(entity_set=entity_set, guid=_guid(pairs[None]), rest=rest)
    if None in pairs:
        raise errors.bad_query(f"Bad key segment '({key})'.")
    return Address(entity_set=entity_set, key={str(k): v for k, v in pairs.items()}, rest=rest)


def normalise(info: TableInfo, address: Address) -> Address:
    """``accounts(accountid=<id>)`` is the row by id; other keys must be an alternate key."""
    key = address.key
    if key is not None and list(key) == [info.primary_id]:
        return msgspec.structs.replace(address, guid=_guid(key[info.primary_id]), key=None)
    check_key(info, address)
    return address


def _pairs(text: str) -> dict[str | None, Any]:
    pairs: dict[str | None, Any] = {}
    position = 0
    while position < len(text):
        match = _PAIR.match(text, position)
        if match is None or match.end() == position:
            raise errors.bad_query(f"Bad key segment '({text})'.")
        pairs[match["name"]] = _key_literal(match["value"].strip())
        position = match.end()
    return pairs


def _key_literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if _is_guid(text):
        return str(uuid.UUID(text))
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise errors.bad_query(f"Bad key value '{text}'.") from None


def _is_guid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str) and len(value) == 36


def _guid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def check_key(info: TableInfo, address: Address) -> None:
    """400 if the key names are not exactly those of one of the table's alternate keys."""
    if address.key is None:
        return
    if address.key.keys() == {info.primary_id}:
        return
    if info.key_for(list(address.key)) is None:
        resource = errors.entity_type(info.logical_name)
        raise errors.bad_query(
            f"The key in the request URI is not valid for resource '{resource}'. Ensure that the"
            " names and number of key properties match the declared or alternate key properties"
            f" for the resource '{resource}'."
        )


def bind_target(value: str, api_root: str) -> Address:
    """The row an ``@odata.bind`` value names: ``/accounts(<id>)``, ``accounts(k='v')`` or a URL."""
    if api_root in value:
        value = value.split(api_root, 1)[1]
    return parse_resource(value.lstrip("/"))


def parse_prefer(header: str | None) -> dict[str, str]:
    """``Prefer`` preferences by lower-case name (value without quotes; "" when bare)."""
    found: dict[str, str] = {}
    for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", header or ""):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = value.strip().strip('"')
    return found

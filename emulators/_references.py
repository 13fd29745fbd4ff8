"""``$n`` references inside a change set (OData 4.0 §11.7.3.1, the batch page's examples).

A request in a change set may name the entity an earlier request of the same change set
created by that request's Content-ID: ``$1`` at the start of its URL (``PATCH $1``,
``PUT $1/lastname``, ``PUT $1/primarycontactid/$ref``) or as the value of an
``…@odata.bind`` or ``@odata.id`` property in its JSON body. Nowhere else: a ``$1`` in an
ordinary string value is data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

REFERENCE = re.compile(r"^\$(\d+)(?=/|$)")
_BOUND = ("@odata.bind", "@odata.id")


def references(url: str, body: bytes) -> list[str]:
    """The Content-IDs a request refers to, in its URL and its body, in that order."""
    found: list[str] = []

    def note(ref: str, rest: str) -> None:
        found.append(ref)

    if match := REFERENCE.match(url):
        found.append(match.group(1))
    _walk(_json_or_none(body), note)
    return found


def resolve(url: str, body: bytes, locations: Mapping[str, str]) -> tuple[str, bytes]:
    """URL and body with each ``$n`` replaced by the URL of the entity request n created
    (its Location): the URL gets the path, a bound value the whole URL."""

    def url_of(ref: str, rest: str) -> str:
        return f"{locations[ref]}{rest}"

    url = REFERENCE.sub(lambda m: urlsplit(locations[m.group(1)]).path, url)
    document = _json_or_none(body)
    if document is not None and _walk(document, url_of):
        body = msgspec.json.encode(document)
    return url, body


def _walk(node: Any, replace: Callable[[str, str], str | None]) -> bool:
    """Call replace(n, rest) for each bound ``$n[rest]`` value in a JSON document; a string
    it returns takes the value's place. True when something was replaced."""
    changed = False
    if isinstance(node, list):
        for item in node:
            changed |= _walk(item, replace)
    elif isinstance(node, dict):
        for key, value in node.items():
            if not key.endswith(_BOUND):
                changed |= _walk(value, replace)
                continue
            values = value if isinstance(value, list) else [value]
            new = [_replaced(v, replace) for v in values]
            if new != values:
                node[key] = new if isinstance(value, list) else new[0]
                changed = True
    return changed


def _replaced(value: Any, replace: Callable[[str, str], str | None]) -> Any:
    if not isinstance(value, str) or not (match := REFERENCE.match(value)):
        return value
    new = replace(match.group(1), value[match.end() :])
    return value if new is None else new


def _json_or_none(body: bytes) -> Any:
    if not body.lstrip().startswith((b"{", b"[")):
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None  # the handler answers 400 for the bad JSON, as it would outside a batch

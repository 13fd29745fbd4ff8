"""OData literals and the tokens of ``$filter`` and key segments, as F&O's OData layer reads
them: ``'text'`` (a quote inside doubled), numbers, ``true``/``false``/``null``, date-times
(``2024-05-01T12:00:00Z``, unquoted as OData v4 writes them) and enum members
(``Microsoft.Dynamics.DataEntities.NoYes'Yes'``)."""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from emulators.fno import errors


class EnumLiteral(msgspec.Struct, frozen=True):
    """``<qualified enum name>'<member>'``."""

    enum: str
    member: str


class Token(msgspec.Struct, frozen=True):
    kind: str  # "literal", "name", "op" ( ( ) , ), "word" (eq, and, ...)
    text: str
    value: object = None


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<enum>[A-Za-z_][\w.]*\.[A-Za-z_]\w*)'(?P<member>(?:[^']|'')*)'
    | '(?P<string>(?:[^']|'')*)'
    | (?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
    | (?P<name>[A-Za-z_$][\w/]*)
    | (?P<op>[(),=])
    )""",
    re.VERBOSE,
)
_WORDS = {"true": True, "false": False, "null": None}


def tokens(text: str, what: str) -> list[Token]:
    """The tokens of ``text``; a 400 naming the position of anything else."""
    found: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise errors.bad_query(
                f"Syntax error at position {position} in '{text}'."
                if what == "$filter"
                else f"Bad key segment '{text}' at position {position}."
            )
        found.append(_token(match))
        position = match.end()
    return found


def _token(match: re.Match[str]) -> Token:
    text = match.group(0).strip()
    if match["enum"] is not None:
        return Token(
            "literal", text, EnumLiteral(match["enum"], match["member"].replace("''", "'"))
        )
    if match["string"] is not None:
        return Token("literal", text, match["string"].replace("''", "'"))
    if match["datetime"] is not None:
        return Token("literal", text, parse_datetime(match["datetime"]))
    if match["number"] is not None:
        number = match["number"].rstrip("mMdDfFlL")
        value: float | int = float(number) if any(c in number for c in ".eE") else int(number)
        return Token("literal", text, value)
    if match["name"] is not None:
        if text in _WORDS:
            return Token("literal", text, _WORDS[text])
        return Token("name", text)
    return Token("op", text)


def parse_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date-time with an offset, as an aware datetime in UTC."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.bad_query(f"The DateTimeOffset text '{text}' is not valid.") from None
    if value.tzinfo is None:
        raise errors.bad_query(f"The DateTimeOffset text '{text}' has no offset.")
    return value.astimezone(dt.UTC)


def quote(value: object) -> str:
    """The literal of a key value in a URL (strings quoted, quotes doubled)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)

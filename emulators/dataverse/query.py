"""``$filter`` and ``$orderby`` of the Web API, compiled to Python predicates and sort keys.

From ``webapi/query-data-web-api.md``: comparison ``eq ne gt ge lt le``, logical ``and or
not``, parentheses, ``contains/startswith/endswith``, and the Dataverse query functions
``Microsoft.Dynamics.CRM.In``/``NotIn`` (``PropertyName='x',PropertyValues=['a','b']``).
String comparisons are case-insensitive. Literals: 'strings' ('' escapes a quote), numbers,
true/false/null, bare GUIDs and dates. ``resolve`` maps a property name to the row key
(raising the service's "Could not find a property" error for an unknown one).
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Callable
from typing import Any

from emulators.dataverse import errors

Predicate = Callable[[dict[str, Any]], bool]
Resolve = Callable[[str], str]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')"
    r"|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b"
    r"|(?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<enum>[A-Za-z_][\w.]*'(?:[^']|'')*')"
    r"|(?P<name>[A-Za-z_][\w.]*(?:/[A-Za-z_]\w*)*)"
    r"|(?P<punct>[(),=\[\]]))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_STRING_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda value, part: part in value,
    "startswith": str.startswith,
    "endswith": str.endswith,
}
_IN = {"microsoft.dynamics.crm.in": True, "microsoft.dynamics.crm.notin": False}
_KEYWORDS = {"true": True, "false": False, "null": None}


class _Literal:
    def __init__(self, value: Any) -> None:
        self.value = value


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise errors.bad_query(f"Syntax error at position {position} in '{text}'.")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


def _normal(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return _COMPARE[op](left, right) if op in ("eq", "ne") else False
    try:
        return _COMPARE[op](_normal(left), _normal(right))
    except TypeError:
        return op == "ne"


class _Parser:
    def __init__(self, text: str, resolve: Resolve) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.position = 0
        self.resolve = resolve

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1].lower() != value):
            raise errors.bad_query(f"Syntax error: expected {value or 'more'} in '{self.text}'.")
        self.position += 1
        return token

    def at(self, value: str) -> bool:
        token = self.peek()
        return token is not None and token[1].lower() == value

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.at("or"):
            self.take()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, self.conjunction())
        return left

    def conjunction(self) -> Predicate:
        left = self.unary()
        while self.at("and"):
            self.take()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, self.unary())
        return left

    def unary(self) -> Predicate:
        if self.at("not"):
            self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        if self.at("("):
            self.take()
            inner = self.expression()
            self.take(")")
            return inner
        return self.condition()

    def condition(self) -> Predicate:
        kind, text = self.take()
        if kind == "name" and self.at("("):
            return self.function(text)
        left = self.operand(kind, text)
        op = self.take()[1].lower()
        if op not in _COMPARE:
            raise errors.bad_query(f"The operator '{op}' is not supported in '{self.text}'.")
        right = self.operand(*self.take())
        return lambda row: _compare(op, _value(left, row), _value(right, row))

    def operand(self, kind: str, text: str) -> str | _Literal:
        if kind == "name" and text not in _KEYWORDS:
            return self.resolve(text)
        return _Literal(_literal(kind, text))

    def function(self, name: str) -> Predicate:
        self.take("(")
        if name.lower() in _IN:
            return self.in_function(_IN[name.lower()])
        test = _STRING_FUNCTIONS.get(name)
        if test is None:
            raise errors.bad_query(f"The function '{name}' is not supported.", status=501)
        prop = self.resolve(self.take()[1])
        self.take(",")
        part = str(_literal(*self.take())).casefold()
        self.take(")")
        return lambda row: isinstance(row.get(prop), str) and test(row[prop].casefold(), part)

    def in_function(self, inside: bool) -> Predicate:
        self.take("propertyname")
        self.take("=")
        prop = self.resolve(str(_literal(*self.take())))
        self.take(",")
        self.take("propertyvalues")
        self.take("=")
        self.take("[")
        wanted: set[Any] = set()
        while not self.at("]"):
            wanted.add(_normal(_literal(*self.take())))
            if self.at(","):
                self.take()
        self.take("]")
        self.take(")")
        return lambda row: (_normal(row.get(prop)) in wanted) == inside


def _value(operand: str | _Literal, row: dict[str, Any]) -> Any:
    if isinstance(operand, _Literal):
        return operand.value
    value: Any = row
    for part in operand.split("/"):  # a complex property: CanChangeTrackingBeEnabled/Value
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return text[1:-1].replace("''", "'")
    if kind == "enum":  # Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'
        return text[text.index("'") + 1 : -1].replace("''", "'")
    if kind == "guid":
        return str(uuid.UUID(text))
    if kind == "number":
        return float(text) if "." in text else int(text)
    if kind == "date":
        return text[:-1] if text.endswith(".000Z") else text
    if text in _KEYWORDS:
        return _KEYWORDS[text]
    raise errors.bad_query(f"Syntax error: unexpected '{text}'.")


def compile_filter(text: str, resolve: Resolve) -> Predicate:
    """A predicate for a ``$filter`` expression; ApiError 400 for bad syntax or names."""
    parser = _Parser(text, resolve)
    predicate = parser.expression()
    if parser.peek() is not None:
        raise errors.bad_query(f"Syntax error at '{parser.peek()[1]}' in '{text}'.")  # type: ignore[index]
    return predicate


def equalities(text: str, resolve: Resolve) -> dict[str, list[Any]]:
    """The values each property must equal for the filter to hold: from the ``prop eq
    literal`` and ``In(...)`` terms joined by a top-level ``and`` (none if there is an ``or``).
    The store looks rows up by an alternate key with them instead of scanning."""
    parts: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, token in _tokens(text):
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth == 0 and token.lower() == "or":
            return {}
        if depth == 0 and token.lower() == "and":
            parts.append([])
        else:
            parts[-1].append((kind, token))
    found: dict[str, list[Any]] = {}
    for part in parts:
        found.update(_equality(part, resolve))
    return found


MAX_ALTERNATIVES = 5000


def alternatives(text: str, resolve: Resolve) -> list[dict[str, list[Any]]] | None:
    """What ``equalities`` gives, through ``or`` too: alternatives whose union holds every
    row the filter can match, each the values its properties must equal (``(a eq 1 and
    b eq 2) or (a eq 3 and b eq 4)``, maybe AND-ed with more). None when some alternative
    pins nothing, so the store must scan. Reads by many keys look rows up instead."""
    return _alternatives(_tokens(text), resolve)


def _alternatives(
    tokens: list[tuple[str, str]], resolve: Resolve
) -> list[dict[str, list[Any]]] | None:
    while tokens and tokens[0][1] == "(" and _closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    ors = _split(tokens, "or")
    if len(ors) > 1:
        found: list[dict[str, list[Any]]] = []
        for part in ors:
            alternative = _alternatives(part, resolve)
            if alternative is None or len(found) > MAX_ALTERNATIVES:
                return None
            found += alternative
        return found
    ands = _split(tokens, "and")
    if len(ands) == 1:
        return [pinned] if (pinned := _equality(tokens, resolve)) else None
    combined: list[dict[str, list[Any]]] | None = None
    for part in ands:
        alternative = _alternatives(part, resolve)
        if alternative is None:
            continue  # pins nothing: the others still bound the rows
        combined = (
            alternative if combined is None else [{**a, **b} for a in combined for b in alternative]
        )
        if len(combined) > MAX_ALTERNATIVES:
            return None
    return combined


def _closing(tokens: list[tuple[str, str]], start: int) -> int:
    depth = 0
    for i in range(start, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[i][1], 0)
        if depth == 0:
            return i
    return len(tokens)


def _split(tokens: list[tuple[str, str]], word: str) -> list[list[tuple[str, str]]]:
    """The tokens split at ``word`` outside parentheses."""
    parts: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, token in tokens:
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth == 0 and kind == "name" and token.lower() == word:
            parts.append([])
        else:
            parts[-1].append((kind, token))
    return parts


def _equality(part: list[tuple[str, str]], resolve: Resolve) -> dict[str, list[Any]]:
    words = [token.lower() for _, token in part]
    if len(part) == 3 and words[1] == "eq" and part[0][0] == "name" and part[2][0] != "name":
        return {resolve(part[0][1]): [_literal(*part[2])]}
    if words[:4] == ["microsoft.dynamics.crm.in", "(", "propertyname", "="] and len(part) > 10:
        values = [_literal(kind, token) for kind, token in part[9:-2] if token != ","]
        return {resolve(str(_literal(*part[4]))): values}
    return {}


def compile_orderby(text: str, resolve: Resolve) -> list[tuple[str, bool]]:
    """(row key, descending) for each ``$orderby`` term."""
    terms: list[tuple[str, bool]] = []
    for term in text.split(","):
        words = term.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise errors.bad_query(f"Syntax error in $orderby '{text}'.")
        terms.append((resolve(words[0]), len(words) == 2 and words[1] == "desc"))
    return terms


def sort_rows(rows: list[dict[str, Any]], terms: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Rows sorted by the terms, nulls first ascending (as SQL does), stable."""
    for prop, descending in reversed(terms):
        rows = sorted(rows, key=lambda row: _sort_key(row.get(prop)), reverse=descending)
    return rows


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, _normal(value) if value is not None else 0)

"""OData text: literals, row URLs, ``$filter`` chunks for batched reads, and map filters.

A map's filter on this side (``filter = { crm = "customertypecode eq 3" }``) is an OData
``$filter`` expression of ``eq ne gt ge lt le``, ``and or not`` and parentheses over
columns and literals (strings in single quotes, numbers, ``true``/``false``/``null``,
GUIDs, ``2026-12-02T10:00:00Z`` dates). ``parse_filter`` refuses anything else (functions,
paths, arithmetic) with a message saying what is allowed. Reads send the expression as
it is; the change feed cannot (change tracking refuses ``$filter``), so ``Filter.passes``
evaluates it on the rows' values, comparing strings case-insensitively as Dataverse does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from adapters._remote import odata
from replicator.adapter import Value, Values

URL_BUDGET = 30_000
"""Characters a ``$filter`` may take in a GET URL (Dataverse refuses URLs over 32 KB)."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})|(?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))?)"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),]))"
)
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
ALLOWED = "use eq ne gt ge lt le, and or not and ( ) over columns and literals"


class FilterError(ValueError):
    """A map filter outside the supported OData subset; the message says where."""


# -- literals and URLs ------------------------------------------------------------------


def literal(value: Value) -> str:
    """``value`` as an OData literal: ``'O''Brien'``, ``42``, ``true``, ``null``, a bare GUID."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _GUID.match(text):
        return text.lower()
    return "'" + text.replace("'", "''") + "'"


def row_url(entity_set: str, guid: str) -> str:
    """``accounts(<guid>)``: a row by its primary id."""
    return f"{entity_set}({uuid.UUID(guid)})"


def condition(column: str, value: Value) -> str:
    """``column eq <literal>`` (``null`` for None)."""
    return f"{column} eq {literal(value)}"


def chunks(
    conditions: Sequence[str], *, base: str | None = None, budget: int = URL_BUDGET
) -> Iterator[str]:
    """``$filter`` texts OR-ing ``conditions`` under Dataverse's URL budget (``_remote.odata``)."""
    return odata.chunks(conditions, base=base, budget=budget)


# -- map filters ------------------------------------------------------------------------


class Compare(msgspec.Struct, frozen=True):
    column: str
    op: str
    value: Value


class Logic(msgspec.Struct, frozen=True):
    op: str  # "and", "or", "not"
    parts: tuple[Node, ...]


Node = Compare | Logic


class Filter(msgspec.Struct, frozen=True):
    """A parsed map filter: its text (sent as ``$filter``), its tree, its columns."""

    text: str
    tree: Node

    @property
    def columns(self) -> set[str]:
        return set(_columns(self.tree))

    def passes(self, values: Values) -> bool:
        """Whether a row with these core values passes, evaluated as Dataverse would."""
        return _evaluate(self.tree, values)


def parse_filter(text: str) -> Filter:
    """The map filter ``text`` parsed, or ``FilterError`` saying what cannot be read."""
    tokens = _tokens(text)
    parser = _Parser(text, tokens)
    tree = parser.expression()
    if parser.pos < len(tokens):
        raise FilterError(f"filter {text!r}: unexpected {tokens[parser.pos][1]!r}; {ALLOWED}")
    return Filter(text=text.strip(), tree=tree)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            shown = text[pos:].strip()[:20]
            raise FilterError(f"filter {text!r}: cannot read {shown!r}; {ALLOWED}")
        tokens.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    if not tokens:
        raise FilterError(f"filter {text!r} is empty; {ALLOWED}")
    return tokens


class _Parser:
    """Recursive descent: or < and < not < comparison | ( expression )."""

    def __init__(self, text: str, tokens: list[tuple[str, str]]) -> None:
        self.text, self.tokens, self.pos = text, tokens, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def fail(self, why: str) -> FilterError:
        return FilterError(f"filter {self.text!r}: {why}; {ALLOWED}")

    def expression(self) -> Node:
        return self.chain("or", self.conjunction)

    def conjunction(self) -> Node:
        return self.chain("and", self.negation)

    def chain(self, op: str, inner: Callable[[], Node]) -> Node:
        parts = [inner()]
        while self.peek() == ("word", op):
            self.take()
            parts.append(inner())
        return parts[0] if len(parts) == 1 else Logic(op, tuple(parts))

    def negation(self) -> Node:
        if self.peek() == ("word", "not"):
            self.take()
            return Logic("not", (self.negation(),))
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.expression()
            if self.take() != ("punct", ")"):
                raise self.fail("a '(' is not closed")
            return inner
        return self.comparison()

    def comparison(self) -> Node:
        kind, column = self.take()
        if kind != "word" or column in ("and", "or", "not", "true", "false", "null"):
            raise self.fail(f"expected a column, got {column or 'the end'!r}")
        if self.peek() == ("punct", "("):
            raise self.fail(f"function {column!r} is not supported")
        kind, op = self.take()
        if kind != "word" or op not in COMPARISONS:
            raise self.fail(f"expected a comparison after {column!r}, got {op or 'the end'!r}")
        return Compare(column, op, self.value())

    def value(self) -> Value:
        kind, text = self.take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "guid":
            return text.lower()
        if kind == "date":
            return _moment(text)
        if kind == "word" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        raise self.fail(f"expected a literal, got {text or 'the end'!r}")


def _moment(text: str) -> str:
    """A date-time literal in the core's form (UTC, ``Z``), so strings compare in time order."""
    if "T" not in text:
        return text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _columns(node: Node) -> Iterator[str]:
    if isinstance(node, Compare):
        yield node.column
    else:
        for part in node.parts:
            yield from _columns(part)


def _evaluate(node: Node, values: Values) -> bool:
    if isinstance(node, Logic):
        if node.op == "not":
            return not _evaluate(node.parts[0], values)
        results = (_evaluate(p, values) for p in node.parts)
        return all(results) if node.op == "and" else any(results)
    return compare(values.get(node.column), node.op, node.value)


def compare(left: Value, op: str, right: Value) -> bool:
    """OData comparison of two core values: null equals only null and orders with nothing;
    strings compare case-insensitively (Dataverse's default collation)."""
    if left is None or right is None:
        same = left is None and right is None
        return same if op == "eq" else (not same if op == "ne" else False)
    a, b = _comparable(left), _comparable(right)
    try:
        return bool(_OPS[op](a, b))
    except TypeError:
        return op == "ne"


def _comparable(value: Value) -> Any:
    return value.casefold() if isinstance(value, str) else value


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def literal_fits(value: Value, column_type: str) -> bool:
    """Whether a filter literal can be compared with a column of ``column_type``."""
    if value is None:
        return True
    if column_type == "Boolean":
        return isinstance(value, bool)
    if column_type in ("Integer", "BigInt", "Picklist", "State", "Status"):
        return isinstance(value, int) and not isinstance(value, bool)
    if column_type in ("Money", "Decimal", "Double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if column_type == "DateTime":
        return isinstance(value, str) and bool(_DATE.match(value))
    if column_type == "Uniqueidentifier":
        return isinstance(value, str) and bool(_GUID.match(value))
    return isinstance(value, str)

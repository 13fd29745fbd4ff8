"""``$filter`` as F&O's OData layer evaluates it: ``eq ne gt ge lt le``, ``and or not``,
parentheses, ``startswith``/``endswith``/``contains``, over string, number, enum, date-time,
boolean and null literals.

``compile_filter(text, entity, registry)`` checks names and types once (a 400 with the OData
library's text for an unknown property, incompatible operands or an unknown enum member) and
returns a predicate over a row's values. Strings compare case-insensitively, as the SQL
collation under F&O does; date-times as instants.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Any

from emulators.fno import errors
from emulators.fno.definitions import Edm, EntityDef, Registry
from emulators.fno.literals import EnumLiteral, Token, parse_datetime, tokens

Values = dict[str, Any]
Predicate = Callable[[Values], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
    "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}  # fmt: skip
_KIND = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
         "lt": "LessThan", "le": "LessThanOrEqual"}  # fmt: skip
_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    "startswith": str.startswith, "endswith": str.endswith,
    "contains": lambda text, part: part in text,
}  # fmt: skip


class Operand:
    """A field or a literal: how to get its comparable value, and its type's name."""

    def __init__(
        self, get: Callable[[Values], Any], type_name: str, enum: str | None = None
    ) -> None:
        self.get, self.type_name, self.enum = get, type_name, enum
        self.literal = False


def compile_filter(text: str, entity: EntityDef, registry: Registry) -> Predicate:
    parser = _Parser(tokens(text, "$filter"), entity, registry, text)
    predicate = parser.expression()
    if not parser.done():
        raise errors.bad_query(f"Syntax error at '{parser.peek_text()}' in '{text}'.")
    return predicate


class _Parser:
    def __init__(self, items: list[Token], entity: EntityDef, registry: Registry, text: str):
        self.items, self.at = items, 0
        self.entity, self.registry, self.text = entity, registry, text

    def done(self) -> bool:
        return self.at >= len(self.items)

    def peek_text(self) -> str:
        return "" if self.done() else self.items[self.at].text

    def _word(self, *words: str) -> str | None:
        if not self.done() and self.items[self.at].kind == "name":
            if self.items[self.at].text in words:
                self.at += 1
                return self.items[self.at - 1].text
        return None

    def _expect(self, text: str) -> None:
        if self.peek_text() != text:
            where = self.peek_text() or "the end"
            raise errors.bad_query(f"')' or an operator expected at '{where}' in '{self.text}'.")
        self.at += 1

    def expression(self) -> Predicate:
        left = self._and()
        while self._word("or"):
            right = self._and()
            left = _either(left, right)
        return left

    def _and(self) -> Predicate:
        left = self._not()
        while self._word("and"):
            right = self._not()
            left = _both(left, right)
        return left

    def _not(self) -> Predicate:
        if self._word("not"):
            inner = self._not()
            return lambda values: not inner(values)
        return self._comparison()

    def _comparison(self) -> Predicate:
        if self.peek_text() == "(":
            self.at += 1
            inner = self.expression()
            self._expect(")")
            return inner
        if self.peek_text() in _FUNCTIONS:
            return self._function()
        left = self._operand()
        word = self._word(*_COMPARE)
        if word is None:
            raise errors.bad_query(f"A comparison is expected at '{self.peek_text()}'.")
        return _compare(word, left, self._operand(), self.registry)

    def _function(self) -> Predicate:
        name = self.items[self.at].text
        self.at += 1
        self._expect("(")
        text = self._operand()
        self._expect(",")
        part = self._operand()
        self._expect(")")
        if text.type_name != Edm.STRING or part.type_name != Edm.STRING:
            raise errors.bad_query(f"The function '{name}' takes two Edm.String arguments.")
        test = _FUNCTIONS[name]
        return lambda values: test(_fold(text.get(values)), _fold(part.get(values)))

    def _operand(self) -> Operand:
        if self.done():
            raise errors.bad_query(f"An operand is expected at the end of '{self.text}'.")
        token = self.items[self.at]
        self.at += 1
        if token.kind == "literal":
            return _literal(token.value)
        if token.kind != "name":
            raise errors.bad_query(f"An operand is expected at '{token.text}'.")
        field = self.entity.field(token.text)
        if field is None:
            raise errors.bad_query(
                f"Could not find a property named '{token.text}' on type '{self.entity.qualified}'."
            )
        name = field.name
        if field.edm is Edm.DATETIME:
            return Operand(lambda values: parse_datetime(values[name]), Edm.DATETIME)
        if field.edm is Edm.ENUM:
            enum = self.registry.enum_of(field).qualified
            return Operand(lambda values: values[name], enum, enum)
        return Operand(lambda values: _fold(values[name]), field.edm)


def _literal(value: object) -> Operand:
    operand = _literal_operand(value)
    operand.literal = True
    return operand


def _literal_operand(value: object) -> Operand:
    if isinstance(value, EnumLiteral):
        return Operand(lambda _: value.member, value.enum, value.enum)
    if isinstance(value, dt.datetime):
        return Operand(lambda _: value, Edm.DATETIME)
    if isinstance(value, bool):
        return Operand(lambda _: value, "Edm.Boolean")
    if isinstance(value, int | float):
        return Operand(lambda _: value, "number")
    if value is None:
        return Operand(lambda _: None, "null")
    folded = _fold(value)
    return Operand(lambda _: folded, Edm.STRING)


def _compare(word: str, left: Operand, right: Operand, registry: Registry) -> Predicate:
    for side, other in ((left, right), (right, left)):
        if side.enum and other.type_name != "null" and other.enum != side.enum:
            raise errors.bad_query(
                "A binary operator with incompatible types was detected. Found operand types"
                f" '{left.type_name}' and '{right.type_name}' for operator kind"
                f" '{_KIND[word]}'."
            )
        if side.enum and other.enum and other.literal:
            _check_member(side.enum, other, registry)
    if not _comparable(left.type_name, right.type_name):
        raise errors.bad_query(
            "A binary operator with incompatible types was detected. Found operand types"
            f" '{left.type_name}' and '{right.type_name}' for operator kind '{_KIND[word]}'."
        )
    test = _COMPARE[word]
    if left.enum and word not in ("eq", "ne"):
        order = _enum_order(left.enum, registry)
        return lambda values: test(order[left.get(values)], order[right.get(values)])
    return lambda values: _safe(test, left.get(values), right.get(values))


def _check_member(qualified: str, literal: Operand, registry: Registry) -> None:
    member = literal.get({})
    names = _enum_order(qualified, registry)
    if member not in names:
        # The OData library's text quotes the whole literal.
        text = f"{qualified}'{member}'"
        raise errors.bad_query(f"The string '{text}' is not a valid enumeration type constant.")


def _enum_order(qualified: str, registry: Registry) -> dict[str, int]:
    for enum in registry.enums.values():
        if enum.qualified == qualified:
            return {name: value for name, value in enum.members}
    raise errors.bad_query(f"The type '{qualified}' is not an enumeration type of this service.")


_NUMBER_TYPES = {"number", Edm.INT, Edm.INT64, Edm.DECIMAL, Edm.REAL}


def _comparable(a: str, b: str) -> bool:
    if "null" in (a, b) or a == b:
        return True
    return a in _NUMBER_TYPES and b in _NUMBER_TYPES


def _safe(test: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    if a is None or b is None:
        return test in (operator.eq, operator.ne) and test(a, b)
    return test(a, b)


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda values: a(values) or b(values)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda values: a(values) and b(values)

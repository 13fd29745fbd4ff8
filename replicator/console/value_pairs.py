"""A value map as an operator edits it: one pair a line, ``Idaho = ID``.

A bare word is text; ``true``/``false`` and numbers are those (as in the TOML file);
``"007"`` in quotes is text even when it looks like a number, and quotes let a value
hold ``=`` or spaces at its ends. ``format_pairs`` writes what ``parse_pairs`` reads.
"""

from __future__ import annotations

import json
import re

from ..errors import ConfigError

Scalar = str | int | float | bool
LINE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[^=]*?)\s*=\s*(.*?)\s*$')
NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def parse_value(token: str) -> Scalar:
    if token.startswith('"'):
        return str(json.loads(token))
    if token in ("true", "false"):
        return token == "true"
    if NUMBER.match(token):
        return float(token) if any(c in token for c in ".eE") else int(token)
    return token


def format_value(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    plain = value and value == value.strip() and "=" not in value and not value.startswith('"')
    if plain and isinstance(parse_value(value), str):
        return value
    return json.dumps(value, ensure_ascii=False)


def format_pairs(pairs: dict[str, Scalar]) -> str:
    """The text of a value map's pairs, one ``a = b`` a line, in the file's order."""
    return "\n".join(f"{format_value(a)} = {format_value(b)}" for a, b in pairs.items())


def parse_pairs(text: str, name: str) -> dict[str, Scalar]:
    """The pairs of ``text``; ``ConfigError`` naming the value map and line of each
    line that is not a pair (or names a value twice)."""
    pairs: dict[str, Scalar] = {}
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        found = LINE.match(line)
        if found is None or not found.group(1) or not found.group(2):
            problems.append(f"value map {name}, line {n}: write a pair as 'value = value'")
            continue
        try:
            left, right = parse_value(found.group(1)), parse_value(found.group(2))
        except ValueError:
            problems.append(f"value map {name}, line {n}: a quoted value is not closed")
            continue
        if str(left) in pairs:
            problems.append(f"value map {name}, line {n}: {str(left)!r} is named twice")
        pairs[str(left)] = right
    if problems:
        raise ConfigError(problems)
    return pairs

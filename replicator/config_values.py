"""Checks of single config values: numeric ranges, and values a side can store.

Pure functions used by the config reader; each returns what is wrong in the config's
own (TOML) spelling, e.g. ``must be an integer >= 1, got -5``, or ``None`` when the
value is fine.
"""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

import msgspec

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Range(msgspec.Struct, frozen=True, kw_only=True):
    """The values a number knob accepts: an integer or any finite number, within bounds."""

    integer: bool = False
    least: float | None = None
    above: float | None = None
    most: float | None = None

    def describe(self) -> str:
        """``an integer >= 1 and <= 10000``, ``a number > 0``."""
        bounds = [
            f"{op} {_number(v)}"
            for op, v in ((">=", self.least), (">", self.above), ("<=", self.most))
            if v is not None
        ]
        kind = "an integer" if self.integer else "a number"
        return " and ".join([f"{kind} {bounds[0]}", *bounds[1:]]) if bounds else kind

    def problem(self, value: Any) -> str | None:
        """``must be <describe()>, got <value>`` if ``value`` is out of range, else None."""
        return None if self.accepts(value) else f"must be {self.describe()}, got {toml(value)}"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        return (
            math.isfinite(value)
            and (self.least is None or value >= self.least)
            and (self.above is None or value > self.above)
            and (self.most is None or value <= self.most)
        )


def storable_problem(value: Any) -> str | None:
    """Why a side could not store ``value`` (a default, a value map's value), else None:
    ``does not fit in a 64-bit integer (...)``, ``is an array, not a field value: ...``.

    Field values are strings, booleans, finite floats and 64-bit integers; a TOML
    nan or inf, date, time, array or table is none of them (a nan equals nothing, not
    even itself, so a record holding one would never agree with its shadow).
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number: use a number, or leave the field empty"
    if isinstance(value, bool | str | float) or value is None:
        return None
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return f"does not fit in a 64-bit integer ({INT64_MIN} to {INT64_MAX})"
    kind = _TOML_KINDS.get(type(value), f"a {type(value).__name__}")
    return f"is {kind}, not a field value: use a string, a number or true/false"


_TOML_KINDS = {
    datetime.datetime: "a date-time",
    datetime.date: "a date",
    datetime.time: "a time",
    list: "an array",
    dict: "a table",
}


def toml(value: Any) -> str:
    """``value`` as it would be written in TOML: ``true``, ``"x"``, ``-5``, ``[1, 2]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)

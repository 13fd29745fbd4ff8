"""Wording shared by the config checks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    """``unknown key 'x'`` with a close match, or else the keys that are allowed."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "expected one of " + ", ".join(allowed)
    return f"unknown key {key!r} ({hint})"


def either(names: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``."""
    quoted = [repr(n) for n in names]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)

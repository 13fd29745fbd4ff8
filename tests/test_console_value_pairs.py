"""The value-map text an operator edits on the console: one ``a = b`` a line, read back
as the TOML file's values, with every line that is not a pair named."""

from __future__ import annotations

import pytest

from replicator.console.value_pairs import format_pairs, parse_pairs
from replicator.errors import ConfigError


def test_pairs_read_as_the_file_holds_them() -> None:
    """Bare words are text; numbers and booleans are those; quotes keep text as text."""
    text = 'Idaho = ID\n\n "007" = 7\nYes = true\nHalf = 0.5\n"a = b" = " padded "\n'
    assert parse_pairs(text, "m") == {
        "Idaho": "ID",
        "007": 7,
        "Yes": True,
        "Half": 0.5,
        "a = b": " padded ",
    }


def test_what_format_writes_parse_reads_back() -> None:
    """Round trip, including text that looks like a number or holds ``=``."""
    pairs: dict[str, str | int | float | bool] = {
        "Idaho": "ID",
        "10": "010",
        "On hold": 192350000,
        "x=y": "true",
        "flag": False,
    }
    text = format_pairs(pairs)
    assert '"10" = "010"' in text and '"x=y" = "true"' in text
    assert parse_pairs(text, "m") == pairs


def test_a_line_that_is_not_a_pair_is_named() -> None:
    """Each bad line is named by its value map and number: no ``=``, an empty side, a value
    named twice, an open quote."""
    with pytest.raises(ConfigError) as caught:
        parse_pairs('Idaho = ID\nOregon\n = OR\nIdaho = I\n"open = x', "states")
    assert caught.value.problems == [
        "value map states, line 2: write a pair as 'value = value'",
        "value map states, line 3: write a pair as 'value = value'",
        "value map states, line 4: 'Idaho' is named twice",
        "value map states, line 5: a quoted value is not closed",
    ]

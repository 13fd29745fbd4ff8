"""Dataverse values <-> core values: every column type both ways, lossless or refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from adapters.dataverse.metadata import Column
from adapters.dataverse.values import BadValue, from_dataverse, to_dataverse


def col(kind: str, **kw: Any) -> Column:
    return Column(name="c", type=kind, **kw)


@pytest.mark.parametrize(
    ("column", "raw", "value"),
    [
        (col("String"), "Contoso", "Contoso"),
        (col("Memo"), "line\nline", "line\nline"),
        (col("Integer"), 42, 42),
        (col("BigInt"), 2**62, 2**62),
        (col("Picklist"), 3, 3),
        (col("State"), 0, 0),
        (col("Status"), 1, 1),
        (col("MultiSelectPicklist"), "1,2,3", "1,2,3"),
        (col("Money", precision=2), 1234.56, 1234.56),
        (col("Money"), 1000, 1000.0),
        (col("Decimal", precision=3), 0.125, 0.125),
        (col("Double"), 47.6062, 47.6062),
        (col("Boolean"), True, True),
        (col("DateTime"), "2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z"),
        (col("DateTime", date_only=True), "2026-12-02", "2026-12-02"),
        (
            col("Uniqueidentifier"),
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        ),
        (
            col("Lookup"),
            "6f9619ff-8b86-d011-b42d-00c04fc964ff",
            "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        ),
        (col("String"), None, None),
    ],
)
def test_reading_gives_the_core_value(column: Column, raw: Any, value: Any) -> None:
    """Each type reads to the documented core value (and type)."""
    got = from_dataverse("accounts", column, raw)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("column", "value", "raw"),
    [
        (col("String", max_length=10), "Contoso", "Contoso"),
        (col("Integer"), 42, 42),
        (col("Integer"), 42.0, 42),
        (col("Picklist"), 3, 3),
        (col("MultiSelectPicklist"), "1, 2,3", "1,2,3"),
        (col("MultiSelectPicklist"), 7, "7"),
        (col("Money", precision=2), 1234.56, 1234.56),
        (col("Money", precision=2), 1000.0, 1000),
        (col("Money", precision=2), "99.5", 99.5),
        (col("Decimal", precision=10), 0.1, 0.1),
        (col("Double"), 3, 3),
        (col("Boolean"), False, False),
        (col("Boolean"), 1, True),
        (col("DateTime"), "2026-12-02T11:00:00+01:00", "2026-12-02T10:00:00Z"),
        (col("DateTime"), "2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z"),
        (col("DateTime", date_only=True), "2026-12-02", "2026-12-02"),
        (col("DateTime", date_only=True), "2026-12-02T00:00:00Z", "2026-12-02"),
        (
            col("Uniqueidentifier"),
            "{6F9619FF-8B86-D011-B42D-00C04FC964FF}",
            "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        ),
        (col("Money"), None, None),
    ],
)
def test_writing_gives_the_json_value(column: Column, value: Any, raw: Any) -> None:
    """Each type writes to the JSON Dataverse takes, equal to what reading gives back."""
    sent = to_dataverse("accounts", column, value)
    assert sent == raw and type(sent) is type(raw)


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        (col("String", max_length=3), "Contoso", "at most 3"),
        (col("String"), 12, "expected a str"),
        (col("Integer"), 1.5, "expected an integer"),
        (col("Integer"), True, "bool"),
        (col("Integer"), 2**31, "range"),
        (col("Integer", min_value=0, max_value=10), 11, "range 0..10"),
        (col("Picklist"), "three", "expected an integer"),
        (col("MultiSelectPicklist"), "1;2", "separated by commas"),
        (col("Money", precision=2), 1.234, "more than 2 digits"),
        (col("Money"), 0.00001, "more than 4 digits"),
        (col("Money", precision=2), "12345678901234567.25", "double"),
        (col("Decimal", precision=2), "123456789012345678.25", "double"),
        (col("Double", min_value=-90, max_value=90), 91.0, "maximum"),
        (col("Double"), float("nan"), "finite"),
        (col("Boolean"), "yes", "expected a bool"),
        (col("DateTime"), "2026-12-02T10:00:00", "offset"),
        (col("DateTime"), "2026-12-02T10:00:00.5Z", "whole seconds"),
        (col("DateTime"), "yesterday", "isoformat"),
        (col("DateTime", date_only=True), "2026-12-02T10:00:00Z", "date only"),
        (col("Uniqueidentifier"), "not-a-guid", "hexadecimal"),
        (col("EntityName"), "x", "does not replicate"),
    ],
)
def test_a_value_that_would_change_is_refused_naming_it(
    column: Column, value: Any, why: str
) -> None:
    """A write that cannot be carried losslessly raises BadValue naming entity, column, value."""
    with pytest.raises(BadValue, match=why) as caught:
        to_dataverse("accounts", column, value)
    assert "'accounts'" in str(caught.value) and "'c'" in str(caught.value)
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize(
    ("column", "raw"),
    [
        (col("Integer"), "x"),
        (col("Boolean"), 1),
        (col("Money"), Decimal("12345678901234567890.1234")),
        (col("DateTime"), 5),
    ],
)
def test_an_unexpected_json_value_is_refused_on_read(column: Column, raw: Any) -> None:
    """A JSON value of the wrong shape for its column is a BadValue, not a silent coercion."""
    with pytest.raises(BadValue, match="accounts"):
        from_dataverse("accounts", column, raw)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (col("Money", precision=4), 922337203685.4775),
        (col("Decimal", precision=10), 0.0000000001),
        (col("Double", precision=5), -122.33207),
        (col("DateTime"), "2026-03-29T01:30:00Z"),
        (col("MultiSelectPicklist"), "100000000,100000002"),
    ],
)
def test_a_written_value_reads_back_equal(column: Column, value: Any) -> None:
    """Writing then reading returns the value the core wrote."""
    assert from_dataverse("accounts", column, to_dataverse("accounts", column, value)) == value

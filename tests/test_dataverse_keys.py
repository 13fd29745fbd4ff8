"""OData text: literals, filter chunks under a URL budget, and the map filter subset."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from adapters.dataverse.keys import (
    FilterError,
    chunks,
    condition,
    literal,
    literal_fits,
    parse_filter,
    row_url,
)

GUID = "6F9619FF-8B86-D011-B42D-00C04FC964FF"


def test_literals_escape_quotes_and_keep_types() -> None:
    """Strings are quoted with '' for a quote; numbers, booleans, null and GUIDs are bare."""
    assert literal("O'Brien") == "'O''Brien'"
    assert [literal(v) for v in (42, 1.5, True, None)] == ["42", "1.5", "true", "null"]
    assert literal(GUID) == GUID.lower()
    assert condition("name", "a'b") == "name eq 'a''b'"
    assert row_url("accounts", GUID) == f"accounts({GUID.lower()})"


def test_chunks_stay_under_the_budget_and_keep_every_condition() -> None:
    """OR-ed conditions are split so each encoded $filter fits; none is lost or repeated."""
    conditions = [condition("accountnumber", f"A-{i:04}") for i in range(500)]
    texts = list(chunks(conditions, base="customertypecode eq 3", budget=2000))
    assert len(texts) > 1
    assert all(len(quote(t, safe="")) <= 2000 for t in texts)
    assert all(t.startswith("(customertypecode eq 3) and (") for t in texts)
    found = [c for t in texts for c in t.split("and (", 1)[1].rstrip(")").split(" or ")]
    assert found == conditions


def test_a_filter_in_the_subset_evaluates_as_dataverse_would() -> None:
    """Comparisons, and/or/not, parentheses; strings case-insensitive; null only equals null."""
    f = parse_filter("customertypecode eq 3 and (name eq 'CONTOSO' or not (creditlimit lt 10))")
    assert f.columns == {"customertypecode", "name", "creditlimit"}
    assert f.passes({"customertypecode": 3, "name": "Contoso", "creditlimit": 0.0})
    assert f.passes({"customertypecode": 3, "name": "x", "creditlimit": 10.0})
    assert not f.passes({"customertypecode": 3, "name": "x", "creditlimit": 5.0})
    assert not f.passes({"customertypecode": 1, "name": "Contoso"})
    assert not parse_filter("creditlimit gt 5").passes({"creditlimit": None})
    assert parse_filter("telephone1 eq null").passes({"telephone1": None})
    assert parse_filter("telephone1 ne null").passes({"telephone1": "1"})
    assert parse_filter("name eq 'it''s'").passes({"name": "IT'S"})
    assert parse_filter("modifiedon gt 2026-12-02T11:00:00+01:00").passes(
        {"modifiedon": "2026-12-02T10:00:01Z"}
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("contains(name,'x')", "function 'contains' is not supported"),
        ("name eq", "expected a literal"),
        ("name like 'x'", "expected a comparison"),
        ("(name eq 'x'", "not closed"),
        ("name eq 'x' name", "unexpected 'name'"),
        ("primarycontactid/fullname eq 'x'", "cannot read ./fullname"),
        ("creditlimit add 5 gt 3", "expected a comparison"),
        ("   ", "is empty"),
    ],
)
def test_a_filter_outside_the_subset_is_refused_saying_what_is_allowed(text: str, why: str) -> None:
    """Functions, paths, arithmetic and broken syntax raise FilterError with the allowed set."""
    with pytest.raises(FilterError, match=why) as caught:
        parse_filter(text)
    assert "use eq ne gt ge lt le" in str(caught.value)


def test_literal_fits_its_column_type() -> None:
    """A string literal does not fit a number column, a GUID fits a GUID column."""
    assert literal_fits(3, "Picklist") and not literal_fits("3", "Picklist")
    assert literal_fits(GUID.lower(), "Uniqueidentifier") and not literal_fits(
        "x", "Uniqueidentifier"
    )
    assert (
        literal_fits(None, "Money")
        and literal_fits(2.5, "Money")
        and not literal_fits(True, "Money")
    )

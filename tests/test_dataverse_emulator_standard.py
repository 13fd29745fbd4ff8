"""The Dataverse emulator's standard tables: self-consistent, true to the docs, fit for the demo."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from emulators.dataverse.schema import Column, Table
from emulators.dataverse.standard import SEED_ROWS, STANDARD_TABLES, seed

BY_SET = {table.entity_set: table for table in STANDARD_TABLES}
BY_NAME = {table.logical_name: table for table in STANDARD_TABLES}
SYSTEM_COLUMNS = {"createdon", "modifiedon", "versionnumber", "createdby", "modifiedby"}
SYSTEM_COLUMNS |= {"statecode", "statuscode"}
SYSTEM_NAVS = {"createdby", "modifiedby"}
LOOKUPS = ("Lookup", "Customer", "Owner")


def columns(table: Table) -> dict[str, Column]:
    """A table's columns by logical name."""
    return {column.logical_name: column for column in table.columns}


def navs(table: Table) -> list[str]:
    """Every navigation property a table's lookups give it (one per target for Customer)."""
    names = []
    for column in table.columns:
        if column.type == "Lookup":
            assert column.nav_property is not None
            names.append(column.nav_property)
        elif column.type == "Customer":
            names += [f"{column.logical_name}_{target}" for target in column.targets]
    return names


def demo_maps() -> list[dict[str, Any]]:
    """The maps of the embedded demo's config."""
    text = resources.files("replicator.demo").joinpath("demo.toml").read_text()
    maps: list[dict[str, Any]] = tomllib.loads(text)["maps"]
    return maps


def test_names_are_unique() -> None:
    """No two tables share a logical name or an entity set."""
    assert len(BY_SET) == len(BY_NAME) == len(STANDARD_TABLES)


@pytest.mark.parametrize("table", STANDARD_TABLES, ids=lambda t: t.logical_name)
def test_each_table_is_self_consistent(table: Table) -> None:
    """Columns unique and apart from the system ones; primary name and key columns exist."""
    names = [column.logical_name for column in table.columns]
    assert len(names) == len(set(names))
    assert not set(names) & (SYSTEM_COLUMNS | {table.primary_id})
    assert table.primary_name in names
    for key in table.keys:
        assert key.columns and set(key.columns) <= set(names), key.logical_name


@pytest.mark.parametrize("table", STANDARD_TABLES, ids=lambda t: t.logical_name)
def test_lookups_target_tables_of_the_set_with_unique_nav_properties(table: Table) -> None:
    """Every lookup names tables in the set; navigation properties are unique per table."""
    for column in table.columns:
        if column.type in LOOKUPS:
            assert column.targets and set(column.targets) <= set(BY_NAME), column.logical_name
    names = navs(table)
    assert len(names) == len(set(names))
    assert not set(names) & SYSTEM_NAVS


@pytest.mark.parametrize("table", STANDARD_TABLES, ids=lambda t: t.logical_name)
def test_each_column_carries_what_its_type_needs(table: Table) -> None:
    """Text has a length, numbers a precision or range, choices their options."""
    for column in table.columns:
        name = column.logical_name
        if column.type in ("String", "Memo"):
            assert column.max_length, name
        if column.type in ("Money", "Decimal", "Double"):
            assert column.precision is not None and column.min_value is not None, name
        if column.type in ("Picklist", "MultiSelectPicklist", "Boolean"):
            assert column.options, name
        if column.type != "Lookup":
            assert column.nav_property is None, name


def test_company_specific_tables_start_their_key_with_the_company() -> None:
    """Every table with msdyn_company keys on it first, as Dual-write's keys do."""
    for table in STANDARD_TABLES:
        company = columns(table).get("msdyn_company")
        if company is None:
            continue
        assert company.targets == ("cdm_company",)
        assert table.keys and table.keys[0].columns[0] == "msdyn_company", table.logical_name


def test_the_documented_shapes() -> None:
    """A few facts straight from the reference pages and Dual-write's templates."""
    account = columns(BY_NAME["account"])
    assert account["customertypecode"].options[3] == "Customer"
    assert account["address1_latitude"].type == "Double"
    assert account["creditlimit"].type == "Money"
    assert account["accountnumber"].max_length == 20
    assert account["msdyn_customergroupid"].targets == ("msdyn_customergroup",)
    assert BY_SET["cdm_companies"].keys[0].columns == ("cdm_companycode",)
    assert BY_SET["transactioncurrencies"].keys[0].columns == ("isocurrencycode",)
    assert columns(BY_NAME["salesorder"])["msdyn_company"].nav_property == "msdyn_Company"
    types = {column.type for table in STANDARD_TABLES for column in table.columns}
    assert {"MultiSelectPicklist", "Customer", "Memo", "Picklist", "Double"} <= types
    behaviours = {c.date_behavior for c in BY_NAME["account"].columns if c.type == "DateTime"}
    assert {"DateOnly", "TimeZoneIndependent"} <= behaviours


@pytest.mark.parametrize("table_map", demo_maps(), ids=lambda m: m["name"])
def test_the_demo_maps_find_their_columns(table_map: dict[str, Any]) -> None:
    """Each demo map's entity set, fields and key exist, with company as msdyn_company."""
    table = BY_SET[table_map["crm"]]
    known = columns(table)

    def column(name: str) -> str:
        return "msdyn_company" if name == "company" else name

    for field in table_map["fields"]:
        assert column(field["crm"]) in known, field["crm"]
    key = tuple(column(part["crm"]) for part in table_map["key"])
    assert key in [k.columns for k in table.keys]


@pytest.mark.parametrize("table_map", demo_maps(), ids=lambda m: m["name"])
def test_the_demo_lookups_are_lookups_to_their_maps_tables(table_map: dict[str, Any]) -> None:
    """A demo field with a lookup is a lookup column to the referenced map's table."""
    maps = {m["name"]: m for m in demo_maps()}
    known = columns(BY_SET[table_map["crm"]])
    for field in table_map["fields"]:
        if "lookup" in field:
            target = BY_SET[maps[field["lookup"]]["crm"]].logical_name
            assert known[field["crm"]].type in LOOKUPS
            assert target in known[field["crm"]].targets, field["crm"]


class Recorder:
    """A store that records what seed() creates."""

    def __init__(self) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []

    def create(self, entity_set: str, row: dict[str, Any]) -> object:
        self.created.append((entity_set, row))
        return None


def test_seed_creates_the_companies_and_currencies() -> None:
    """usmf, usrt, USD and EUR, each row valid for its table and complete in its key."""
    store = Recorder()
    seed(store)
    codes = {row.get("cdm_companycode") or row.get("isocurrencycode") for _, row in store.created}
    assert codes == {"usmf", "usrt", "USD", "EUR"}
    for entity_set, row in store.created:
        table = BY_SET[entity_set]
        assert set(row) <= set(columns(table))
        assert set(table.keys[0].columns) <= set(row)
        assert all(row.get(c.logical_name) is not None for c in table.columns if c.required)


def test_seed_hands_out_copies() -> None:
    """A store that changes the rows it is given does not change the reference data."""
    store = Recorder()
    seed(store)
    store.created[0][1]["cdm_name"] = "changed"
    assert SEED_ROWS["cdm_companies"][0]["cdm_name"] != "changed"

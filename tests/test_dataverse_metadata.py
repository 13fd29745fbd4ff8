"""Table definitions: EntityDefinitions JSON parsed, and every map problem named by check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from adapters.dataverse.lookups import Lookups
from adapters.dataverse.metadata import (
    TRACK_CHANGES_HINT,
    Table,
    derived_queries,
    merge_derived,
    parse_table,
)
from adapters.dataverse.schema import lookup_targets, resolve, resolve_fields
from replicator.adapter import EntitySpec


def attr(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "LogicalName": name,
        "AttributeType": kind,
        "AttributeTypeName": {"Value": kind + "Type"},
        **extra,
    }


def relation(column: str, target: str, nav: str) -> dict[str, Any]:
    return {
        "SchemaName": f"rel_{column}",
        "ReferencingAttribute": column,
        "ReferencedEntity": target,
        "ReferencedAttribute": f"{target}id",
        "ReferencingEntityNavigationPropertyName": nav,
    }


ACCOUNT: dict[str, Any] = {
    "LogicalName": "account",
    "EntitySetName": "accounts",
    "PrimaryIdAttribute": "accountid",
    "PrimaryNameAttribute": "name",
    "ChangeTrackingEnabled": True,
    "Attributes": [
        attr("accountid", "Uniqueidentifier"),
        attr("accountnumber", "String"),
        attr("name", "String"),
        attr("creditlimit", "Money"),
        attr("msdyn_company", "Lookup", Targets=["cdm_company"]),
        attr("parentcustomerid", "Customer", Targets=["account", "contact"]),
        attr("msdyn_tags", "Virtual", AttributeTypeName={"Value": "MultiSelectPicklistType"}),
        attr("entityimage", "Virtual", AttributeTypeName={"Value": "ImageType"}),
        attr("createdon", "DateTime", IsValidForCreate=False, IsValidForUpdate=False),
    ],
    "Keys": [
        {
            "LogicalName": "msdyn_company_accountnumber",
            "KeyAttributes": ["msdyn_company", "accountnumber"],
            "EntityKeyIndexStatus": "Active",
        },
    ],
    "ManyToOneRelationships": [
        relation("msdyn_company", "cdm_company", "msdyn_Company"),
        relation("parentcustomerid", "account", "parentcustomerid_account"),
        relation("parentcustomerid", "contact", "parentcustomerid_contact"),
    ],
}

GUID_USMF = "0000000a-0000-0000-0000-000000000001"

COMPANY: dict[str, Any] = {
    "LogicalName": "cdm_company",
    "EntitySetName": "cdm_companies",
    "PrimaryIdAttribute": "cdm_companyid",
    "PrimaryNameAttribute": "cdm_name",
    "ChangeTrackingEnabled": False,
    "Attributes": [
        attr("cdm_companyid", "Uniqueidentifier"),
        attr("cdm_companycode", "String", MaxLength=30),
    ],
    "Keys": [{"LogicalName": "cdm_companycode", "KeyAttributes": ["cdm_companycode"]}],
    "ManyToOneRelationships": [],
}


def tables() -> tuple[Table, dict[str, Table]]:
    account, company = parse_table(ACCOUNT), parse_table(COMPANY)
    return account, {"account": account, "cdm_company": company}


def problems(spec: EntitySpec) -> list[str]:
    account, by_name = tables()
    return resolve_fields(spec, account, by_name)[1]


def test_a_definition_parses_into_the_typed_model() -> None:
    """Names, column types, keys, lookups (nav property case kept) and tracking are read."""
    account, _ = tables()
    assert (account.entity_set, account.primary_id, account.change_tracking) == (
        "accounts",
        "accountid",
        True,
    )
    assert account.columns["creditlimit"].type == "Money"
    assert account.columns["msdyn_tags"].type == "MultiSelectPicklist"
    assert account.columns["createdon"].writable is False
    assert account.keys[0].columns == ("msdyn_company", "accountnumber")
    [ref] = account.references["msdyn_company"]
    assert (ref.target, ref.nav_property) == ("cdm_company", "msdyn_Company")
    assert lookup_targets(account, ["msdyn_company.cdm_companycode", "name"]) == {"cdm_company"}


def test_a_fitting_map_has_no_problem_and_resolves_its_fields() -> None:
    """Key = one alternate key's columns, a dotted company field, plain columns: all resolve."""
    account, by_name = tables()
    spec = EntitySpec(
        "accounts",
        ("name", "creditlimit", "msdyn_company"),
        ("msdyn_company.cdm_companycode", "accountnumber"),
    )
    fields, found = resolve_fields(spec, account, by_name)
    assert found == []
    dotted = fields["msdyn_company.cdm_companycode"]
    assert dotted.dotted and dotted.select == "_msdyn_company_value"
    assert dotted.target is not None and dotted.target.entity_set == "cdm_companies"
    assert not fields["msdyn_company"].dotted and fields["name"].select == "name"


def test_every_problem_is_named_in_one_list() -> None:
    """Missing columns, dotted non-lookup, polymorphic lookup, unsupported type, bad key."""
    spec = EntitySpec(
        "accounts",
        ("Name", "nosuch", "name.x", "parentcustomerid", "entityimage", "msdyn_company.nope"),
        ("accountnumber",),
    )
    found = problems(spec)
    assert len(found) == 7
    text = "\n".join(found)
    assert "no column 'Name' (logical names are lower case: 'name')" in text
    assert "no column 'nosuch'" in text
    assert "'name' is a String, not a lookup" in text
    assert "must refer to one table (it refers to: account, contact)" in text
    assert "does not replicate Image columns" in text
    assert "table 'cdm_company' (lookup 'msdyn_company') has no column 'nope'" in text
    assert "its keys: msdyn_company_accountnumber (msdyn_company, accountnumber)" in text


def test_a_table_without_change_tracking_says_how_to_turn_it_on() -> None:
    """ChangeTrackingEnabled false is a problem carrying the how-to."""
    _, by_name = tables()
    company = by_name["cdm_company"]
    found = resolve_fields(
        EntitySpec("cdm_companies", ("cdm_companycode",), ("cdm_companycode",)), company, by_name
    )[1]
    assert found == [f"table 'cdm_company' does not track changes: {TRACK_CHANGES_HINT}"]


def test_a_key_not_active_yet_is_a_problem() -> None:
    """An alternate key whose index is still being built cannot be used."""
    entry = {**ACCOUNT, "Keys": [{**ACCOUNT["Keys"][0], "EntityKeyIndexStatus": "Pending"}]}
    account = parse_table(entry)
    spec = EntitySpec("accounts", ("name",), ("msdyn_company.cdm_companycode", "accountnumber"))
    found = resolve_fields(
        spec, account, {"account": account, "cdm_company": parse_table(COMPANY)}
    )[1]
    assert found == [
        "alternate key 'msdyn_company_accountnumber' is not active yet (status Pending)"
    ]


def test_derived_properties_are_asked_for_once_per_type_and_merged() -> None:
    """Columns without their derived properties get one cast query per type; results merge."""
    account, _ = tables()
    queries = derived_queries(account, ["name", "accountnumber", "creditlimit", "msdyn_company"])
    assert sorted(queries) == ["MoneyAttributeMetadata", "StringAttributeMetadata"]
    url, params = queries["MoneyAttributeMetadata"]
    assert url.endswith("Attributes/Microsoft.Dynamics.CRM.MoneyAttributeMetadata")
    assert params == {"$select": "LogicalName,Precision,MinValue,MaxValue"}
    merged = merge_derived(
        account,
        [{"LogicalName": "creditlimit", "Precision": 2}, {"LogicalName": "name", "MaxLength": 160}],
    )
    assert merged.columns["creditlimit"].precision == 2 and merged.columns["name"].max_length == 160
    assert derived_queries(merged, ["name", "creditlimit"]) == {}


def test_a_filter_is_checked_against_the_columns() -> None:
    """A filter naming a missing column, a lookup, or a literal of the wrong type is refused."""
    account, by_name = tables()
    text = "nosuch eq 1 or msdyn_company eq null or creditlimit eq 'x' or name eq 'a'"
    found = resolve(EntitySpec("accounts", ("name",), (), filter=text), account, by_name)
    assert isinstance(found, list) and len(found) == 3
    assert "has no column 'nosuch'" in found[0]
    assert "'msdyn_company' (Lookup) cannot be filtered on" in found[1]
    assert "'x' cannot be compared with 'creditlimit' (Money)" in found[2]
    broken = resolve(
        EntitySpec("accounts", ("name",), (), filter="startswith(name,'a')"), account, by_name
    )
    assert isinstance(broken, list) and "function 'startswith' is not supported" in broken[0]


def test_a_resolved_entity_selects_what_reads_need() -> None:
    """The primary id, the fields' properties (lookups as _x_value), filter columns."""
    account, by_name = tables()
    spec = EntitySpec("accounts", ("name", "msdyn_company"), (), filter="creditlimit gt 0")
    entity = resolve(spec, account, by_name)
    assert not isinstance(entity, list)
    assert entity.select == ("accountid", "name", "_msdyn_company_value", "creditlimit")


@pytest.mark.anyio
async def test_dotted_values_resolve_in_one_batch_and_are_cached() -> None:
    """Values -> GUIDs in one fetch, case-insensitively; GUIDs -> values then need no fetch."""
    account, by_name = tables()
    spec = EntitySpec("accounts", ("name",), ("msdyn_company.cdm_companycode", "accountnumber"))
    fields, _ = resolve_fields(spec, account, by_name)
    asked: list[tuple[str, str, list[str]]] = []

    async def fetch(
        entity_set: str, select: str, conditions: Sequence[str]
    ) -> list[dict[str, Any]]:
        asked.append((entity_set, select, list(conditions)))
        return [{"cdm_companyid": GUID_USMF.upper(), "cdm_companycode": "usmf"}]

    lookups = Lookups(fetch)
    field = fields["msdyn_company.cdm_companycode"]
    assert await lookups.guids(field, ["USMF", "nope", "x" * 40]) == {"USMF": GUID_USMF}
    [(entity_set, select, conditions)] = asked
    assert (entity_set, select) == ("cdm_companies", "cdm_companyid,cdm_companycode")
    assert sorted(conditions) == ["cdm_companycode eq 'USMF'", "cdm_companycode eq 'nope'"]
    assert await lookups.values(field, [GUID_USMF]) == {GUID_USMF: "usmf"}
    assert await lookups.guids(field, ["usmf"]) == {"usmf": GUID_USMF}
    assert len(asked) == 1

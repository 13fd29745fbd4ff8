"""The config contract (DESIGN §5): what a good file becomes, and how bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicator.config import Config, FieldMap, SideConfig, TableMap, ValueMap, load_config
from replicator.errors import ConfigError
from replicator.operations import describe_map

# The example of DESIGN §5, verbatim.
EXAMPLE = """
[state]
path = "state.db"                  # the aiosqlite state store (relative to this file)

[sides.fno]                        # exactly two sides; the name is yours
adapter = "sqlite"                 # module adapters/<adapter>.py
path = "fno.db"                    # adapter options
poll_interval_ms = 20

[sides.crm]
adapter = "sqlite"
path = "crm.db"

[value_maps.state]                 # fno value = crm value
"Idaho" = "ID"
"Washington" = "WA"

[[maps]]
name = "customer_groups"
fno = "CustCustomerGroup"           # entity on side fno
crm = "msdyn_customergroups"        # entity on side crm
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerGroupId", crm = "msdyn_groupid" } ]
fields = [ { fno = "Description", crm = "msdyn_description" } ]

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "OrganizationName", crm = "name" },
  { fno = "CreditLimit", crm = "creditlimit" },
  { fno = "CustomerGroupId", crm = "msdyn_customergroupid", lookup = "customer_groups" },
  { fno = "AddressState", crm = "address1_stateorprovince", value_map = "state" },
  { fno = "Latitude", crm = "address1_latitude", direction = "fno->crm" },
  { fno = "LanguageId", crm = "msdyn_language", direction = "crm->fno", default = "en-us" },
]
create = ["fno", "crm"]              # default: both
delete = ["fno", "crm"]              # default: both
conflict = "fno"                     # a side name, or "newest"
initial_master = "fno"               # initial sync: whose values win when both sides hold the key
prerequisites = ["customer_groups"]
filter = { fno = "PartyType = 'Organization'" }      # per side, adapter's own syntax

[[maps]]
name = "released_products"
fno = "EcoResReleasedProductV2"
crm = "msdyn_sharedproductdetails"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "ItemNumber", crm = "msdyn_itemnumber" } ]
fields = [ { fno = "ProductName", crm = "msdyn_name" },
           { fno = "SalesPrice", crm = "msdyn_price", direction = "fno->crm" } ]
create = ["fno"]                     # born only in F&O
"""

# A small valid config that the tests of bad configs add one mistake to.
SIDES = """
[sides.fno]
adapter = "sqlite"
path = "fno.db"

[sides.crm]
adapter = "sqlite"
path = "crm.db"
"""


def a_map(name: str, fno: str, crm: str, *lines: str) -> str:
    """A ``[[maps]]`` table with a one-field key, plus ``lines``."""
    key = 'key = [ { fno = "dataAreaId", crm = "company" } ]'
    has_key = any(line.startswith("key") for line in lines)
    body = [f'name = "{name}"', f'fno = "{fno}"', f'crm = "{crm}"', *([] if has_key else [key])]
    return "\n[[maps]]\n" + "\n".join([*body, *lines]) + "\n"


GROUPS = a_map("groups", "CustGroup", "groups", 'fields = [ { fno = "Name", crm = "name" } ]')


def load(tmp_path: Path, text: str, name: str = "replica.toml") -> Config:
    """Write ``text`` to ``tmp_path/name`` and load it."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    """The problems ``load_config`` reports for ``text`` (it must refuse it)."""
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def only_problem(tmp_path: Path, text: str) -> str:
    """The single problem reported for ``text``."""
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def customers(*lines: str) -> str:
    """A valid config (groups, customers) with ``lines`` added to the customers map."""
    fields = 'fields = [ { fno = "OrganizationName", crm = "name" } ]'
    has_fields = any(line.startswith("fields") for line in lines)
    extra = lines if has_fields else (fields, *lines)
    return SIDES + GROUPS + a_map("customers", "CustomersV3", "accounts", *extra)


# --- a good config --------------------------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path) -> Config:
    return load(tmp_path, EXAMPLE)


def test_small_config_used_by_the_bad_config_tests_is_valid(tmp_path: Path) -> None:
    """The base the bad-config tests start from loads, so each of them tests one mistake."""
    assert [m.name for m in load(tmp_path, customers()).maps] == ["groups", "customers"]


def test_sides_are_numbered_in_file_order_with_adapter_options(example: Config) -> None:
    """Sides become indices 0 and 1 in file order; the adapter name is split from its options."""
    assert example.sides == (
        SideConfig("fno", "sqlite", {"path": "fno.db", "poll_interval_ms": 20}),
        SideConfig("crm", "sqlite", {"path": "crm.db"}),
    )
    assert example.side_index("crm") == 1


def test_paths_are_resolved_against_the_config_folder(tmp_path: Path, example: Config) -> None:
    """The config's path and the state store's path are absolute, relative to the config file."""
    assert example.path == (tmp_path / "replica.toml").resolve()
    assert example.state_path == (tmp_path / "state.db").resolve()
    assert example.base_dir == tmp_path.resolve()


def test_value_map_translates_forward_and_backward(example: Config) -> None:
    """A value map holds side 0 -> side 1 as ``forward`` and its inverse as ``backward``."""
    assert example.value_maps == {
        "state": ValueMap(
            "state", {"Idaho": "ID", "Washington": "WA"}, {"ID": "Idaho", "WA": "Washington"}
        )
    }


def test_maps_keep_config_order_with_entities_per_side(example: Config) -> None:
    """Maps are kept in file order; ``entities[i]`` is the entity on side ``i``."""
    assert [(m.name, m.entities) for m in example.maps] == [
        ("customer_groups", ("CustCustomerGroup", "msdyn_customergroups")),
        ("customers", ("CustomersV3", "accounts")),
        ("released_products", ("EcoResReleasedProductV2", "msdyn_sharedproductdetails")),
    ]


def test_key_and_fields_become_field_maps(example: Config) -> None:
    """Key and field maps hold (side 0 name, side 1 name), both ways unless told otherwise."""
    groups = example.map_named("customer_groups")
    assert groups.key == (
        FieldMap(("dataAreaId", "company")),
        FieldMap(("CustomerGroupId", "msdyn_groupid")),
    )
    assert groups.fields == (FieldMap(("Description", "msdyn_description")),)
    assert groups.key_names(1) == ("company", "msdyn_groupid")
    assert [f.id for f in groups.all_fields] == ["dataAreaId", "CustomerGroupId", "Description"]


def test_field_options_are_normalised(example: Config) -> None:
    """Directions become "0->1"/"1->0"; value maps, lookups and defaults are attached."""
    fields = {f.id: f for f in example.map_named("customers").fields}
    state = example.value_maps["state"]
    assert fields["CustomerGroupId"] == FieldMap(
        ("CustomerGroupId", "msdyn_customergroupid"), lookup="customer_groups"
    )
    assert fields["AddressState"].value_map == state
    assert fields["Latitude"].direction == "0->1"
    assert fields["LanguageId"] == FieldMap(
        ("LanguageId", "msdyn_language"), direction="1->0", default="en-us"
    )
    assert fields["OrganizationName"].direction == "both"


def test_one_way_field_flows_only_from_its_source(example: Config) -> None:
    """``fno->crm`` lets side 0's changes flow and stops side 1's; ``both`` lets both flow."""
    fields = {f.id: f for f in example.map_named("customers").fields}
    assert (fields["Latitude"].flows(0), fields["Latitude"].flows(1)) == (True, False)
    assert (fields["LanguageId"].flows(0), fields["LanguageId"].flows(1)) == (False, True)
    assert (fields["CreditLimit"].flows(0), fields["CreditLimit"].flows(1)) == (True, True)


def test_map_rules_are_normalised_to_side_indices(example: Config) -> None:
    """create/delete become sets of side indices; conflict and initial_master a side index."""
    m = example.map_named("customers")
    assert (m.create, m.delete) == (frozenset({0, 1}), frozenset({0, 1}))
    assert (m.conflict, m.initial_master) == (0, 0)
    assert m.prerequisites == ("customer_groups",)
    assert m.filters == ("PartyType = 'Organization'", None)


def test_omitted_rules_take_their_defaults(example: Config) -> None:
    """A map that says only ``create`` may delete from both sides and has no filters."""
    m = example.map_named("released_products")
    assert m == TableMap(
        name="released_products",
        entities=("EcoResReleasedProductV2", "msdyn_sharedproductdetails"),
        key=(FieldMap(("dataAreaId", "company")), FieldMap(("ItemNumber", "msdyn_itemnumber"))),
        fields=(
            FieldMap(("ProductName", "msdyn_name")),
            FieldMap(("SalesPrice", "msdyn_price"), direction="0->1"),
        ),
        create=frozenset({0}),
    )
    assert (m.delete, m.prerequisites, m.filters) == (frozenset({0, 1}), (), (None, None))


def test_rules_naming_side_one_and_newest(tmp_path: Path) -> None:
    """Naming the second side gives index 1; ``conflict = "newest"`` stays "newest"."""
    config = load(
        tmp_path,
        customers(
            'create = ["crm"]', "delete = []", 'conflict = "newest"', 'initial_master = "crm"'
        ),
    )
    m = config.map_named("customers")
    assert (m.create, m.delete, m.conflict, m.initial_master) == (
        frozenset({1}),
        frozenset(),
        "newest",
        1,
    )


def test_conflict_may_name_the_second_side(tmp_path: Path) -> None:
    """``conflict = "crm"`` (the second side) becomes side index 1."""
    assert load(tmp_path, customers('conflict = "crm"')).map_named("customers").conflict == 1


def test_lookup_into_its_own_map_is_allowed(tmp_path: Path) -> None:
    """A field that references a record of its own map (a parent account) is no cycle."""
    parent = '{ fno = "ParentAccount", crm = "parentaccountid", lookup = "customers" }'
    config = load(tmp_path, customers(f"fields = [ {parent} ]"))
    assert config.map_named("customers").fields[0].lookup == "customers"


# --- unknown keys ---------------------------------------------------------------------------


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    """A key the config does not define at the top level is named, with the likely one."""
    line = only_problem(tmp_path, "value_map = {}\n" + customers())
    assert line == "replica.toml: unknown key 'value_map' (did you mean 'value_maps'?)"


def test_unknown_key_in_a_map_is_refused(tmp_path: Path) -> None:
    """An unknown key in a map names the file, the map and the key."""
    line = only_problem(tmp_path, customers('prerequisite = ["groups"]'))
    assert line.startswith("replica.toml: map 'customers': unknown key 'prerequisite'")
    assert "did you mean 'prerequisites'?" in line


def test_unknown_key_in_a_field_map_is_refused(tmp_path: Path) -> None:
    """An unknown key in a field map names the map, the field map and the key."""
    field = '{ fno = "OrganizationName", crm = "name", diretcion = "fno->crm" }'
    line = only_problem(tmp_path, customers(f"fields = [ {field} ]"))
    assert line == (
        "replica.toml: map 'customers', fields[0] (OrganizationName <-> name): "
        "unknown key 'diretcion' (did you mean 'direction'?)"
    )


def test_unknown_key_in_state_is_refused(tmp_path: Path) -> None:
    """An unknown key in [state] is named with the table."""
    line = only_problem(tmp_path, '[state]\nfile = "s.db"\n' + customers())
    assert line.startswith("replica.toml: [state]: unknown key 'file'")


# --- fields ---------------------------------------------------------------------------------


def test_field_mapped_twice_on_one_side_is_refused(tmp_path: Path) -> None:
    """A field used by two field maps names both places."""
    fields = '{ fno = "OrganizationName", crm = "name" }, { fno = "Name", crm = "name" }'
    line = only_problem(tmp_path, customers(f"fields = [ {fields} ]"))
    assert line == (
        "replica.toml: map 'customers', fields[1] (Name <-> name): field 'name' of side 'crm' "
        "is mapped twice: already in fields[0] (OrganizationName <-> name)"
    )


def test_field_mapped_again_after_the_key_is_refused(tmp_path: Path) -> None:
    """A key field repeated in ``fields`` is refused, naming the key entry."""
    line = only_problem(tmp_path, customers('fields = [ { fno = "dataAreaId", crm = "cmp" } ]'))
    assert line == (
        "replica.toml: map 'customers', fields[0] (dataAreaId <-> cmp): field 'dataAreaId' "
        "of side 'fno' is mapped twice: already in key[0] (dataAreaId <-> company)"
    )


def test_identical_field_map_twice_is_one_problem(tmp_path: Path) -> None:
    """A field map repeated whole is one mistake, reported once."""
    field = '{ fno = "OrganizationName", crm = "name" }'
    line = only_problem(tmp_path, customers(f"fields = [ {field}, {field} ]"))
    assert "fields[1] (OrganizationName <-> name): field 'OrganizationName'" in line


def test_direction_naming_an_unknown_side_is_refused(tmp_path: Path) -> None:
    """A direction with a side that does not exist names the side and the valid directions."""
    field = '{ fno = "OrganizationName", crm = "name", direction = "fno->erp" }'
    line = only_problem(tmp_path, customers(f"fields = [ {field} ]"))
    assert line == (
        "replica.toml: map 'customers', fields[0] (OrganizationName <-> name): "
        "direction 'fno->erp' names an unknown side 'erp': use 'both', 'fno->crm' or 'crm->fno'"
    )


def test_direction_from_a_side_to_itself_is_refused(tmp_path: Path) -> None:
    """``fno->fno`` is not a direction."""
    field = '{ fno = "OrganizationName", crm = "name", direction = "fno->fno" }'
    line = only_problem(tmp_path, customers(f"fields = [ {field} ]"))
    assert "fields[0] (OrganizationName <-> name): direction 'fno->fno' is not valid" in line


def test_one_way_key_field_is_refused(tmp_path: Path) -> None:
    """Key fields identify the record on both sides, so they must flow both ways."""
    key = 'key = [ { fno = "Id", crm = "id", direction = "fno->crm" } ]'
    line = only_problem(tmp_path, customers(key))
    assert (
        line == "replica.toml: map 'customers', key[0] (Id <-> id): key fields must flow both ways"
    )


def test_field_missing_on_a_side_is_refused(tmp_path: Path) -> None:
    """A field map without the field of one side names that side."""
    line = only_problem(tmp_path, customers('fields = [ { fno = "OrganizationName" } ]'))
    assert line == (
        "replica.toml: map 'customers', fields[0]: the field on side 'crm' is missing "
        '(add crm = "FieldName")'
    )


def test_missing_value_map_is_refused(tmp_path: Path) -> None:
    """A field naming a value map that is not defined names the map, the field and the value map."""
    field = '{ fno = "AddressState", crm = "address1_stateorprovince", value_map = "states" }'
    line = only_problem(tmp_path, customers(f"fields = [ {field} ]"))
    assert line == (
        "replica.toml: map 'customers', fields[0] (AddressState <-> address1_stateorprovince): "
        "value map 'states' does not exist (define [value_maps.states])"
    )


def test_missing_lookup_map_is_refused(tmp_path: Path) -> None:
    """A lookup naming a map that is not defined names the map, the field and the lookup."""
    field = '{ fno = "CustomerGroupId", crm = "groupid", lookup = "customer_groups" }'
    line = only_problem(tmp_path, customers(f"fields = [ {field} ]"))
    assert line.startswith(
        "replica.toml: map 'customers', fields[0] (CustomerGroupId <-> groupid): "
        "lookup map 'customer_groups' does not exist"
    )


def test_value_map_translating_two_values_to_one_is_refused(tmp_path: Path) -> None:
    """A value map must be invertible to translate both ways."""
    text = '[value_maps.state]\n"Idaho" = "ID"\n"Idaho " = "ID"\n' + customers()
    line = only_problem(tmp_path, text)
    assert line.startswith("replica.toml: [value_maps.state]: 'Idaho' and 'Idaho ' both map to")


# --- rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["create", "delete"])
def test_create_or_delete_naming_an_unknown_side_is_refused(tmp_path: Path, rule: str) -> None:
    """A create/delete rule naming a side that does not exist names the rule and the side."""
    line = only_problem(tmp_path, customers(f'{rule} = ["fno", "erp"]'))
    assert line == f"replica.toml: map 'customers', {rule}: 'erp' is not a side: use 'fno' or 'crm'"


def test_conflict_naming_an_unknown_side_is_refused(tmp_path: Path) -> None:
    """A conflict policy that is neither a side nor "newest" lists both choices."""
    line = only_problem(tmp_path, customers('conflict = "latest"'))
    assert line == (
        "replica.toml: map 'customers', conflict: 'latest' is not a side: "
        "use 'fno', 'crm' or 'newest'"
    )


def test_initial_master_naming_an_unknown_side_is_refused(tmp_path: Path) -> None:
    """initial_master must name a side."""
    line = only_problem(tmp_path, customers('initial_master = "erp"'))
    assert line == (
        "replica.toml: map 'customers', initial_master: 'erp' is not a side: use 'fno' or 'crm'"
    )


def test_filter_naming_an_unknown_side_is_refused(tmp_path: Path) -> None:
    """A filter is per side; a filter for another name is refused."""
    line = only_problem(tmp_path, customers('filter = { erp = "x = 1" }'))
    assert line == "replica.toml: map 'customers', filter: 'erp' is not a side: use 'fno' or 'crm'"


def test_empty_key_is_refused(tmp_path: Path) -> None:
    """A map needs an integration key."""
    line = only_problem(tmp_path, customers("key = []"))
    assert line.startswith("replica.toml: map 'customers', key: the integration key is empty")


def test_missing_key_is_refused(tmp_path: Path) -> None:
    """A map without ``key`` is refused like an empty key."""
    text = SIDES + '[[maps]]\nname = "customers"\nfno = "CustomersV3"\ncrm = "accounts"\n'
    line = only_problem(tmp_path, text)
    assert line.startswith("replica.toml: map 'customers', key: the integration key is empty")


# --- prerequisites --------------------------------------------------------------------------


def test_unknown_prerequisite_is_refused(tmp_path: Path) -> None:
    """A prerequisite naming no map is refused."""
    line = only_problem(tmp_path, customers('prerequisites = ["grups"]'))
    assert line == (
        "replica.toml: map 'customers', prerequisites: prerequisite map 'grups' does not exist"
    )


def test_prerequisite_cycle_is_refused_with_the_cycle(tmp_path: Path) -> None:
    """Two maps that need each other are refused; the message names the cycle."""
    text = SIDES + a_map("a", "A", "a", 'prerequisites = ["b"]')
    text += a_map("b", "B", "b", 'prerequisites = ["a"]')
    line = only_problem(tmp_path, text)
    assert line == (
        "replica.toml: map 'a', prerequisites: prerequisite cycle a -> b -> a "
        "(a -> b: prerequisites; b -> a: prerequisites)"
    )


def test_map_that_is_its_own_prerequisite_is_refused(tmp_path: Path) -> None:
    """A map listed in its own prerequisites is a cycle of one."""
    line = only_problem(tmp_path, customers('prerequisites = ["customers"]'))
    assert "map 'customers', prerequisites: prerequisite cycle customers -> customers" in line


def test_cycle_made_by_a_lookup_is_refused(tmp_path: Path) -> None:
    """A lookup needs its map like a prerequisite, so lookup + prerequisite can form a cycle."""
    groups = a_map("groups", "CustGroup", "groups", 'prerequisites = ["customers"]')
    lookup = '{ fno = "GroupId", crm = "groupid", lookup = "groups" }'
    text = SIDES + groups + a_map("customers", "Cust", "accounts", f"fields = [ {lookup} ]")
    line = only_problem(tmp_path, text)
    assert line == (
        "replica.toml: map 'customers', fields[0] (GroupId <-> groupid) lookup: "
        "prerequisite cycle customers -> groups -> customers "
        "(customers -> groups: fields[0] (GroupId <-> groupid) lookup; "
        "groups -> customers: prerequisites)"
    )


def test_cycle_made_by_lookups_alone_is_refused(tmp_path: Path) -> None:
    """Two maps whose fields look each other up form a cycle."""
    text = SIDES + a_map("a", "A", "a", 'fields = [ { fno = "B", crm = "b", lookup = "b" } ]')
    text += a_map("b", "B", "b", 'fields = [ { fno = "A", crm = "a", lookup = "a" } ]')
    line = only_problem(tmp_path, text)
    assert "prerequisite cycle a -> b -> a" in line


def test_two_separate_cycles_are_both_reported(tmp_path: Path) -> None:
    """Every independent cycle is reported, not only the first."""
    text = SIDES
    for name, need in [("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")]:
        text += a_map(name, name.upper(), name, f'prerequisites = ["{need}"]')
    found = problems(tmp_path, text)
    assert [line.split(" (")[0] for line in found] == [
        "replica.toml: map 'a', prerequisites: prerequisite cycle a -> b -> a",
        "replica.toml: map 'c', prerequisites: prerequisite cycle c -> d -> c",
    ]


# --- sides, maps and entities ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sides", "found"),
    [
        ('[sides.fno]\nadapter = "memory"\n', "found 1: 'fno'"),
        (SIDES + '[sides.erp]\nadapter = "memory"\n', "found 3: 'fno', 'crm' or 'erp'"),
        ("", "found none"),
    ],
    ids=["one", "three", "none"],
)
def test_not_exactly_two_sides_is_refused(tmp_path: Path, sides: str, found: str) -> None:
    """One, three or no sides are refused once, without follow-on errors from the maps."""
    line = only_problem(tmp_path, sides + GROUPS)
    assert line == f"replica.toml: [sides]: exactly two sides are needed ([sides.<name>]), {found}"


def test_side_without_adapter_is_refused(tmp_path: Path) -> None:
    """Each side must name its adapter."""
    text = '[sides.fno]\npath = "fno.db"\n[sides.crm]\nadapter = "memory"\n' + GROUPS
    line = only_problem(tmp_path, text)
    assert line.startswith("replica.toml: [sides.fno]: 'adapter' is required")


def test_side_named_like_a_map_key_is_refused(tmp_path: Path) -> None:
    """A side called ``key`` would clash with a map's ``key``, so it is refused."""
    text = '[sides.fno]\nadapter = "memory"\n[sides.key]\nadapter = "memory"\n'
    line = problems(tmp_path, text + GROUPS)[0]
    assert line.startswith("replica.toml: [sides.key]: 'key' cannot name a side")


def test_entity_missing_for_a_side_is_refused(tmp_path: Path) -> None:
    """A map that does not name the entity of a side names the map and the side."""
    text = SIDES + '[[maps]]\nname = "customers"\nfno = "CustomersV3"\n'
    text += 'key = [ { fno = "Id", crm = "id" } ]\n'
    line = only_problem(tmp_path, text)
    assert line == (
        "replica.toml: map 'customers', crm: the entity on side 'crm' is missing "
        '(add crm = "TableName")'
    )


def test_map_without_a_name_is_refused(tmp_path: Path) -> None:
    """A map must have a name; it is then called by its position."""
    text = SIDES + GROUPS + '[[maps]]\nfno = "A"\ncrm = "a"\nkey = [ { fno = "Id", crm = "id" } ]\n'
    line = only_problem(tmp_path, text)
    assert line.startswith("replica.toml: maps[1]: 'name' is required")


def test_two_maps_with_the_same_name_are_refused(tmp_path: Path) -> None:
    """Map names are unique."""
    text = SIDES + GROUPS + a_map("groups", "Other", "other")
    line = only_problem(tmp_path, text)
    assert line == (
        "replica.toml: map 'groups', name: maps[0] and maps[1] have the same name; "
        "names must be unique"
    )


def test_one_entity_mapped_by_two_maps_is_refused(tmp_path: Path) -> None:
    """An entity belongs to one map; the second map using it is named, with the side."""
    text = SIDES + GROUPS + a_map("other_groups", "OtherGroup", "groups")
    line = only_problem(tmp_path, text)
    assert line == (
        "replica.toml: map 'other_groups', crm: entity 'groups' is already mapped by map "
        "'groups'; an entity belongs to one map"
    )


def test_config_without_maps_is_refused(tmp_path: Path) -> None:
    """A config must map at least one entity."""
    assert only_problem(tmp_path, SIDES) == ("replica.toml: at least one [[maps]] table is needed")


# --- the file -------------------------------------------------------------------------------


def test_invalid_toml_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    """A file that is not TOML is a ConfigError naming the file and where parsing stopped."""
    line = only_problem(tmp_path, SIDES + "[[maps]]\nname = customers\n")
    assert "replica.toml: not valid TOML" in line
    assert "line 10" in line


def test_missing_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    """A config that does not exist is a ConfigError naming the path, not an OSError."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere.toml")
    assert info.value.problems == [
        f"{tmp_path / 'nowhere.toml'}: cannot read the config: No such file or directory"
    ]


def test_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    """A file in another encoding is a ConfigError naming the file, not a UnicodeDecodeError."""
    path = tmp_path / "latin1.toml"
    path.write_bytes('[state]\npath = "Bogotá.db"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0].startswith(f"{path}: not UTF-8 text")


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    """Three mistakes in different places give three lines, in file order, in one ConfigError."""
    text = "[state]\nfile = 1\n" + customers(
        'fields = [ { fno = "Name", crm = "name", value_map = "nope" } ]', 'conflict = "erp"'
    )
    found = problems(tmp_path, text)
    assert [line.split(": ")[1] for line in found] == [
        "[state]",
        "map 'customers', fields[0] (Name <-> name)",
        "map 'customers', conflict",
    ]


@pytest.mark.parametrize("state", ["fno.db", "./sub/../fno.db"])
def test_a_state_store_on_a_sides_database_is_refused(tmp_path: Path, state: str) -> None:
    """``[state] path`` naming a side's database file is refused, naming the file and both
    settings (before, the state tables were created inside the user's F&O database)."""
    text = EXAMPLE.replace('path = "state.db"', f'path = "{state}"', 1)
    found = only_problem(tmp_path, text)
    assert found.startswith("replica.toml: [state]: path and [sides.fno] path both name ")
    assert str(tmp_path / "fno.db") in found


def test_a_state_store_hard_linked_to_a_sides_database_is_refused(tmp_path: Path) -> None:
    """Two names of one file are one file: a hard link to a side's database is refused too."""
    (tmp_path / "fno.db").touch()
    (tmp_path / "state.db").hardlink_to(tmp_path / "fno.db")
    assert "[sides.fno] path" in only_problem(tmp_path, EXAMPLE)


def test_two_sides_on_one_database_are_refused(tmp_path: Path) -> None:
    """Both sides naming one database file is a config error naming both sides (before, it
    passed, and each side warned that the other's triggers belonged to no map)."""
    text = EXAMPLE.replace('path = "crm.db"', 'path = "./fno.db"', 1)
    found = only_problem(tmp_path, text)
    assert found.startswith("replica.toml: [sides.crm]: path names ")
    assert "the database of [sides.fno] too" in found


# --- enabled = false: a field map kept in the file, not replicated -------------------------


def test_disabled_field_map_is_kept_but_not_replicated(tmp_path: Path) -> None:
    """``enabled = false`` moves a field map out of ``fields`` (what replicates) into
    ``disabled``, and ``describe_map`` lists both with their ``enabled``."""
    fields = (
        'fields = [ { fno = "OrganizationName", crm = "name" },\n'
        '  { fno = "CreditLimit", crm = "creditlimit", enabled = false } ]'
    )
    config = load(tmp_path, customers(fields))
    m = config.map_named("customers")
    assert [f.id for f in m.fields] == ["OrganizationName"]
    assert [(f.id, f.enabled) for f in m.disabled] == [("CreditLimit", False)]
    assert "CreditLimit" not in [f.id for f in m.all_fields]
    shown = describe_map(config, m)["fields"]
    assert [(f["names"]["fno"], f["enabled"]) for f in shown] == [
        ("OrganizationName", True),
        ("CreditLimit", False),
    ]


def test_enabled_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    """``enabled = "no"`` is a mistake, named with the map and the field."""
    field = '{ fno = "OrganizationName", crm = "name", enabled = "no" }'
    line = only_problem(tmp_path, customers(f"fields = [ {field} ]"))
    assert line == (
        "replica.toml: map 'customers', fields[0] (OrganizationName <-> name): "
        'enabled must be true or false, not "no"'
    )


def test_disabled_key_field_is_refused(tmp_path: Path) -> None:
    """The key identifies the record on both sides: none of its fields can be turned off."""
    key = 'key = [ { fno = "Id", crm = "id", enabled = false } ]'
    line = only_problem(tmp_path, customers(key))
    assert line.startswith("replica.toml: map 'customers', key[0] (Id <-> id): a key field cannot")


def test_disabled_field_still_counts_as_mapped(tmp_path: Path) -> None:
    """A disabled field map still names its fields: mapping one of them again is refused."""
    fields = (
        'fields = [ { fno = "OrganizationName", crm = "name", enabled = false },\n'
        '  { fno = "OrganizationName", crm = "name2" } ]'
    )
    line = only_problem(tmp_path, customers(fields))
    assert "field 'OrganizationName' of side 'fno' is mapped twice" in line

"""Config includes: map files pulled into a config, standard ones, side renaming, and errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from daemon import cli
from replicator.config import Config, load_config
from replicator.config.includes import standard_names
from replicator.errors import ConfigError

SIDES = """
[sides.erp]
adapter = "sqlite"
path = "erp.db"

[sides.crm]
adapter = "sqlite"
path = "crm.db"
"""

GROUPS = """
sides = ["fno", "dataverse"]

[value_maps.noyes]
"No" = false
"Yes" = true

[[maps]]
name = "groups"
fno = "CustCustomerGroup"
dataverse = "msdyn_customergroups"
key = [ { fno = "CustomerGroupId", dataverse = "msdyn_groupid" } ]
fields = [
  { fno = "Description", dataverse = "msdyn_description", direction = "fno->dataverse" },
  { fno = "TaxIncluded", dataverse = "msdyn_tax", value_map = "noyes" },
]
create = ["fno"]
conflict = "dataverse"
filter = { dataverse = "msdyn_tax IS NOT NULL OR 1" }
"""

RENAMED = '{ file = "groups.toml", sides = { fno = "erp", dataverse = "crm" } }'


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write each file under ``folder``; the path of the first one (the config)."""
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder / next(iter(files))


def problems(folder: Path, files: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(write(folder, files))
    return exc.value.problems


def loaded(folder: Path, files: dict[str, str]) -> Config:
    return load_config(write(folder, files))


def test_an_included_map_takes_the_configs_side_names(tmp_path: Path) -> None:
    """Renamed sides reach entities, fields, directions, create, conflict and filters."""
    config = loaded(
        tmp_path, {"main.toml": f"include = [{RENAMED}]\n{SIDES}", "groups.toml": GROUPS}
    )
    (m,) = config.maps
    assert m.entities == ("CustCustomerGroup", "msdyn_customergroups")
    assert m.fields[0].names == ("Description", "msdyn_description")
    assert m.fields[0].direction == "0->1"
    assert m.create == frozenset({0})
    assert m.conflict == 1
    assert m.filters == (None, "msdyn_tax IS NOT NULL OR 1")
    assert config.value_maps["noyes"].forward == {"No": False, "Yes": True}
    assert config.file_of("groups") == "groups.toml"
    assert config.included == ("groups.toml",)


def test_a_value_map_is_turned_round_when_the_config_lists_the_sides_the_other_way(
    tmp_path: Path,
) -> None:
    """The file's left side is fno; here fno is renamed to the config's second side."""
    sides = SIDES.replace("[sides.erp]", "[sides.tmp]").replace("[sides.crm]", "[sides.erp]")
    sides = sides.replace("[sides.tmp]", "[sides.crm]")
    config = loaded(
        tmp_path, {"main.toml": f"include = [{RENAMED}]\n{sides}", "groups.toml": GROUPS}
    )
    assert [s.name for s in config.sides] == ["crm", "erp"]
    assert config.value_maps["noyes"].forward == {False: "No", True: "Yes"}
    assert config.maps[0].entities == ("msdyn_customergroups", "CustCustomerGroup")


def test_includes_resolve_against_the_including_file_and_nest(tmp_path: Path) -> None:
    """A map file's own include is relative to that file, and renaming composes."""
    files = {
        "main.toml": f'include = ["maps/all.toml"]\n{SIDES}',
        "maps/all.toml": f'include = [{RENAMED}]\nsides = ["erp", "crm"]\n',
        "maps/groups.toml": GROUPS,
    }
    config = loaded(tmp_path, files)
    assert [m.name for m in config.maps] == ["groups"]
    assert config.file_of("groups") == "maps/groups.toml"
    assert config.included == ("maps/all.toml", "maps/groups.toml")


def test_a_file_reached_twice_is_read_once(tmp_path: Path) -> None:
    """Two map files that both include the groups give the groups once (no duplicate)."""
    files = {
        "main.toml": f'include = ["a.toml", "b.toml"]\n{SIDES}',
        "a.toml": f"include = [{RENAMED}]",
        "b.toml": f"include = [{RENAMED}]",
        "groups.toml": GROUPS,
    }
    assert [m.name for m in loaded(tmp_path, files).maps] == ["groups"]


def test_an_include_cycle_is_refused_naming_the_files(tmp_path: Path) -> None:
    """a includes b includes a: one problem with the whole cycle."""
    files = {
        "main.toml": f'include = ["a.toml"]\n{SIDES}',
        "a.toml": 'include = ["b.toml"]',
        "b.toml": 'include = ["a.toml"]',
    }
    found = problems(tmp_path, files)
    assert "b.toml: include[0]: include cycle a.toml -> b.toml -> a.toml" in found


def test_a_map_defined_twice_names_both_files(tmp_path: Path) -> None:
    """The config's own map clashes with an included one."""
    own = GROUPS.split("[[maps]]")[1].replace("fno", "erp").replace("dataverse", "crm")
    files = {"main.toml": f"include = [{RENAMED}]\n{SIDES}\n[[maps]]{own}", "groups.toml": GROUPS}
    assert problems(tmp_path, files) == [
        "main.toml: map 'groups', name: map 'groups' is defined in groups.toml too; "
        "a map name is defined once"
    ]


def test_a_mistake_in_an_included_map_names_that_file(tmp_path: Path) -> None:
    """The map's checks name the map file, not the config."""
    bad = GROUPS.replace('value_map = "noyes"', 'value_map = "yesno"')
    found = problems(tmp_path, {"main.toml": f"include = [{RENAMED}]\n{SIDES}", "groups.toml": bad})
    assert found == [
        "groups.toml: map 'groups', fields[1] (TaxIncluded <-> msdyn_tax): "
        "value map 'yesno' does not exist (define [value_maps.yesno])"
    ]


def test_a_map_file_written_for_other_sides_needs_renaming(tmp_path: Path) -> None:
    """Without the table form, the file's declared sides must be the config's."""
    found = problems(
        tmp_path, {"main.toml": f'include = ["groups.toml"]\n{SIDES}', "groups.toml": GROUPS}
    )
    assert found == [
        "main.toml: include[0]: groups.toml is written for sides 'fno' and 'dataverse' and "
        "main.toml has 'erp' and 'crm': rename them, e.g. { file = \"groups.toml\", sides = "
        '{ fno = "erp", dataverse = "crm" } }'
    ]


def test_a_renaming_must_cover_every_side_of_the_file(tmp_path: Path) -> None:
    """Renaming fno alone leaves dataverse unknown: refused, with the missing pair suggested."""
    entry = '{ file = "groups.toml", sides = { fno = "erp" } }'
    found = problems(
        tmp_path, {"main.toml": f"include = [{entry}]\n{SIDES}", "groups.toml": GROUPS}
    )
    assert found == [
        "main.toml: include[0]: groups.toml is written for sides 'fno' and 'dataverse' and "
        "main.toml has 'erp' and 'crm': rename them, e.g. { file = \"groups.toml\", sides = "
        '{ dataverse = "crm" } }'
    ]


def test_a_renaming_to_an_unknown_side_is_refused(tmp_path: Path) -> None:
    """sides must map the file's names to the config's, one to one."""
    entry = '{ file = "groups.toml", sides = { fno = "erp", dataverse = "erp" } }'
    found = problems(
        tmp_path, {"main.toml": f"include = [{entry}]\n{SIDES}", "groups.toml": GROUPS}
    )
    assert found[0].startswith("main.toml: include[0], sides: must rename sides of groups.toml")


def test_a_map_file_may_not_hold_sides_or_state(tmp_path: Path) -> None:
    """An included file carries maps only: a [state] there is named with its file."""
    found = problems(
        tmp_path,
        {
            "main.toml": f"include = [{RENAMED}]\n{SIDES}",
            "groups.toml": '[state]\npath="x"\n' + GROUPS,
        },
    )
    assert found[0].startswith("groups.toml: [state]: an included file holds only")


def test_a_missing_file_and_an_unknown_standard_name_are_named(tmp_path: Path) -> None:
    """Both entries are reported, each with its index."""
    found = problems(tmp_path, {"main.toml": f'include = ["nope.toml", "standard:nope"]\n{SIDES}'})
    assert found[0].startswith("main.toml: include[0]: 'nope.toml': no such file")
    assert found[1].startswith("main.toml: include[1]: no standard map file 'standard:nope': use")


def test_two_files_defining_one_value_map_differently_are_refused(tmp_path: Path) -> None:
    """An identical value map may come twice; a different one names both files."""
    other = 'sides = ["erp", "crm"]\n[value_maps.noyes]\n"No" = 0\n"Yes" = 1\n'
    files = {
        "main.toml": f'include = [{RENAMED}, "other.toml"]\n{SIDES}',
        "groups.toml": GROUPS,
        "other.toml": other,
    }
    assert problems(tmp_path, files) == [
        "other.toml: [value_maps.noyes]: differs from [value_maps.noyes] of groups.toml: "
        "one name, one value map"
    ]


def test_the_standard_map_files_are_shipped() -> None:
    """standard:all and the map groups of the issue are there to include."""
    names = set(standard_names())
    assert {"all", "customers", "currencies", "legal_entities", "sales_orders"} <= names


def test_validate_names_the_included_files_and_the_file_of_a_missing_column(
    tmp_path: Path,
) -> None:
    """``replicator validate`` says which files it read, and where a missing column is mapped."""
    files = {"main.toml": f"include = [{RENAMED}]\n{SIDES}", "groups.toml": GROUPS}
    config = write(tmp_path, files)
    with sqlite3.connect(tmp_path / "erp.db") as db:
        db.execute("CREATE TABLE CustCustomerGroup (CustomerGroupId, Description, TaxIncluded)")
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("CREATE TABLE msdyn_customergroups (msdyn_groupid, msdyn_description)")
    done = cli("validate", "--config", str(config))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "groups.toml: map 'groups': " in done.stderr and "msdyn_tax" in done.stderr
    with sqlite3.connect(tmp_path / "crm.db") as db:
        db.execute("ALTER TABLE msdyn_customergroups ADD COLUMN msdyn_tax")
    done = cli("validate", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "main.toml: ok (1 maps; included: groups.toml)"


def test_the_configs_own_value_map_replaces_an_included_one(tmp_path: Path) -> None:
    """A config states its environment's option values over a map file's."""
    own = '[value_maps.noyes]\n"No" = 0\n"Yes" = 1\n'
    files = {"main.toml": f"include = [{RENAMED}]\n{SIDES}\n{own}", "groups.toml": GROUPS}
    config = loaded(tmp_path, files)
    assert config.value_maps["noyes"].forward == {"No": 0, "Yes": 1}
    assert config.maps[0].fields[1].value_map == config.value_maps["noyes"]

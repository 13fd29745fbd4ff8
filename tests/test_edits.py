"""Safe edits of a map: applied to the TOML keeping its comments, validated as ``validate``
does, shown as a diff, and saved atomically only if valid and the file did not change."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from replicator.config import check_config_text, config_from_text, load_config
from replicator.edits import (
    ConflictPolicy,
    Edit,
    FieldDirection,
    FieldEnabled,
    Preview,
    ValueMapSet,
    preview,
    save,
)
from replicator.errors import ConfigError, StaleEdit

CONFIG = """\
# The test config: comments must survive every edit.
[sides.fno]
adapter = "sqlite"
path = "fno.db"

[sides.crm]
adapter = "sqlite"
path = "crm.db"

[value_maps.state]    # F&O value = Dataverse value
"Idaho" = "ID"        # kept as it is
"Washington" = "WA"

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [
  { fno = "OrganizationName", crm = "name" },       # the name
  { fno = "CreditLimit", crm = "creditlimit" },
  { fno = "AddressState", crm = "address1_stateorprovince", value_map = "state" },
]
conflict = "fno"      # finance owns it
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "replica.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def customers(shown: Preview) -> dict[str, object]:
    """The customers map of a preview's text, decoded."""
    maps: list[dict[str, object]] = tomllib.loads(shown.text)["maps"]
    return maps[0]


def field(shown: Preview, index: int) -> dict[str, object]:
    fields = customers(shown)["fields"]
    assert isinstance(fields, list)
    found: dict[str, object] = fields[index]
    return found


def test_disabling_a_field_writes_enabled_false_and_keeps_comments(config: Path) -> None:
    """A field named by its side-1 name is turned off; every comment stays."""
    shown = preview(config, [FieldEnabled(map="customers", field="creditlimit", enabled=False)])
    assert shown.errors == []
    assert field(shown, 1)["enabled"] is False
    assert '  { fno = "CreditLimit", crm = "creditlimit", enabled = false },\n' in shown.text
    for line in CONFIG.splitlines():
        if "#" in line:
            assert line.split("#", 1)[1] in shown.text
    m = config_from_text(shown.text, config).map_named("customers")
    assert [f.id for f in m.disabled] == ["CreditLimit"]


def test_enabling_again_drops_the_key(config: Path) -> None:
    """``enabled = true`` is the default, so turning a field on removes the key."""
    off = preview(config, [FieldEnabled(map="customers", field="CreditLimit", enabled=False)])
    config.write_text(off.text, encoding="utf-8")
    on = preview(config, [FieldEnabled(map="customers", field="CreditLimit", enabled=True)])
    assert on.text == CONFIG


@pytest.mark.parametrize(
    ("given", "written"),
    [(">", "fno->crm"), ("<", "crm->fno"), ("crm->fno", "crm->fno"), ("=", None)],
)
def test_direction_in_dual_write_notation_or_the_configs_words(
    config: Path, given: str, written: str | None
) -> None:
    """``>`` is first side to second, ``<`` the reverse, ``=`` both (the default: no key)."""
    shown = preview(config, [FieldDirection(map="customers", field="name", direction=given)])
    assert shown.errors == []
    assert field(shown, 0).get("direction") == written
    assert shown.text.count("# the name") == 1  # the comment after the edited field map stays


def test_value_map_edit_keeps_kept_lines_and_adds_new_ones(config: Path) -> None:
    """Idaho keeps its line and comment, Washington goes, Oregon is added."""
    pairs: dict[str, str | int | float | bool] = {"Idaho": "ID", "Oregon": "OR"}
    shown = preview(config, [ValueMapSet(map="customers", field="AddressState", pairs=pairs)])
    assert shown.errors == []
    assert tomllib.loads(shown.text)["value_maps"]["state"] == {"Idaho": "ID", "Oregon": "OR"}
    assert '"Idaho" = "ID"        # kept as it is' in shown.text
    assert '-"Washington" = "WA"' in shown.diff
    assert '+"Oregon" = "OR"' in shown.diff


def test_value_map_for_a_field_without_one_is_created(config: Path) -> None:
    """A field with no value map gets a new ``[value_maps.<map>_<field>]`` and names it."""
    pairs: dict[str, str | int | float | bool] = {"Contoso": "CONTOSO"}
    shown = preview(config, [ValueMapSet(map="customers", field="name", pairs=pairs)])
    assert shown.errors == []
    assert field(shown, 0)["value_map"] == "customers_name"
    assert tomllib.loads(shown.text)["value_maps"]["customers_name"] == pairs


def test_conflict_policy_edit(config: Path) -> None:
    shown = preview(config, [ConflictPolicy(map="customers", policy="newest")])
    changed = [
        line for line in shown.diff.splitlines() if line[:1] in "+-" and line[1:2] != line[:1]
    ]
    assert changed == [
        '-conflict = "fno"      # finance owns it',
        '+conflict = "newest"      # finance owns it',
    ]
    assert shown.errors == []
    assert customers(shown)["conflict"] == "newest"
    assert 'conflict = "newest"      # finance owns it' in shown.text


def test_invalid_edit_gives_validates_message(config: Path) -> None:
    """A policy naming no side is refused with exactly the line ``validate`` prints."""
    shown = preview(config, [ConflictPolicy(map="customers", policy="erp")])
    expected = check_config_text(CONFIG.replace('conflict = "fno"', 'conflict = "erp"'), config)
    assert shown.errors == expected
    assert len(expected) == 1 and "map 'customers'" in expected[0] and "'erp'" in expected[0]


def test_edit_naming_what_is_not_there_names_it(config: Path) -> None:
    """Unknown map, unknown field and a key field each get a clear problem."""
    edits: list[Edit] = [
        ConflictPolicy(map="vendors", policy="fno"),
        FieldEnabled(map="customers", field="Nope", enabled=False),
        FieldDirection(map="customers", field="accountnumber", direction=">"),
    ]
    assert preview(config, edits).errors == [
        "replica.toml: no map named 'vendors'",
        "replica.toml: map 'customers': no field map names 'Nope' on either side",
        "replica.toml: map 'customers': 'accountnumber' is a key field: the key cannot be edited",
    ]


def test_save_writes_a_valid_preview(config: Path) -> None:
    shown = preview(config, [ConflictPolicy(map="customers", policy="crm")])
    save(config, shown)
    assert config.read_text(encoding="utf-8") == shown.text
    assert load_config(config).map_named("customers").conflict == 1
    assert [p.name for p in config.parent.iterdir()] == ["replica.toml"]  # no temp file left


def test_save_refuses_a_preview_with_errors(config: Path) -> None:
    shown = preview(config, [ConflictPolicy(map="customers", policy="erp")])
    with pytest.raises(ConfigError) as info:
        save(config, shown)
    assert info.value.problems == shown.errors
    assert config.read_text(encoding="utf-8") == CONFIG


def test_save_refuses_when_the_file_changed_since_the_preview(config: Path) -> None:
    """Someone else's edit between preview and save is not overwritten; the file is named."""
    shown = preview(config, [ConflictPolicy(map="customers", policy="crm")])
    changed = CONFIG.replace("# The test config", "# Edited by hand")
    config.write_text(changed, encoding="utf-8")
    with pytest.raises(StaleEdit, match="replica.toml: the file changed on disk"):
        save(config, shown)
    assert config.read_text(encoding="utf-8") == changed


def test_crlf_file_keeps_its_line_ends(tmp_path: Path) -> None:
    """A file written on Windows is edited and saved with its ``\\r\\n`` kept."""
    path = tmp_path / "replica.toml"
    path.write_bytes(CONFIG.replace("\n", "\r\n").encode())
    shown = preview(path, [ConflictPolicy(map="customers", policy="crm")])
    save(path, shown)
    data = path.read_bytes()
    assert b'conflict = "crm"' in data and data.count(b"\r\n") == CONFIG.count("\n")


def test_unreadable_file_is_an_error_of_the_preview(tmp_path: Path) -> None:
    shown = preview(tmp_path / "missing.toml", [])
    assert len(shown.errors) == 1 and "missing.toml: cannot read the config" in shown.errors[0]

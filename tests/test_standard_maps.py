"""The shipped standard maps: each one loads, and the Dataverse emulator holds all it names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.dataverse import DataverseSide, create_side
from emulators.dataverse import DataverseEmulator
from replicator.config import Config, load_config
from replicator.config.includes import standard_dir, standard_names
from replicator.errors import ConfigError
from replicator.schema import check_schema

SECRET_ENV = "STANDARD_MAPS_TEST_SECRET"
RENAMING = 'fno = "fno", dataverse = "crm"'


def config_for(folder: Path, name: str, emulator: DataverseEmulator | None = None) -> Config:
    """A config of side fno (SQLite) and crm (the emulator) including ``standard:<name>``."""
    crm = (
        f'adapter = "dataverse"\nurl = "{emulator.url}"\ntenant_id = "{emulator.tenant_id}"\n'
        f'client_id = "{emulator.client_id}"\nclient_secret_env = "{SECRET_ENV}"\n'
        f'authority = "{emulator.authority}"\nca_file = "{emulator.ca_file}"\n'
        if emulator
        else 'adapter = "sqlite"\npath = "crm.db"\n'
    )
    path = folder / f"{name}.toml"
    path.write_text(
        f'include = [ {{ file = "standard:{name}", sides = {{ {RENAMING} }} }} ]\n'
        f'[sides.fno]\nadapter = "sqlite"\npath = "fno.db"\n[sides.crm]\n{crm}',
        encoding="utf-8",
    )
    return load_config(path)


@pytest.mark.parametrize("name", standard_names())
def test_each_standard_map_file_loads_naming_its_file(tmp_path: Path, name: str) -> None:
    """Every map of a standard file comes from a standard: file, with the config's side names."""
    config = config_for(tmp_path, name)
    assert config.maps
    assert all(config.file_of(m.name).startswith("standard:") for m in config.maps)
    assert [s.name for s in config.sides] == ["fno", "crm"]


def test_all_holds_every_map_once_in_a_prerequisite_order(tmp_path: Path) -> None:
    """standard:all gives each map of the set once, and each map after what it needs."""
    config = config_for(tmp_path, "all")
    names = [m.name for m in config.maps]
    assert len(names) == len(set(names)) == 16
    graph = config.prerequisite_graph()
    for i, name in enumerate(names):
        assert graph[name] - {name} <= set(names[:i]), name
    assert "person_customers" not in names


def test_person_customers_cannot_sit_beside_the_customers_map(tmp_path: Path) -> None:
    """CustomersV3 belongs to one map: including both files is refused, naming both maps."""
    path = tmp_path / "both.toml"
    entry = '{{ file = "standard:{}", sides = {{ {} }} }}'
    both = ", ".join(entry.format(n, RENAMING) for n in ("customers", "person_customers"))
    path.write_text(
        f'include = [{both}]\n[sides.fno]\nadapter = "sqlite"\npath = "fno.db"\n'
        '[sides.crm]\nadapter = "sqlite"\npath = "crm.db"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        "standard:person_customers: map 'person_customers', fno: entity 'CustomersV3' is "
        "already mapped by map 'customers' of standard:customers; an entity belongs to one map"
    ]


def test_directions_and_create_rules_follow_the_templates(tmp_path: Path) -> None:
    """Released products and invoices are born in F&O and flow one way only."""
    config = config_for(tmp_path, "all")
    for name in ("released_products", "invoices", "invoice_lines"):
        m = config.map_named(name)
        assert m.create == frozenset({0}), name
        assert all(f.direction == "0->1" for f in m.fields), name
    customers = config.map_named("customers")
    assert customers.filters[1] == "customertypecode eq 3"
    latitude = next(f for f in customers.fields if f.names[0] == "DeliveryAddressLatitude")
    assert latitude.direction == "0->1"


@pytest.fixture
async def crm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DataverseEmulator, DataverseSide]]:
    async with DataverseEmulator(tmp_path / "emulator") as emulator:
        monkeypatch.setenv(SECRET_ENV, emulator.client_secret)
        config = config_for(tmp_path, "all", emulator)
        side = create_side("crm", config.sides[1].options, tmp_path)
        await side.open()
        try:
            yield emulator, side
        finally:
            await side.close()


@pytest.mark.anyio
@pytest.mark.parametrize("name", standard_names())
async def test_the_dataverse_emulator_holds_what_each_standard_map_names(
    tmp_path: Path, crm: tuple[DataverseEmulator, DataverseSide], name: str
) -> None:
    """replicator validate's Dataverse check: every entity, field, key and filter exists."""
    emulator, side = crm
    config = config_for(tmp_path, name, emulator)
    assert await check_schema(config, side, 1) == []


@pytest.mark.anyio
async def test_a_column_missing_in_dataverse_is_named_with_the_included_file(
    tmp_path: Path, crm: tuple[DataverseEmulator, DataverseSide]
) -> None:
    """validate names the map file a missing column is written in, not the config."""
    emulator, side = crm
    text = (standard_dir() / "currencies.toml").read_text(encoding="utf-8")
    (tmp_path / "mine.toml").write_text(text.replace('"currencysymbol"', '"nosuchcolumn"'))
    config = config_for(tmp_path, "legal_entities", emulator)
    path = config.path.with_name("own.toml")
    path.write_text(
        config.path.read_text().replace("standard:legal_entities", "mine.toml"), encoding="utf-8"
    )
    problems = await check_schema(load_config(path), side, 1)
    assert len(problems) == 1
    assert problems[0].startswith("mine.toml: map 'currencies': ")
    assert "nosuchcolumn" in problems[0]

"""The embedded demo: its seeded databases and the config that maps them."""

from __future__ import annotations

import contextlib
import shlex
import sqlite3
import stat
import textwrap
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from replicator import demo
from replicator.config import Config, TableMap, load_config
from replicator.demo import create_demo, demo_guide
from replicator.demo.guide import SQLITE, tour
from replicator.errors import ConfigError, ReplicatorError

README = Path(__file__).resolve().parents[1] / "README.md"

FNO_COUNTS = {
    "CompanyInfo": (2, 2),
    "CustCustomerGroup": (20, 20),
    "CustomersV3": (1400, 1600),
    "EcoResReleasedProductV2": (350, 450),
    "SalesOrderHeaderCDSEntity": (550, 650),
    "SalesOrderLineCDSEntity": (1800, 2400),
}
CRM_COUNTS = {
    "cdm_companies": (2, 2),
    "msdyn_customergroups": (20, 20),
    "accounts": (950, 1150),
    "msdyn_sharedproductdetails": (3, 150),
    "salesorders": (24, 60),
    "salesorderdetails": (24, 300),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo, created once for the read-only tests of this module."""
    path = tmp_path_factory.mktemp("shared") / "replicator-demo"
    create_demo(path)
    return path


@pytest.fixture(scope="module")
def config(folder: Path) -> Config:
    """The config the demo copied, loaded."""
    return load_config(folder / "demo.toml")


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` that is closed afterwards."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        yield conn


def count(path: Path, table: str) -> int:
    """How many rows ``table`` holds."""
    with connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def columns(path: Path, table: str) -> set[str]:
    """The column names of ``table`` (empty if it does not exist)."""
    with connect(path) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def dump(path: Path) -> list[tuple[object, ...]]:
    """Every row of every table, in a stable order."""
    with connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return [
            (t, *row) for t in tables for row in conn.execute(f"SELECT * FROM {t} ORDER BY rowid")
        ]


def db(folder: Path, config: Config, side: int) -> Path:
    """The database file of ``side``."""
    return folder / str(config.sides[side].options["path"])


def distinct(path: Path, table: str, column: str) -> set[object]:
    """The distinct non-null values of ``table.column``."""
    with connect(path) as conn:
        sql = f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"
        return {row[0] for row in conn.execute(sql)}


def test_create_demo_returns_the_copied_config(folder: Path) -> None:
    """create_demo returns folder/demo.toml, a copy of the demo config it ships."""
    assert create_demo(folder) == folder / "demo.toml"
    assert (folder / "demo.toml").read_text() == demo.CONFIG_SOURCE.read_text()


def test_demo_config_is_package_data() -> None:
    """The demo config is a resource of replicator.demo, so a wheel install carries it."""
    shipped = resources.files("replicator.demo") / "demo.toml"
    assert shipped.is_file()
    assert demo.CONFIG_SOURCE == shipped


@pytest.mark.parametrize(("name", "expected"), [("fno.db", FNO_COUNTS), ("crm.db", CRM_COUNTS)])
def test_tables_hold_a_realistic_number_of_rows(
    folder: Path, name: str, expected: dict[str, tuple[int, int]]
) -> None:
    """Each side has the expected tables, each with a row count in a sensible range."""
    for table, (low, high) in expected.items():
        assert low <= count(folder / name, table) <= high, table


@pytest.mark.parametrize("name", ["fno.db", "crm.db"])
def test_foreign_keys_are_declared_and_hold(folder: Path, name: str) -> None:
    """Child tables declare foreign keys, and no row breaks one."""
    with connect(folder / name) as conn:
        declared = conn.execute(
            "SELECT count(*) FROM sqlite_master AS m, pragma_foreign_key_list(m.name)"
            " WHERE m.type = 'table'"
        ).fetchone()[0]
        assert declared >= 10
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


@pytest.mark.parametrize("name", ["fno.db", "crm.db"])
def test_databases_use_wal(folder: Path, name: str) -> None:
    """Both databases are in WAL mode, so applications and the daemon write side by side."""
    with connect(folder / name) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_crm_primary_keys_default_to_new_guids(tmp_path: Path) -> None:
    """A row inserted into a Dataverse table without its id gets a fresh GUID."""
    create_demo(tmp_path)
    with connect(tmp_path / "crm.db") as conn:
        conn.execute("INSERT INTO cdm_companies (cdm_companycode, cdm_name) VALUES ('demf', 'x')")
        guid = conn.execute(
            "SELECT cdm_companyid FROM cdm_companies WHERE cdm_companycode = 'demf'"
        ).fetchone()[0]
    assert len(guid) == 36 and guid[14] == "4" and guid.count("-") == 4


def test_same_seed_gives_the_same_data(tmp_path: Path) -> None:
    """Two demos created with the same seed hold identical rows."""
    create_demo(tmp_path / "a", seed=11)
    create_demo(tmp_path / "b", seed=11)
    for name in ("fno.db", "crm.db"):
        assert dump(tmp_path / "a" / name) == dump(tmp_path / "b" / name)


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    """A different seed gives different customers."""
    create_demo(tmp_path / "a", seed=1)
    create_demo(tmp_path / "b", seed=2)
    assert dump(tmp_path / "a" / "fno.db") != dump(tmp_path / "b" / "fno.db")


def test_second_call_keeps_existing_data(tmp_path: Path) -> None:
    """Once the demo exists, create_demo returns its config and changes nothing."""
    config = create_demo(tmp_path)
    with connect(tmp_path / "fno.db") as conn, conn:
        conn.execute("UPDATE CustomersV3 SET CreditLimit = 123 WHERE CustomerAccount = 'US-0001'")
    before = dump(tmp_path / "fno.db"), dump(tmp_path / "crm.db")
    assert create_demo(tmp_path, seed=99) == config
    assert (dump(tmp_path / "fno.db"), dump(tmp_path / "crm.db")) == before


def test_leftover_database_without_config_is_refused(tmp_path: Path) -> None:
    """A demo folder with databases but no demo.toml is not overwritten: ConfigError says why."""
    (tmp_path / "crm.db").write_bytes(b"someone's data")
    with pytest.raises(ConfigError, match="crm.db"):
        create_demo(tmp_path)
    assert (tmp_path / "crm.db").read_bytes() == b"someone's data"


def test_a_demo_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    """A file where the demo folder goes (or a folder one may not write): an error naming
    the folder, not an OSError traceback."""
    (tmp_path / "replicator-demo").write_text("not a folder")
    with pytest.raises(ReplicatorError, match="replicator-demo: cannot create the demo"):
        create_demo(tmp_path / "replicator-demo")


def test_missing_demo_config_raises_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the demo config in the installation, create_demo raises a clear ConfigError."""
    monkeypatch.setattr(demo, "CONFIG_SOURCE", tmp_path / "nowhere" / "demo.toml")
    with pytest.raises(ConfigError, match="demo config is missing"):
        create_demo(tmp_path / "demo")
    assert not (tmp_path / "demo").exists()


def test_config_has_the_standard_maps_in_order(config: Config) -> None:
    """The demo config loads and maps the five standard entities, each keyed by company first."""
    assert [m.name for m in config.maps] == [
        "customer_groups",
        "customers",
        "released_products",
        "sales_orders",
        "sales_order_lines",
    ]
    assert [s.name for s in config.sides] == ["fno", "crm"]
    for m in config.maps:
        assert m.key[0].names == ("dataAreaId", "company"), m.name
    assert config.map_named("released_products").create == frozenset({0})


def test_mapped_entities_and_fields_exist(folder: Path, config: Config) -> None:
    """Every mapped entity is a table and every mapped field a column, on both sides."""
    for m in config.maps:
        for side in (0, 1):
            found = columns(db(folder, config, side), m.entities[side])
            wanted = {f.names[side] for f in m.all_fields}
            assert wanted <= found, (m.name, side, wanted - found)


def test_filters_are_valid_sql_that_leave_rows_out(folder: Path, config: Config) -> None:
    """Each filter is a WHERE fragment its database accepts, and it keeps some rows but not all."""
    filters = [(m, side, f) for m in config.maps for side, f in enumerate(m.filters) if f]
    assert filters
    for m, side, where in filters:
        path, table = db(folder, config, side), m.entities[side]
        kept = count(path, f"{table} WHERE {where}")
        assert 0 < kept <= count(path, table), (m.name, side)
    customers = config.map_named("customers")
    assert 0 < count(folder / "fno.db", f"CustomersV3 WHERE NOT ({customers.filters[0]})")


def test_lookups_point_at_records_of_the_referenced_map(folder: Path, config: Config) -> None:
    """A lookup value is the last key field of a record of the referenced map, in its company."""
    lookups = [(m, f.lookup, f) for m in config.maps for f in m.fields if f.lookup]
    assert len(lookups) == 4
    for m, lookup, f in lookups:
        target = config.map_named(lookup)
        for side in (0, 1):
            assert _lookup_misses(db(folder, config, side), m, target, f.names[side], side) == 0


def _lookup_misses(path: Path, m: TableMap, target: TableMap, field: str, side: int) -> int:
    """How many rows of ``m`` on ``side`` hold a ``field`` value ``target`` does not have."""
    company, ref_company = m.key[0].names[side], target.key[0].names[side]
    ref_key = target.key[-1].names[side]
    return count(
        path,
        (
            f"{m.entities[side]} AS r WHERE r.{field} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
            f"{target.entities[side]} AS t WHERE t.{ref_company} = r.{company}"
            f" AND t.{ref_key} = r.{field})"
        ),
    )


def test_value_maps_cover_every_value_in_the_data(folder: Path, config: Config) -> None:
    """Every state (and NoYes) value in either database is named by its value map."""
    mapped = [(m, f) for m in config.maps for f in m.fields if f.value_map]
    assert {f.value_map.name for _, f in mapped if f.value_map} == {"state", "noyes"}
    for m, f in mapped:
        assert f.value_map is not None
        fno = distinct(folder / "fno.db", m.entities[0], f.names[0])
        crm = distinct(folder / "crm.db", m.entities[1], f.names[1])
        assert fno and fno <= set(f.value_map.forward), (m.name, fno - set(f.value_map.forward))
        assert crm and crm <= set(f.value_map.backward), (m.name, crm - set(f.value_map.backward))


def test_state_value_map_names_all_states_and_dc(config: Config) -> None:
    """The state value map pairs the 50 states and DC with their two-letter codes."""
    states = config.value_maps["state"]
    assert len(states.forward) == 51
    assert states.forward["Idaho"] == "ID" and states.forward["District of Columbia"] == "DC"
    assert states.forward == demo.STATE_CODES


def test_data_shows_what_initial_sync_must_reconcile(folder: Path) -> None:
    """Shared customers drift between sides; some accounts and products exist only in the CRM."""
    with connect(folder / "crm.db") as conn:
        conn.execute(f"ATTACH DATABASE '{folder / 'fno.db'}' AS fno")
        shared = (
            "accounts AS a JOIN fno.CustomersV3 AS c ON c.dataAreaId = a.company"
            " AND c.CustomerAccount = a.accountnumber"
        )
        both = conn.execute(f"SELECT count(*) FROM {shared}").fetchone()[0]
        drifted = conn.execute(
            f"SELECT count(*) FROM {shared} WHERE a.name <> c.OrganizationName"
            " OR a.creditlimit <> c.CreditLimit"
        ).fetchone()[0]
        crm_only = conn.execute(
            "SELECT msdyn_itemnumber FROM msdyn_sharedproductdetails AS p WHERE NOT EXISTS "
            "(SELECT 1 FROM fno.EcoResReleasedProductV2 AS r WHERE r.dataAreaId = p.company"
            " AND r.ItemNumber = p.msdyn_itemnumber)"
        ).fetchall()
    customers = count(folder / "fno.db", "CustomersV3")
    assert 0.5 <= both / customers <= 0.7
    assert 0.05 <= drifted / both <= 0.3
    assert count(folder / "crm.db", "accounts") - both >= 100
    assert len(crm_only) == 3


def guide_commands(guide: str) -> list[list[str]]:
    """The ``sqlite3`` command lines of a guide, split as the shell would."""
    return [shlex.split(line) for line in guide.splitlines() if line.strip().startswith("sqlite3 ")]


def follow(guide: str) -> None:
    """Run the guide's SQL on its databases; each UPDATE and INSERT must hit one row."""
    for *_, path, sql in guide_commands(guide):
        with connect(Path(path)) as conn, conn:
            conn.execute("PRAGMA foreign_keys = ON")
            cursor = conn.execute(sql)
            if sql.startswith(("UPDATE", "INSERT")):
                assert cursor.rowcount == 1, sql


def test_guide_commands_run_against_the_demo(tmp_path: Path) -> None:
    """Every sqlite3 command in the guide runs on the demo and each UPDATE hits one row."""
    folder = tmp_path / "replicator-demo"
    create_demo(folder)
    guide = demo_guide(folder)
    assert len(guide_commands(guide)) >= 5
    follow(guide)
    assert f"replicator errors --config {folder / 'demo.toml'} list" in guide
    assert f"replicator status --config {folder / 'demo.toml'}" in guide


def test_guide_sqlite_commands_wait_for_the_daemons_lock(tmp_path: Path) -> None:
    """Every sqlite3 command in the guide sets a busy timeout, so it waits instead of failing."""
    create_demo(tmp_path)
    commands = guide_commands(demo_guide(tmp_path))
    assert commands
    for command in commands:
        assert command[:3] == ["sqlite3", "-cmd", ".timeout 5000"], command


def test_guide_can_be_followed_again_on_the_next_run(tmp_path: Path) -> None:
    """After a tour, the next run's guide inserts keys of its own, so following it succeeds."""
    create_demo(tmp_path)
    first = demo_guide(tmp_path)
    follow(first)
    second = demo_guide(tmp_path)
    assert second != first
    follow(second)


def test_readme_tour_is_the_guide_of_a_new_demo(tmp_path: Path) -> None:
    """The README's tour is, word for word, the steps a first ``replicator run`` prints."""
    create_demo(tmp_path)
    assert demo_guide(tmp_path).endswith(textwrap.indent(tour(tmp_path), "  "))
    readme = README.read_text()
    assert tour(Path("replicator-demo")) in readme
    sqlite_lines = [line for line in readme.splitlines() if line.startswith("sqlite3 ")]
    assert sqlite_lines and all(line.startswith(SQLITE + " ") for line in sqlite_lines)


def test_guide_of_a_demo_without_its_crm_database_creates_nothing(tmp_path: Path) -> None:
    """A demo folder missing crm.db still gets a guide, and the guide does not create the file."""
    create_demo(tmp_path)
    (tmp_path / "crm.db").unlink()
    assert "'CRM-09001'" in demo_guide(tmp_path)
    assert not (tmp_path / "crm.db").exists()


def test_the_demo_files_are_private(folder: Path) -> None:
    """The demo folder is created 0700 and its databases and config 0600: they hold
    customer data, as a real deployment's would (before: 0755 and 0644)."""
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}  # -wal, -shm too
    assert {"fno.db", "crm.db", "demo.toml"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)

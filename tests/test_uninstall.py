"""What the replicator installed in a side can be found and removed.

A removed map's triggers are warned about at start; ``replicator uninstall`` removes
the capture of a map, of tables no map uses, or everything, and never user data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_faults import SQLITE_CRM, SQLITE_FNO, add_customer, events, idle, logs, sql

from conftest import COMPANY_CUSTOMERS_MAP, GROUPS_MAP, until
from daemon import Daemon, cli, create_db, query, write_config
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio
__all__ = ["logs"]  # the fixture, imported

GROUPS_TABLES = """
CREATE TABLE CustCustomerGroup (RecId INTEGER PRIMARY KEY, dataAreaId TEXT,
    CustomerGroupId TEXT, Description TEXT);
"""
CRM_GROUPS_TABLES = """
CREATE TABLE msdyn_customergroups (id INTEGER PRIMARY KEY, company TEXT, msdyn_groupid TEXT,
    msdyn_description TEXT);
"""
TRIGGERS = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' ORDER BY 2"
OWN_TABLES = "SELECT name FROM sqlite_master WHERE name LIKE '\\_replicator%' ESCAPE '\\'"


async def two_maps_installed(tmp_path: Path) -> Path:
    """Both maps' triggers installed by a run (with one customer replicated)."""
    create_db(tmp_path / "fno.db", SQLITE_FNO + GROUPS_TABLES)
    create_db(tmp_path / "crm.db", SQLITE_CRM + CRM_GROUPS_TABLES)
    cfg = write_config(tmp_path, GROUPS_MAP + COMPANY_CUSTOMERS_MAP)
    add_customer(tmp_path, "C1", "one")
    async with Replicator(cfg) as rep:
        await idle(rep)
    return cfg


def triggered(db: Path) -> set[str]:
    return {table for table, _ in query(db, TRIGGERS)}


async def test_triggers_of_a_removed_map_are_warned_about_at_start(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """A table carrying our triggers that no map uses is named, per side, at start."""
    await two_maps_installed(tmp_path)
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg) as rep:
        await idle(rep)
    assert events(logs, "sqlite_triggers_unmapped", side="fno", table="CustCustomerGroup")
    assert events(logs, "sqlite_triggers_unmapped", side="crm", table="msdyn_customergroups")
    assert not events(logs, "sqlite_triggers_unmapped", table="CustomersV3")


async def test_uninstall_unmapped_removes_the_triggers_a_removed_map_left(tmp_path: Path) -> None:
    """``uninstall --unmapped`` drops the triggers on tables no map uses, and prints them."""
    await two_maps_installed(tmp_path)
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    done = cli("uninstall", "--config", str(cfg), "--unmapped")
    assert done.returncode == 0, done.stderr
    assert "side 'fno': removed trigger _replicator_CustCustomerGroup_insert" in done.stdout
    assert "on table msdyn_customergroups" in done.stdout
    assert triggered(tmp_path / "fno.db") == {"CustomersV3"}
    assert triggered(tmp_path / "crm.db") == {"accounts"}


async def test_uninstall_of_one_map_removes_only_its_triggers(tmp_path: Path) -> None:
    """``uninstall --map customers`` drops that map's triggers on both sides, nothing else."""
    cfg = await two_maps_installed(tmp_path)
    done = cli("uninstall", "--config", str(cfg), "--map", "customers")
    assert done.returncode == 0, done.stderr
    assert triggered(tmp_path / "fno.db") == {"CustCustomerGroup"}
    assert triggered(tmp_path / "crm.db") == {"msdyn_customergroups"}
    assert query(tmp_path / "fno.db", OWN_TABLES)  # the bookkeeping stays


def rename(tmp_path: Path, account: str, name: str) -> None:
    sql(
        tmp_path / "fno.db",
        "UPDATE CustomersV3 SET Name = ? WHERE CustomerAccount = ?",
        (name, account),
    )


def crm_names(tmp_path: Path) -> list[tuple[Any, ...]]:
    return query(tmp_path / "crm.db", "SELECT accountnumber, name FROM accounts ORDER BY 1")


async def test_a_map_run_again_after_its_uninstall_brings_what_changed_meanwhile(
    tmp_path: Path,
) -> None:
    """Edits and inserts made while a map's capture was uninstalled arrive when it runs
    again (it is synced again against its shadows); before, they were never replicated."""
    cfg = await two_maps_installed(tmp_path)
    assert cli("uninstall", "--config", str(cfg), "--map", "customers").returncode == 0
    rename(tmp_path, "C1", "renamed meanwhile")
    add_customer(tmp_path, "C2", "born meanwhile")
    async with Replicator(cfg) as rep:
        await idle(rep)
    assert crm_names(tmp_path) == [("C1", "renamed meanwhile"), ("C2", "born meanwhile")]


async def test_a_run_after_a_full_uninstall_keeping_the_store_replicates_again(
    tmp_path: Path,
) -> None:
    """A full uninstall drops the sides' feeds: a later run on the same state store syncs
    what changed meanwhile, and new changes flow (before: the old cursors skipped them)."""
    cfg = await two_maps_installed(tmp_path)
    async with Replicator(cfg):  # the fno feed's cursor well past 1
        for n in range(5):
            rename(tmp_path, "C1", f"v{n}")
        await until(lambda: crm_names(tmp_path) == [("C1", "v4")])
    assert cli("uninstall", "--config", str(cfg)).returncode == 0
    rename(tmp_path, "C1", "renamed meanwhile")
    async with Replicator(cfg) as rep:
        await idle(rep)
        add_customer(tmp_path, "C2", "born after")
        await until(lambda: len(crm_names(tmp_path)) == 2)
    assert crm_names(tmp_path) == [("C1", "renamed meanwhile"), ("C2", "born after")]


async def test_a_map_added_back_to_the_config_brings_what_changed_while_it_was_out(
    tmp_path: Path,
) -> None:
    """A daemon run without a map passes over its captured changes: when the map comes
    back it is synced again (before: a row written while it was out never arrived)."""
    cfg = await two_maps_installed(tmp_path)
    sql(
        tmp_path / "fno.db",
        "INSERT INTO CustCustomerGroup (dataAreaId, CustomerGroupId, Description) "
        "VALUES ('usmf', '10', 'written while the map was out')",
    )
    add_customer(tmp_path, "C2", "after it")  # its arrival: the feed passed the group row
    async with Replicator(write_config(tmp_path, COMPANY_CUSTOMERS_MAP, name="one.toml")):
        await until(lambda: len(crm_names(tmp_path)) == 2)
    async with Replicator(cfg) as rep:
        await idle(rep)
    groups = "SELECT msdyn_groupid, msdyn_description FROM msdyn_customergroups"
    assert query(tmp_path / "crm.db", groups) == [("10", "written while the map was out")]


async def test_uninstall_removes_everything_it_installed_and_no_user_data(tmp_path: Path) -> None:
    """``uninstall`` with no map leaves no trigger and no ``_replicator_*`` table; rows stay."""
    cfg = await two_maps_installed(tmp_path)
    done = cli("uninstall", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "removed table _replicator_changes" in done.stdout and "state store" in done.stdout
    for db in (tmp_path / "fno.db", tmp_path / "crm.db"):
        assert query(db, TRIGGERS) == [] and query(db, OWN_TABLES) == []
    assert query(tmp_path / "crm.db", "SELECT accountnumber, name FROM accounts") == [("C1", "one")]
    again = cli("uninstall", "--config", str(cfg))
    assert again.returncode == 0 and "nothing to remove" in again.stdout


async def test_uninstall_of_an_unknown_map_is_bad_usage(tmp_path: Path) -> None:
    """``uninstall --map nope`` exits 2 naming the map, and removes nothing."""
    cfg = await two_maps_installed(tmp_path)
    done = cli("uninstall", "--config", str(cfg), "--map", "nope")
    assert done.returncode == 2 and "'nope'" in done.stderr
    assert triggered(tmp_path / "fno.db") == {"CustCustomerGroup", "CustomersV3"}


async def test_uninstall_refuses_while_a_daemon_runs(tmp_path: Path) -> None:
    """``uninstall`` beside a running daemon exits 1 and removes nothing."""
    cfg = await two_maps_installed(tmp_path)
    with Daemon(cfg).start() as daemon:
        done = cli("uninstall", "--config", str(cfg))
        assert done.returncode == 1 and "daemon" in done.stderr
        assert triggered(tmp_path / "fno.db") == {"CustCustomerGroup", "CustomersV3"}
        daemon.stop()


def test_uninstall_is_in_the_help() -> None:
    """``replicator --help`` lists ``uninstall``."""
    done = cli("--help")
    assert "uninstall" in done.stdout

"""A mapped table dropped and re-created is a side that lost its rows: its map is re-synced.

The records come back to that side from the other one (never a mass delete of the
other side), rows found there again are linked, it is logged and ``status`` shows it,
live and across restarts. Memory sides (``lose_table``) for the core, SQLite files for
the SQLite side's detection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_faults import (
    CRM,
    CRM_ACCOUNTS_TABLE,
    CRM_SQL,
    FNO,
    FNO_SQL,
    add_customer,
    crm_rows,
    events,
    fno_customer,
    fno_rows,
    idle,
    logs,
    map_status,
    running,
    sql,
    sqlite_sides,
)

from adapters.memory import MemorySide
from adapters.sqlite import create_side
from conftest import COMPANY_CUSTOMERS_MAP, write_config
from daemon import cli, create_db, query
from replicator.adapter import EntitySpec
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio
__all__ = ["logs"]  # the fixture, imported


def two_customers() -> tuple[MemorySide, MemorySide]:
    fno, crm = MemorySide("fno"), MemorySide("crm")
    fno.insert(FNO, fno_customer("C1", Name="one", CreditLimit=1.0))
    fno.insert(FNO, fno_customer("C2", Name="two", CreditLimit=2.0))
    return fno, crm


async def test_a_lost_table_gets_its_records_back_from_the_other_side(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """crm loses its table: its records are re-created from fno, fno keeps all, edits flow."""
    fno, crm = two_customers()
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        crm.lose_table(CRM)
        await idle(rep)
        assert {k: v["name"] for k, v in crm_rows(crm).items()} == {"C1": "one", "C2": "two"}
        assert sorted(fno_rows(fno)) == ["C1", "C2"]
        (warning,) = events(logs, "table_recreated")
        assert (warning["side"], warning["entity"], warning["map"]) == ("crm", CRM, "customers")
        status = await map_status(rep)
        assert status["links"] == 2 and status["state"] == "running"
        assert status["resynced"]["side"] == "crm" and status["resynced"]["entity"] == CRM
        assert status["resynced"]["done"] >= status["resynced"]["at"]
        c1 = next(n for n, v in fno.rows(FNO).items() if v["CustomerAccount"] == "C1")
        fno.update(FNO, c1, {"Name": "edited"})
        await idle(rep)
        assert crm_rows(crm)["C1"]["name"] == "edited"
        assert not events(logs, "change", outcome="conflict")


async def test_a_row_found_again_in_a_lost_table_is_linked_with_the_other_sides_values(
    tmp_path: Path,
) -> None:
    """A row put back into the new table is linked by key; the side that kept it wins."""
    fno, crm = two_customers()
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        crm.lose_table(CRM)
        crm.insert(CRM, {"company": "usmf", "accountnumber": "C1", "name": "old", "creditlimit": 1})
        crm.insert(CRM, {"company": "usmf", "accountnumber": "N1", "name": "new", "creditlimit": 3})
        await idle(rep)
        assert {k: v["name"] for k, v in crm_rows(crm).items()} == {
            "C1": "one",
            "C2": "two",
            "N1": "new",
        }
        assert fno_rows(fno)["N1"]["Name"] == "new"
        assert (await map_status(rep))["links"] == 3


async def test_a_table_lost_while_the_daemon_was_down_is_re_synced_at_start(
    tmp_path: Path,
) -> None:
    """The loss is in the feed: the next start re-syncs, and the records come back."""
    fno, crm = two_customers()
    cfg = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with running(cfg, fno, crm):
        pass
    crm.lose_table(CRM)
    async with running(cfg, fno, crm) as rep:
        assert sorted(crm_rows(crm)) == ["C1", "C2"] and sorted(fno_rows(fno)) == ["C1", "C2"]
        assert (await map_status(rep))["resynced"]["side"] == "crm"


async def test_a_sqlite_table_dropped_and_re_created_live_gets_its_rows_back(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """crm's accounts dropped and re-created under the daemon: its rows come back from fno."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        add_customer(tmp_path, "C1", "one")
        add_customer(tmp_path, "C2", "two")
        await idle(rep)
        sql(tmp_path / "crm.db", "DROP TABLE accounts")
        sql(tmp_path / "crm.db", CRM_ACCOUNTS_TABLE)
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "one", 1.0), ("C2", "two", 1.0)]
        assert query(tmp_path / "fno.db", FNO_SQL) == [("C1", "one", 1.0), ("C2", "two", 1.0)]
        sql(tmp_path / "fno.db", "UPDATE CustomersV3 SET Name = 'edited' WHERE RecId = 1")
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL)[0] == ("C1", "edited", 1.0)
        assert not events(logs, "change", outcome="conflict")
        assert events(logs, "table_recreated", side="crm", entity="accounts", map="customers")


async def test_a_sqlite_table_re_created_while_down_is_re_synced_and_shown_in_status(
    tmp_path: Path,
) -> None:
    """Dropped and re-created between runs: the next start re-syncs; ``status`` says so."""
    cfg = sqlite_sides(tmp_path)
    add_customer(tmp_path, "C1", "one")
    async with Replicator(cfg) as rep:
        await idle(rep)
    sql(tmp_path / "crm.db", "DROP TABLE accounts")
    sql(tmp_path / "crm.db", CRM_ACCOUNTS_TABLE)
    async with Replicator(cfg) as rep:
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "one", 1.0)]
    done = cli("status", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "table 'accounts' on side 'crm' was re-created" in done.stdout
    assert "re-synced" in done.stdout


ITEMS = EntitySpec("items", ("name",), ("code",))


async def resets_after_prepare(tmp_path: Path) -> list[str]:
    """The entities a fresh SQLite side (as at a start) reports reset in its feed."""
    side = create_side("lite", {"path": "app.db"}, tmp_path)
    await side.open()
    try:
        await side.prepare([ITEMS])
        batch = await side.read_changes(None, 100)
    finally:
        await side.close()
    return [c.entity for c in batch.changes if c.op == "reset"]


async def test_the_sqlite_side_reports_a_re_created_table_as_a_reset_in_its_feed(
    tmp_path: Path,
) -> None:
    """Only a table captured before whose triggers are gone is a reset (not a new table)."""
    items = "CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, name TEXT);"
    create_db(tmp_path / "app.db", items)
    assert await resets_after_prepare(tmp_path) == []  # newly mapped
    assert await resets_after_prepare(tmp_path) == []  # still captured
    sql(tmp_path / "app.db", "DROP TABLE items")
    sql(tmp_path / "app.db", items)
    assert await resets_after_prepare(tmp_path) == ["items"]


async def test_a_table_re_created_without_a_mapped_column_is_reported_until_mended(
    tmp_path: Path, logs: list[dict[str, Any]]
) -> None:
    """Re-created live without a mapped column: an error names the column (before, the
    table was silently left uncaptured); once the column is back, a reset follows."""
    items = "CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, name TEXT);"
    create_db(tmp_path / "app.db", items)
    side = create_side("lite", {"path": "app.db"}, tmp_path)
    await side.open()
    try:
        await side.prepare([ITEMS])
        sql(tmp_path / "app.db", "DROP TABLE items")
        sql(tmp_path / "app.db", "CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT)")
        assert (await side.read_changes(None, 100)).changes == []
        (unfit,) = events(logs, "sqlite_table_unfit", side="lite", entity="items")
        assert "no column 'name'" in unfit["problems"][0]
        sql(tmp_path / "app.db", "ALTER TABLE items ADD COLUMN name TEXT")
        batch = await side.read_changes(None, 100)
    finally:
        await side.close()
    assert [c.op for c in batch.changes] == ["reset"]

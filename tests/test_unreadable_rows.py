"""A row its side cannot read goes to the error queue; the feed and the sync go on.

With memory sides (``spoil`` makes a row unreadable) for the core, and with SQLite files
holding text that is not UTF-8 (``CAST(x'ff41fe' AS TEXT)``) for the SQLite side.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from test_faults import (
    CRM_SQL,
    FNO,
    add_customer,
    errors,
    fno_customer,
    idle,
    map_status,
    running,
    sql,
    sqlite_sides,
)

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, write_config
from daemon import query
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio

BAD_TEXT = "CAST(x'ff41fe' AS TEXT)"


async def test_an_unreadable_row_in_the_feed_is_queued_and_later_rows_flow(tmp_path: Path) -> None:
    """A row the side cannot read is queued with its side, entity and id; the rest flows."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        bad = fno.insert(FNO, fno_customer("C1", Name="x", CreditLimit=1.0))
        fno.spoil(FNO, bad, "column 'Name' holds text that is not UTF-8")
        fno.insert(FNO, fno_customer("C2", Name="fine", CreditLimit=2.0))
        await idle(rep)
        assert [v["accountnumber"] for v in crm.rows("accounts").values()] == ["C2"]
        (error,) = await errors(rep)
        assert (error.side, error.native_id, error.kind) == (0, bad, "unreadable")
        assert "'fno'" in error.reason and repr(FNO) in error.reason
        assert f"row {bad}" in error.reason and "'Name'" in error.reason
        assert (await rep.status())["outages"] == {}


async def test_an_unreadable_row_does_not_abort_the_initial_sync(tmp_path: Path) -> None:
    """The initial sync queues a row it cannot read and links the others."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    bad = fno.insert(FNO, fno_customer("C1", Name="x", CreditLimit=1.0))
    fno.spoil(FNO, bad, "column 'Name' holds text that is not UTF-8")
    fno.insert(FNO, fno_customer("C2", Name="fine", CreditLimit=2.0))
    async with running(write_config(tmp_path, COMPANY_CUSTOMERS_MAP), fno, crm) as rep:
        assert [v["accountnumber"] for v in crm.rows("accounts").values()] == ["C2"]
        (error,) = await errors(rep)
        assert (error.native_id, error.kind) == (bad, "unreadable")
        assert (await map_status(rep))["links"] == 1


async def test_invalid_utf8_in_a_sqlite_row_is_queued_and_the_feed_flows(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 in a mapped text column queue that row, named; later rows go."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        sql(
            tmp_path / "fno.db",
            "INSERT INTO CustomersV3 (dataAreaId, CustomerAccount, Name, CreditLimit) "
            f"VALUES ('usmf', 'C1', {BAD_TEXT}, 1)",
        )
        add_customer(tmp_path, "C2", "fine")
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C2", "fine", 1.0)]
        (error,) = await errors(rep)
        assert (error.side, error.native_id, error.kind) == (0, "1", "unreadable")
        assert error.key == '["usmf","C1"]'  # from the columns that could be read
        assert "'fno'" in error.reason and "'CustomersV3'" in error.reason
        assert "row 1" in error.reason and "column 'Name'" in error.reason
        assert "UTF-8" in error.reason
        assert (await rep.status())["outages"] == {}
        sql(tmp_path / "fno.db", "UPDATE CustomersV3 SET Name = 'mended' WHERE RecId = 1")
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C1", "mended", 1.0), ("C2", "fine", 1.0)]
        assert await errors(rep) == []


async def test_invalid_utf8_in_a_sqlite_row_does_not_abort_the_initial_sync(
    tmp_path: Path,
) -> None:
    """The initial sync of SQLite sides queues the unreadable row and syncs the rest."""
    cfg = sqlite_sides(tmp_path)
    sql(
        tmp_path / "fno.db",
        "INSERT INTO CustomersV3 (dataAreaId, CustomerAccount, Name, CreditLimit) "
        f"VALUES ('usmf', 'C1', {BAD_TEXT}, 1)",
    )
    add_customer(tmp_path, "C2", "fine")
    async with Replicator(cfg) as rep:
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C2", "fine", 1.0)]
        (error,) = await errors(rep)
        assert (error.native_id, error.kind, error.key) == ("1", "unreadable", '["usmf","C1"]')
        assert "column 'Name'" in error.reason


BAD_ID_ACCOUNT = (
    "INSERT INTO accounts (accountid, company, accountnumber, name, creditlimit)"
    " VALUES (CAST(x'ff44fe' AS TEXT), 'usmf', 'C1', 'bad id', 1)"
)


async def test_a_text_id_that_is_not_utf8_queues_its_row_and_the_feed_flows(
    tmp_path: Path,
) -> None:
    """A row whose TEXT primary key is not UTF-8 is queued, named ``x'ff44fe'``; the side
    stays up and later rows flow."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        sql(tmp_path / "crm.db", BAD_ID_ACCOUNT)
        sql(tmp_path / "crm.db", "INSERT INTO accounts VALUES ('a2', 'usmf', 'C2', 'fine', 1)")
        await idle(rep)
        assert query(tmp_path / "fno.db", "SELECT CustomerAccount FROM CustomersV3") == [("C2",)]
        (error,) = await errors(rep)
        assert (error.side, error.native_id, error.kind) == (1, "x'ff44fe'", "unreadable")
        assert error.key == '["usmf","C1"]' and "id" in error.reason and "UTF-8" in error.reason
        assert (await rep.status())["outages"] == {}


async def test_a_text_id_that_is_not_utf8_does_not_stall_the_initial_sync(
    tmp_path: Path,
) -> None:
    """The initial sync queues a row whose TEXT primary key is not UTF-8 and syncs the rest
    (before, its scan read that row again and again)."""
    cfg = sqlite_sides(tmp_path)
    sql(tmp_path / "crm.db", BAD_ID_ACCOUNT)
    sql(tmp_path / "crm.db", "INSERT INTO accounts VALUES ('a2', 'usmf', 'C2', 'fine', 1)")
    with anyio.fail_after(20):
        async with Replicator(cfg) as rep:
            await idle(rep)
            assert query(tmp_path / "fno.db", "SELECT CustomerAccount FROM CustomersV3") == [
                ("C2",)
            ]
            (error,) = await errors(rep)
            assert (error.native_id, error.kind, error.key) == (
                "x'ff44fe'",
                "unreadable",
                '["usmf","C1"]',
            )


JSON_FILTER_MAP = COMPANY_CUSTOMERS_MAP + "filter = { fno = \"json_extract(Name, '$.ok') = 1\" }\n"


async def test_a_row_the_filter_fails_on_is_queued_and_the_feed_flows(tmp_path: Path) -> None:
    """A filter that fails on one row's data (``json_extract`` of text that is not JSON)
    queues that row with the reason; the side stays up and later rows flow."""
    async with Replicator(sqlite_sides(tmp_path, JSON_FILTER_MAP)) as rep:
        await idle(rep)
        add_customer(tmp_path, "C1", "not json")
        add_customer(tmp_path, "C2", '{"ok": 1}')
        add_customer(tmp_path, "C3", '{"ok": 0}')
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C2", '{"ok": 1}', 1.0)]
        (error,) = await errors(rep)
        assert (error.native_id, error.kind, error.key) == ("1", "unreadable", '["usmf","C1"]')
        assert "filter" in error.reason and "malformed JSON" in error.reason
        assert (await rep.status())["outages"] == {}


async def test_a_row_the_filter_fails_on_does_not_abort_the_initial_sync(tmp_path: Path) -> None:
    """The initial sync queues a row its filter fails on and syncs the rows that pass."""
    cfg = sqlite_sides(tmp_path, JSON_FILTER_MAP)
    add_customer(tmp_path, "C1", '{"ok": 0}')
    add_customer(tmp_path, "C2", "not json")
    add_customer(tmp_path, "C3", '{"ok": 1}')
    async with Replicator(cfg) as rep:
        await idle(rep)
        assert query(tmp_path / "crm.db", CRM_SQL) == [("C3", '{"ok": 1}', 1.0)]
        (error,) = await errors(rep)
        assert (error.native_id, error.kind, error.key) == ("2", "unreadable", '["usmf","C2"]')


async def test_a_row_whose_primary_key_is_null_is_queued_not_dropped(tmp_path: Path) -> None:
    """SQLite lets a TEXT primary key be NULL: such a row names no row, so it is queued as
    unreadable (before, it was silently taken for a row filtered out)."""
    async with Replicator(sqlite_sides(tmp_path)) as rep:
        await idle(rep)
        sql(tmp_path / "crm.db", "INSERT INTO accounts VALUES (NULL, 'usmf', 'C1', 'no id', 1)")
        sql(tmp_path / "crm.db", "INSERT INTO accounts VALUES ('a2', 'usmf', 'C2', 'fine', 1)")
        await idle(rep)
        assert query(tmp_path / "fno.db", "SELECT CustomerAccount FROM CustomersV3") == [("C2",)]
        (error,) = await errors(rep)
        assert (error.side, error.native_id, error.kind) == (1, "", "unreadable")
        assert error.key == '["usmf","C1"]' and "NULL" in error.reason

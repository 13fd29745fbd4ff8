"""A linked row's change is applied with the values its feed read, when the side's versions
say they are newer than anything the replicator wrote there (``versions_ordered``): no
second read of the row. A change older than the replicator's own last write is read again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from adapters.sqlite import SQLiteSide
from conftest import COMPANY_CUSTOMERS_MAP
from daemon import create_db, execute, query, write_config
from replicator.adapter import Change, Row
from replicator.engine import Replicator
from replicator.model import Link
from replicator.pipeline.apply import Applier

pytestmark = pytest.mark.anyio

FNO_SCHEMA = """CREATE TABLE CustomersV3 (dataAreaId TEXT NOT NULL, CustomerAccount TEXT NOT NULL,
    Name TEXT, CreditLimit REAL, PRIMARY KEY (dataAreaId, CustomerAccount));"""
CRM_SCHEMA = """CREATE TABLE accounts (accountid INTEGER PRIMARY KEY, company TEXT NOT NULL,
    accountnumber TEXT NOT NULL, name TEXT, creditlimit REAL);"""


class CountedSQLite(SQLiteSide):
    """A SQLite side that notes every row it is asked to read by native id."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, path, poll_interval_ms=10)
        self.asked: list[str] = []

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        self.asked += native_ids
        return await super().get(entity, native_ids)


async def test_an_update_of_a_linked_row_is_applied_without_reading_the_row_again(
    tmp_path: Path,
) -> None:
    fno_db = create_db(tmp_path / "fno.db", FNO_SCHEMA)
    crm_db = create_db(tmp_path / "crm.db", CRM_SCHEMA)
    config = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    fno, crm = CountedSQLite("fno", fno_db), CountedSQLite("crm", crm_db)
    execute(fno_db, "INSERT INTO CustomersV3 VALUES ('usmf', 'C1', 'Contoso', 10)")
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(15):
            await rep.wait_idle()
        fno.asked.clear()
        for limit in (20, 30, 40):
            execute(
                fno_db,
                "UPDATE CustomersV3 SET CreditLimit = ? WHERE CustomerAccount = 'C1'",
                (limit,),
            )
            with anyio.fail_after(15):
                await rep.wait_idle()
            assert query(crm_db, "SELECT creditlimit FROM accounts") == [(limit,)]
    assert fno.asked == []


def applier(link: Link, ordered: bool) -> Applier:
    """An applier holding ``link``, its side 0 with or without ordered versions."""
    side: Any = SimpleNamespace(versions_ordered=ordered)
    ctx: Any = SimpleNamespace(sides=[side, SimpleNamespace()])
    return Applier(ctx, None, 1, link, {})  # type: ignore[arg-type]  # fresh() needs no map


def linked(version: str | None) -> Link:
    link = Link.new(1, "customers", "k")
    link.ids[0], link.versions[0] = "r1", version
    return link


@pytest.mark.parametrize(
    ("known", "seen", "ordered", "fresh"),
    [
        ("7", "7", False, True),  # the link's own version: on any side
        ("7", "9", False, False),  # opaque versions: newer cannot be told
        ("7", "9", True, True),  # a user's write after ours
        ("9", "7", True, False),  # read by the feed before our own write: read again
        ("", "9", True, False),  # the link does not know its version (after a crash)
        (None, "9", True, False),
        ("7", "x9", True, False),  # not an integer after all
    ],
)
def test_feed_values_are_fresh_only_when_no_write_of_ours_can_be_newer(
    known: str | None, seen: str, ordered: bool, fresh: bool
) -> None:
    change = Change("CustomersV3", "r1", "upsert", None, {"Name": "x"}, seen)
    assert applier(linked(known), ordered).fresh(0, change) is fresh


def test_feed_values_of_another_row_than_the_linked_one_are_not_fresh() -> None:
    change = Change("CustomersV3", "r2", "upsert", None, {"Name": "x"}, "9")
    assert applier(linked("7"), True).fresh(0, change) is False

"""An edit of a one-way field on the side that does not own it is reverted, even when a
crash cuts the step that reverts it (real SQLite files, the engine in-process).

The crm change below edits a both-ways field (the name) and the fno-owned price at once:
its step writes the name to fno first, then the price back on crm. Killed between the
two, the intent of the fno write is all recovery has: its link must not say that crm's
row at the version read (which still holds the edited price) is one the link agrees
with, or the replayed change is taken for one applied before and the revert is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from adapters.sqlite import SQLiteSide
from conftest import stored_link
from daemon import create_db, execute, query, write_config
from replicator.adapter import UNKNOWN_VERSION, Row, WriteOp, WriteResult
from replicator.engine import Replicator
from replicator.pipeline.pair import Pair

pytestmark = pytest.mark.anyio

FNO_SCHEMA = """CREATE TABLE EcoResReleasedProductV2 (RecId INTEGER PRIMARY KEY,
    dataAreaId TEXT NOT NULL, ItemNumber TEXT NOT NULL, ProductName TEXT, SalesPrice REAL);"""
CRM_SCHEMA = """CREATE TABLE msdyn_sharedproductdetails (
    msdyn_sharedproductdetailsid INTEGER PRIMARY KEY, company TEXT NOT NULL,
    msdyn_itemnumber TEXT NOT NULL, msdyn_name TEXT, msdyn_price REAL);"""
PRODUCTS_MAP = """
[[maps]]
name = "products"
fno = "EcoResReleasedProductV2"
crm = "msdyn_sharedproductdetails"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "ItemNumber", crm = "msdyn_itemnumber" } ]
fields = [ { fno = "ProductName", crm = "msdyn_name" },
           { fno = "SalesPrice", crm = "msdyn_price", direction = "fno->crm" } ]
create = ["fno"]
"""


class DyingSQLite(SQLiteSide):
    """A SQLite side whose write, once ``armed``, is made and then never answered."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name, path, poll_interval_ms=10)
        self.armed = False
        self.applied = anyio.Event()

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results = await super().write(ops)
        if not self.armed:
            return results
        self.applied.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


async def test_a_crash_between_the_writes_of_a_revert_step_still_reverts(
    tmp_path: Path,
) -> None:
    """Killed after writing a crm edit's name to fno, before setting crm's edit of the
    fno-owned price back: the restart reverts the price."""
    fno_db = create_db(tmp_path / "fno.db", FNO_SCHEMA)
    crm_db = create_db(tmp_path / "crm.db", CRM_SCHEMA)
    config = write_config(tmp_path, PRODUCTS_MAP)
    execute(fno_db, "INSERT INTO EcoResReleasedProductV2 VALUES (1, 'usmf', 'P1', 'bolt', 10)")
    fno = DyingSQLite("fno", fno_db)
    with anyio.CancelScope() as kill:
        async with Replicator(config, sides={"fno": fno}) as rep:
            with anyio.fail_after(15):
                await rep.wait_idle()
                fno.armed = True
                execute(
                    crm_db,
                    "UPDATE msdyn_sharedproductdetails SET msdyn_name = 'nut', msdyn_price = -17",
                )
                await fno.applied.wait()
            kill.cancel()  # kill -9 between the fno write and the crm one
    assert query(fno_db, "SELECT ProductName FROM EcoResReleasedProductV2") == [("nut",)]
    assert query(crm_db, "SELECT msdyn_price FROM msdyn_sharedproductdetails") == [(-17.0,)]

    async with Replicator(config) as rep:
        with anyio.fail_after(15):
            await rep.wait_idle()
    assert query(crm_db, "SELECT msdyn_name, msdyn_price FROM msdyn_sharedproductdetails") == [
        ("nut", 10.0)
    ]


def read_pair(crm_values: dict[str, object]) -> Pair:
    """A crm-sourced pair of a linked product, crm's row read at version 110."""
    shadow = {"name": "bolt", "price": 10.0}
    link = stored_link(1, "k", ["1", "c1"], ["40", "100"], shadow=shadow, map_name="products")
    return Pair(link, 1, {1: (Row("c1", "110", {}), crm_values)})


@pytest.mark.parametrize(
    ("crm_values", "crm_version"),
    [
        ({"name": "nut", "price": -17.0}, UNKNOWN_VERSION),  # crm still to be set back
        ({"name": "nut", "price": 10.0}, "110"),  # crm holds what fno is written
    ],
)
def test_an_intent_keeps_the_other_sides_version_only_if_that_row_holds_the_shadow(
    crm_values: dict[str, object], crm_version: str
) -> None:
    """The link an fno write's intent names: fno's version unknown, crm's as read only
    when crm's row agrees with the shadow that write leaves."""
    after = read_pair(crm_values).after(0, "t1", {"name": "nut", "price": 10.0})
    assert after.versions == [UNKNOWN_VERSION, crm_version]
    assert after.shadow == {"name": "nut", "price": 10.0}

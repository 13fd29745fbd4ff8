"""Prerequisites and lookups: parked records, chains, restarts, timeouts, self-references,
companies — with a SQLite target whose foreign keys refuse a child before its parent."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from adapters.memory import MemorySide
from replicator.adapter import ChangeBatch
from replicator.config import load_config
from replicator.engine import Replicator
from replicator.sync import sync_order

pytestmark = pytest.mark.anyio

CRM_SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE groups (id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
  company TEXT NOT NULL, groupid TEXT NOT NULL, description TEXT, UNIQUE (company, groupid));
CREATE TABLE accounts (id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
  company TEXT NOT NULL, accountnumber TEXT NOT NULL, name TEXT, groupid TEXT,
  billing TEXT, UNIQUE (company, accountnumber),
  FOREIGN KEY (company, groupid) REFERENCES groups (company, groupid),
  FOREIGN KEY (company, billing) REFERENCES accounts (company, accountnumber));
CREATE TABLE orders (id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
  company TEXT NOT NULL, ordernumber TEXT NOT NULL, account TEXT,
  UNIQUE (company, ordernumber),
  FOREIGN KEY (company, account) REFERENCES accounts (company, accountnumber));
CREATE TABLE lines (id TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
  company TEXT NOT NULL, lineid TEXT NOT NULL, ordernumber TEXT, qty REAL,
  UNIQUE (company, lineid),
  FOREIGN KEY (company, ordernumber) REFERENCES orders (company, ordernumber));
"""

CONFIG = """
[state]
path = "state.db"
[sides.fno]
adapter = "memory"
[sides.crm]
adapter = "sqlite"
path = "crm.db"
poll_interval_ms = 10

[[maps]]
name = "groups"
fno = "CustCustomerGroup"
crm = "groups"
key = [ { fno = "dataAreaId", crm = "company" }, { fno = "CustomerGroupId", crm = "groupid" } ]
fields = [ { fno = "Description", crm = "description" } ]

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" },
           { fno = "CustomerGroupId", crm = "groupid", lookup = "groups" },
           { fno = "InvoiceAccount", crm = "billing", lookup = "customers" } ]
prerequisites = ["groups"]
{customers_extra}

[[maps]]
name = "orders"
fno = "SalesOrderHeaderCDSEntity"
crm = "orders"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "SalesOrderNumber", crm = "ordernumber" } ]
fields = [ { fno = "OrderingCustomerAccountNumber", crm = "account", lookup = "customers" } ]

[[maps]]
name = "lines"
fno = "SalesOrderLineCDSEntity"
crm = "lines"
key = [ { fno = "dataAreaId", crm = "company" }, { fno = "InventoryLotId", crm = "lineid" } ]
fields = [ { fno = "SalesOrderNumber", crm = "ordernumber", lookup = "orders" },
           { fno = "OrderedSalesQuantity", crm = "qty" } ]
"""


def setup(tmp_path: Path, customers_extra: str = "") -> Path:
    """A config with a memory fno and a SQLite crm whose foreign keys are enforced."""
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        conn.executescript(CRM_SCHEMA)
    path = tmp_path / "replicator.toml"
    path.write_text(CONFIG.replace("{customers_extra}", customers_extra), encoding="utf-8")
    return path


def crm_rows(tmp_path: Path, table: str) -> list[dict[str, Any]]:
    """Every row of a crm table."""
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]


def foreign_key_violations(tmp_path: Path) -> list[Any]:
    """What ``PRAGMA foreign_key_check`` finds on crm."""
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        return list(conn.execute("PRAGMA foreign_key_check"))


@asynccontextmanager
async def running(cfg: Path, fno: MemorySide) -> AsyncIterator[Replicator]:
    """The engine on ``fno`` (memory) and the config's SQLite crm."""
    async with Replicator(cfg, sides={"fno": fno}) as rep:
        yield rep


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(15):
        await rep.wait_idle()


async def counts(rep: Replicator, name: str) -> dict[str, Any]:
    return next(m for m in (await rep.status())["maps"] if m["map"] == name)


def group(gid: str = "10") -> dict[str, Any]:
    return {"dataAreaId": "usmf", "CustomerGroupId": gid, "Description": f"group {gid}"}


def customer(account: str, gid: str = "10", invoice: str | None = None) -> dict[str, Any]:
    return {
        "dataAreaId": "usmf",
        "CustomerAccount": account,
        "Name": account,
        "CustomerGroupId": gid,
        "InvoiceAccount": invoice,
    }


async def test_customer_before_its_group_is_parked_then_released(tmp_path: Path) -> None:
    """A customer whose group is not linked waits parked; the group's arrival releases it."""
    cfg, fno = setup(tmp_path), MemorySide("fno")
    async with running(cfg, fno) as rep:
        fno.insert("CustomersV3", customer("C1"))
        await idle(rep)
        assert crm_rows(tmp_path, "accounts") == []
        assert (await counts(rep, "customers"))["parked"] == 1
        assert await rep.ctx.store.errors() == []
        fno.insert("CustCustomerGroup", group())
        await idle(rep)
        assert [a["accountnumber"] for a in crm_rows(tmp_path, "accounts")] == ["C1"]
        assert (await counts(rep, "customers"))["parked"] == 0
        assert await rep.ctx.store.errors() == []
    assert foreign_key_violations(tmp_path) == []


async def test_four_level_chain_arriving_in_reverse_order_resolves(tmp_path: Path) -> None:
    """Line, order, customer, group created in reverse order all arrive, parents first."""
    cfg, fno = setup(tmp_path), MemorySide("fno")
    async with running(cfg, fno) as rep:
        fno.insert(
            "SalesOrderLineCDSEntity",
            {
                "dataAreaId": "usmf",
                "InventoryLotId": "L1",
                "SalesOrderNumber": "SO1",
                "OrderedSalesQuantity": 3,
            },
        )
        await idle(rep)
        fno.insert(
            "SalesOrderHeaderCDSEntity",
            {
                "dataAreaId": "usmf",
                "SalesOrderNumber": "SO1",
                "OrderingCustomerAccountNumber": "C1",
            },
        )
        await idle(rep)
        fno.insert("CustomersV3", customer("C1"))
        await idle(rep)
        for name in ("lines", "orders", "customers"):
            assert (await counts(rep, name))["parked"] == 1, name
        fno.insert("CustCustomerGroup", group())
        await idle(rep)
        for table in ("groups", "accounts", "orders", "lines"):
            assert len(crm_rows(tmp_path, table)) == 1, table
        assert crm_rows(tmp_path, "lines")[0]["qty"] == 3
        assert await rep.ctx.store.errors() == []
    assert foreign_key_violations(tmp_path) == []


async def test_parked_records_survive_a_restart(tmp_path: Path) -> None:
    """A record parked before a restart is released after it when its target arrives."""
    cfg, fno = setup(tmp_path), MemorySide("fno")
    async with running(cfg, fno) as rep:
        fno.insert("CustomersV3", customer("C1"))
        await idle(rep)
    async with running(cfg, fno) as rep:
        assert (await counts(rep, "customers"))["parked"] == 1
        fno.insert("CustCustomerGroup", group())
        await idle(rep)
        assert len(crm_rows(tmp_path, "accounts")) == 1
        assert (await counts(rep, "customers"))["parked"] == 0


async def test_target_linked_while_stopped_releases_at_start(tmp_path: Path) -> None:
    """A record whose target was linked by the initial sync is released at the next start."""
    cfg, fno = setup(tmp_path), MemorySide("fno")
    async with running(cfg, fno) as rep:
        fno.insert("CustomersV3", customer("C1"))
        await idle(rep)
        await rep.pause("groups")
        fno.insert("CustCustomerGroup", group())
        await idle(rep)
        assert crm_rows(tmp_path, "accounts") == []
        await rep.resume("groups")
        await idle(rep)
        assert len(crm_rows(tmp_path, "accounts")) == 1


async def test_parked_past_the_timeout_goes_to_the_error_queue(tmp_path: Path) -> None:
    """A record parked longer than park_timeout_s lands in the error queue with the reason."""
    cfg, fno = setup(tmp_path, "park_timeout_s = 60"), MemorySide("fno")
    async with running(cfg, fno) as rep:
        fno.insert("CustomersV3", customer("C1"))
        await idle(rep)
        assert await rep.ctx.parking.expire(now=time.time() + 30) == 0
        assert await rep.ctx.parking.expire(now=time.time() + 61) == 1
        [error] = await rep.ctx.store.errors()
        assert error.map == "customers" and error.kind == "parked"
        assert "waiting for groups[usmf, 10]" in error.reason
        assert (await counts(rep, "customers"))["parked"] == 0


async def test_self_reference_and_two_record_cycle_resolve(tmp_path: Path) -> None:
    """Customers that bill each other (and one itself) are written, then patched."""
    cfg, fno = setup(tmp_path), MemorySide("fno")
    async with running(cfg, fno) as rep:
        fno.insert("CustCustomerGroup", group())
        fno.insert("CustomersV3", customer("C1", invoice="C2"))
        fno.insert("CustomersV3", customer("C2", invoice="C1"))
        fno.insert("CustomersV3", customer("C3", invoice="C3"))
        await idle(rep)
        billing = {a["accountnumber"]: a["billing"] for a in crm_rows(tmp_path, "accounts")}
        assert billing == {"C1": "C2", "C2": "C1", "C3": "C3"}
        assert (await counts(rep, "customers"))["parked"] == 0
        assert await rep.ctx.store.errors() == []
    assert foreign_key_violations(tmp_path) == []


async def test_companies_limit_a_map_to_some_legal_entities(tmp_path: Path) -> None:
    """With companies = ["usmf"], records of usrt do not take part."""
    cfg, fno = setup(tmp_path, 'companies = ["usmf"]'), MemorySide("fno")
    async with running(cfg, fno) as rep:
        fno.insert("CustCustomerGroup", group())
        fno.insert("CustCustomerGroup", {**group(), "dataAreaId": "usrt"})
        fno.insert("CustomersV3", customer("C1"))
        fno.insert("CustomersV3", {**customer("C2"), "dataAreaId": "usrt"})
        await idle(rep)
        assert [(a["company"], a["accountnumber"]) for a in crm_rows(tmp_path, "accounts")] == [
            ("usmf", "C1")
        ]


async def test_a_company_added_later_syncs_its_existing_rows(tmp_path: Path) -> None:
    """Adding a company to `companies` syncs that company's rows at the next start."""
    cfg, fno = setup(tmp_path, 'companies = ["usmf"]'), MemorySide("fno")
    async with running(cfg, fno) as rep:
        for company in ("usmf", "usrt"):
            fno.insert("CustCustomerGroup", {**group(), "dataAreaId": company})
            fno.insert("CustomersV3", {**customer("C1"), "dataAreaId": company})
        await idle(rep)
        assert len(crm_rows(tmp_path, "accounts")) == 1
    text = cfg.read_text().replace('companies = ["usmf"]', 'companies = ["usmf", "usrt"]')
    cfg.write_text(text)
    async with running(cfg, fno) as rep:
        await idle(rep)
        assert sorted(a["company"] for a in crm_rows(tmp_path, "accounts")) == ["usmf", "usrt"]


async def test_demo_initial_sync_runs_in_topological_order_with_foreign_keys(
    tmp_path: Path,
) -> None:
    """The demo's maps sync parents first; neither database breaks a foreign key."""
    from replicator.demo import create_demo

    cfg = create_demo(tmp_path / "demo")
    config = load_config(cfg)
    async with Replicator(config, initial_sync=False, live=False) as rep:
        order = [m.name for m in sync_order(rep.ctx, None)]
        reports = await rep.sync()
    assert [r.map for r in reports] == order
    for name in ("customers", "sales_orders", "sales_order_lines"):
        for dep in config.prerequisite_graph()[name]:
            assert order.index(dep) < order.index(name)
    assert sum(r.errors for r in reports) == 3  # the three CRM-born products, refused
    for db in ("fno.db", "crm.db"):
        with sqlite3.connect(tmp_path / "demo" / db) as conn:
            assert list(conn.execute("PRAGMA foreign_key_check")) == []


class HeldFeed(MemorySide):
    """A memory side whose change feed shows nothing until ``release()``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.released = anyio.Event()
        self.released.set()

    def hold(self) -> None:
        self.released = anyio.Event()

    def release(self) -> None:
        self.released.set()

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        if not self.released.is_set():
            return ChangeBatch([], cursor)
        return await super().read_changes(cursor, limit)

    async def wait_for_changes(self, max_wait: float) -> None:
        if not self.released.is_set():  # what is there stays unread until the release
            with anyio.move_on_after(max_wait):
                await self.released.wait()
        else:
            await super().wait_for_changes(max_wait)


async def test_a_lookup_learned_from_the_other_row_parks_until_its_target_is_linked(
    tmp_path: Path,
) -> None:
    """crm's edit of C1 meets fno's row, whose group changed to one not replicated yet:
    the merge must not write that group to crm (its foreign key would refuse it); the
    record waits for the group and then takes it."""
    cfg, fno = setup(tmp_path), HeldFeed("fno")
    async with running(cfg, fno) as rep:
        fno.insert("CustCustomerGroup", group("10"))
        c1 = fno.insert("CustomersV3", customer("C1", "10"))
        await idle(rep)
    fno.insert("CustCustomerGroup", group("20"))
    fno.update("CustomersV3", c1, {"CustomerGroupId": "20"})
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        conn.execute("UPDATE accounts SET name = 'edited on crm'")
    fno.hold()  # crm's change is applied before fno's changes are even read
    async with running(cfg, fno) as rep:
        await idle(rep)
        assert await rep.ctx.store.errors() == []
        assert (await counts(rep, "customers"))["parked"] == 1
        fno.release()
        await idle(rep)
        assert await rep.ctx.store.errors() == []
    accounts = crm_rows(tmp_path, "accounts")
    assert [(a["name"], a["groupid"]) for a in accounts] == [("edited on crm", "20")]
    assert [v["Name"] for v in fno.rows("CustomersV3").values()] == ["edited on crm"]
    assert foreign_key_violations(tmp_path) == []

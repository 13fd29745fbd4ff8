"""Initial sync throughput: rows/s of `replicator sync` from one SQLite side to an empty one.

Baseline, in the same run: a raw copy of the same rows between two SQLite files with
the same pragmas (WAL, foreign keys on), ``executemany`` upserts in batches of 1,000.
Prints both and their ratio; compare ratios between runs, not absolute times.

    python bench/initial_sync.py [ROWS]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import anyio

from replicator import Replicator
from replicator.logs import configure_logging

FNO = """CREATE TABLE CustomersV3 (RecId INTEGER PRIMARY KEY, dataAreaId TEXT NOT NULL,
  CustomerAccount TEXT NOT NULL, OrganizationName TEXT, CreditLimit REAL, AddressCity TEXT,
  UNIQUE (dataAreaId, CustomerAccount))"""
CRM = """CREATE TABLE accounts (accountid TEXT PRIMARY KEY NOT NULL
  DEFAULT (lower(hex(randomblob(16)))), company TEXT NOT NULL, accountnumber TEXT NOT NULL,
  name TEXT, creditlimit REAL, address1_city TEXT, UNIQUE (company, accountnumber))"""
CONFIG = """
[state]
path = "state.db"
[sides.fno]
adapter = "sqlite"
path = "fno.db"
[sides.crm]
adapter = "sqlite"
path = "crm.db"
[engine]
batch_size = 1000
[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "OrganizationName", crm = "name" },
           { fno = "CreditLimit", crm = "creditlimit" },
           { fno = "AddressCity", crm = "address1_city" } ]
"""


def database(path: Path, schema: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(schema)
    return conn


def seed(folder: Path, rows: int) -> None:
    fno = database(folder / "fno.db", FNO)
    database(folder / "crm.db", CRM).close()
    fno.execute("BEGIN")
    fno.executemany(
        "INSERT INTO CustomersV3 (dataAreaId, CustomerAccount, OrganizationName, CreditLimit,"
        " AddressCity) VALUES (?, ?, ?, ?, ?)",
        (("usmf", f"C{i:07}", f"Customer {i}", i * 10.0, "Boise") for i in range(rows)),
    )
    fno.execute("COMMIT")
    fno.close()


def raw_copy(folder: Path) -> float:
    """Seconds to copy every row with executemany upserts in batches of 1,000."""
    src = sqlite3.connect(folder / "fno.db")
    dst = database(folder / "raw.db", CRM)
    started = time.perf_counter()
    cursor = src.execute(
        "SELECT dataAreaId, CustomerAccount, OrganizationName, CreditLimit, AddressCity "
        "FROM CustomersV3 ORDER BY RecId"
    )
    while batch := cursor.fetchmany(1000):
        dst.execute("BEGIN")
        dst.executemany(
            "INSERT INTO accounts (company, accountnumber, name, creditlimit, address1_city) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (company, accountnumber) DO UPDATE SET "
            "name = excluded.name, creditlimit = excluded.creditlimit, "
            "address1_city = excluded.address1_city",
            batch,
        )
        dst.execute("COMMIT")
    return time.perf_counter() - started


async def replicated(folder: Path) -> float:
    """Seconds of the initial sync of every row to the empty side."""
    (folder / "bench.toml").write_text(CONFIG)
    async with Replicator(folder / "bench.toml", initial_sync=False, live=False) as rep:
        started = time.perf_counter()
        [report] = await rep.sync()
        elapsed = time.perf_counter() - started
    assert report.created[1] == report.rows[0], report
    return elapsed


async def main(rows: int) -> None:
    configure_logging("json", "warning")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed(folder, rows)
        raw = raw_copy(folder)
        sync = await replicated(folder)
    print(f"rows                {rows}")
    print(f"initial sync        {rows / sync:12,.0f} rows/s  ({sync:.2f} s)")
    print(f"raw executemany     {rows / raw:12,.0f} rows/s  ({raw:.2f} s)")
    print(f"ratio               {raw / sync:12.4f}  (initial sync / raw copy throughput)")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, backend="asyncio")

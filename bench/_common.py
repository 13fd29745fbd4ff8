"""Shared pieces of the SQLite benchmarks: the two schemas, the config, seeding, and the
raw batched copy (the baseline).

Both sides are SQLite files with the same pragmas (WAL, foreign keys on, the default
``synchronous``). Rows are customers with 6 fields on each side; row ``i`` has the key
``("usmf", "C%07d" % i)`` and, on the fno side, ``RecId = i + 1`` when seeded in order.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

BATCH = 1000  # rows a transaction, for the raw copy and for every bulk load generator
POLL_S = 0.005  # how often an observer looks at the other side

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
FNO_INSERT = (
    "INSERT INTO CustomersV3 (dataAreaId, CustomerAccount, OrganizationName, CreditLimit,"
    " AddressCity) VALUES (?, ?, ?, ?, ?)"
)
CRM_UPSERT = (
    "INSERT INTO accounts (company, accountnumber, name, creditlimit, address1_city) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (company, accountnumber) DO UPDATE SET "
    "name = excluded.name, creditlimit = excluded.creditlimit, "
    "address1_city = excluded.address1_city"
)
FNO_ROWS = (
    "SELECT dataAreaId, CustomerAccount, OrganizationName, CreditLimit, AddressCity "
    "FROM CustomersV3 ORDER BY dataAreaId, CustomerAccount"
)
CRM_ROWS = (
    "SELECT company, accountnumber, name, creditlimit, address1_city "
    "FROM accounts ORDER BY company, accountnumber"
)

Customer = tuple[str, str, str, float, str]


def customer(i: int, city: str = "Boise") -> Customer:
    """Row ``i`` as (company, account, name, credit limit, city), either side's order."""
    return ("usmf", f"C{i:07}", f"Customer {i}", i * 10.0, city)


def database(path: Path, schema: str) -> sqlite3.Connection:
    """A new side file with ``schema``, in WAL mode; an autocommit connection to it."""
    conn = connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(schema)
    return conn


def connect(path: Path, *, any_thread: bool = False) -> sqlite3.Connection:
    """An application's connection: autocommit, foreign keys on, patient with locks
    (``any_thread``: usable from another thread than this one, one at a time)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=not any_thread)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def load(conn: sqlite3.Connection, statement: str, rows: Iterable[Sequence[Any]]) -> None:
    """``executemany`` of ``rows`` in transactions of ``BATCH`` rows."""
    batch: list[Sequence[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            _commit(conn, statement, batch)
            batch = []
    if batch:
        _commit(conn, statement, batch)


def _commit(conn: sqlite3.Connection, statement: str, batch: list[Sequence[Any]]) -> None:
    conn.execute("BEGIN")
    conn.executemany(statement, batch)
    conn.execute("COMMIT")


def create_sides(folder: Path, fno_rows: int = 0, crm_rows: int = 0) -> None:
    """``fno.db`` and ``crm.db`` in ``folder``, with the first rows seeded on each side,
    and the config ``bench.toml`` that replicates them."""
    folder.mkdir(parents=True, exist_ok=True)
    with closing(database(folder / "fno.db", FNO)) as fno:
        load(fno, FNO_INSERT, (customer(i) for i in range(fno_rows)))
    with closing(database(folder / "crm.db", CRM)) as crm:
        load(crm, CRM_UPSERT, (customer(i) for i in range(crm_rows)))
    (folder / "bench.toml").write_text(CONFIG)


def raw_copy(folder: Path, rows: int, *, existing: bool = False) -> float:
    """Seconds to copy ``rows`` rows from one file to another with ``executemany`` upserts
    in transactions of 1,000; with ``existing`` the target already holds every row with
    other values (the upsert's update path)."""
    folder.mkdir(parents=True, exist_ok=True)
    with closing(database(folder / "raw_src.db", FNO)) as src:
        load(src, FNO_INSERT, (customer(i, city="Updated") for i in range(rows)))
    with closing(database(folder / "raw_dst.db", CRM)) as dst:
        if existing:
            load(dst, CRM_UPSERT, (customer(i) for i in range(rows)))
        with closing(connect(folder / "raw_src.db")) as src:
            started = time.perf_counter()
            cursor = src.execute(FNO_ROWS)
            while batch := cursor.fetchmany(BATCH):
                _commit(dst, CRM_UPSERT, batch)
            return time.perf_counter() - started


def same_rows(folder: Path) -> bool:
    """Whether both sides hold the same customers with the same values."""
    with closing(connect(folder / "fno.db")) as fno, closing(connect(folder / "crm.db")) as crm:
        return fno.execute(FNO_ROWS).fetchall() == crm.execute(CRM_ROWS).fetchall()


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float, every: float = POLL_S
) -> float:
    """Poll ``condition`` ``every`` seconds; the ``perf_counter`` when it first held."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return time.perf_counter()


def scalar(conn: sqlite3.Connection, statement: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row (None if none, or the table is not there yet)."""
    try:
        row = conn.execute(statement, params).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else row[0]

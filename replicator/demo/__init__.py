"""The embedded demo: two seeded SQLite databases and the config that keeps them in step.

``create_demo(folder)`` writes ``fno.db`` (Finance & Operations data entities) and
``crm.db`` (Dataverse tables) with a few thousand realistic, deterministic rows, and copies
``config/demo.toml`` next to them. The data is the usual mess of a Dual-write go-live:
customers known to both systems with drifted values, accounts only the CRM knows, states
written out in F&O and abbreviated in the CRM, and three products keyed in the CRM that the
create rule will refuse. ``demo_guide(folder)`` says what to try.

This is a one-off seeding step, so it uses the plain ``sqlite3`` module, not the async core.
"""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import shutil
import sqlite3
from pathlib import Path

from ..errors import ConfigError
from ..files import create_private, private_dir

__all__ = ["CONFIG_SOURCE", "create_demo", "demo_guide"]

from .schema import CRM_SCHEMA, FNO_SCHEMA
from .seed import Row, Seeder, Tables
from .words import STATE_CODES

__all__ = ["CONFIG_SOURCE", "STATE_CODES", "create_demo", "demo_guide"]

CONFIG_SOURCE = Path(__file__).resolve().parents[2] / "config" / "demo.toml"
"""The demo config shipped with replicator; ``create_demo`` copies it into the demo folder."""

# -- public API --------------------------------------------------------------------------


def create_demo(folder: Path, *, seed: int = 7) -> Path:
    """Create the demo under ``folder`` once and return its config; later calls reuse it."""
    folder = Path(folder)
    config = folder / "demo.toml"
    if config.exists():
        return config
    if not CONFIG_SOURCE.is_file():
        raise ConfigError([f"{CONFIG_SOURCE}: the demo config is missing from this installation"])
    for name in ("fno.db", "crm.db", "state.db"):
        if (folder / name).exists():
            raise ConfigError(
                [
                    f"{folder / name}: exists but {config.name} does not; "
                    f"remove {folder} to create the demo afresh"
                ]
            )
    private_dir(folder)  # 0700: the demo's data is the user's only, as a real store's is
    seeder = Seeder(random.Random(seed))
    seeder.seed()
    _write_database(folder / "fno.db", FNO_SCHEMA, seeder.fno)
    _write_database(folder / "crm.db", CRM_SCHEMA, seeder.crm)
    partial = folder / "demo.toml.partial"
    partial.unlink(missing_ok=True)
    create_private(partial)  # 0600; copyfile keeps the mode of a file that exists
    shutil.copyfile(CONFIG_SOURCE, partial)
    os.replace(partial, config)
    return config


def demo_guide(folder: Path) -> str:
    """A short "try it" text with commands to paste into a second terminal."""
    fno, crm = shlex.quote(str(folder / "fno.db")), shlex.quote(str(folder / "crm.db"))
    config = shlex.quote(str(folder / "demo.toml"))
    return f"""\
The demo is running: {fno} plays Finance & Operations, {crm} plays Dataverse.
In another terminal, try:

  # 1. Raise a credit limit in F&O, then see it in Dataverse
  sqlite3 {fno} "UPDATE CustomersV3 SET CreditLimit = 250000 WHERE dataAreaId = 'usmf' AND CustomerAccount = 'US-0001'"
  sqlite3 {crm} "SELECT name, creditlimit FROM accounts WHERE company = 'usmf' AND accountnumber = 'US-0001'"

  # 2. Create an account in Dataverse, then find the customer in F&O (state written out)
  sqlite3 {crm} "INSERT INTO accounts (company, accountnumber, name, msdyn_customergroupid, creditlimit, address1_city, address1_stateorprovince) VALUES ('usmf', 'CRM-09001', 'Fabrikam Outfitters Boise', '30', 50000, 'Boise', 'ID')"
  sqlite3 {fno} "SELECT CustomerAccount, OrganizationName, DeliveryAddressState FROM CustomersV3 WHERE CustomerAccount = 'CRM-09001'"

  # 3. Key a product in Dataverse: products are born only in F&O, so it is refused
  sqlite3 {crm} "INSERT INTO msdyn_sharedproductdetails (company, msdyn_itemnumber, msdyn_name, msdyn_salesprice) VALUES ('usmf', 'X-1000', 'Pop-up display stand', 89)"
  replicator errors --config {config} list

  # 4. Where every map stands
  replicator status --config {config}
"""  # noqa: E501


# -- writing -----------------------------------------------------------------------------


def _write_database(path: Path, schema: str, tables: Tables) -> None:
    """Create the database at ``path`` from ``schema`` and ``tables``, all or nothing."""
    partial = path.with_name(path.name + ".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    create_private(partial)  # 0600, and so its -wal and -shm (SQLite copies the mode)
    with contextlib.closing(sqlite3.connect(partial)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(schema)
        with conn:
            for table, rows in tables.items():
                _insert(conn, table, rows)
    os.replace(partial, path)


def _insert(conn: sqlite3.Connection, table: str, rows: list[Row]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    columns = list(rows[0])
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    )
    conn.executemany(sql, rows)

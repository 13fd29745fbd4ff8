"""Issue 9, item 1 end to end: a reused rowid must not send a delete to the wrong record.

F&O's ``CustomersV3`` has a composite primary key, so SQLite names its rows by rowid, and
gives the newest row's rowid, once deleted, to the next insert.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from conftest import COMPANY_CUSTOMERS_MAP
from daemon import (
    Daemon,
    cli,
    connect,
    create_db,
    execute,
    query,
    scalar,
    wait_for,
    wait_rows,
    write_config,
)

pytestmark = pytest.mark.slow

SEED_ROWS = 3000
FNO_SCHEMA = """
CREATE TABLE CustomersV3 (dataAreaId TEXT NOT NULL, CustomerAccount TEXT NOT NULL,
    Name TEXT, CreditLimit REAL, PRIMARY KEY (dataAreaId, CustomerAccount));
"""
CRM_SCHEMA = """
CREATE TABLE accounts (accountid TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    company TEXT NOT NULL, accountnumber TEXT NOT NULL, name TEXT, creditlimit REAL);
CREATE TABLE deleted (accountnumber TEXT);
CREATE TRIGGER audit_delete AFTER DELETE ON accounts
    BEGIN INSERT INTO deleted VALUES (OLD.accountnumber); END;
"""


def seed(fno: Path) -> None:
    """SEED_ROWS customers, then X: the newest row."""
    with closing(connect(fno)) as conn:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO CustomersV3 VALUES ('usmf', ?, ?, 100)",
            [(f"C{n:05d}", f"customer {n}") for n in range(SEED_ROWS)],
        )
        conn.execute("INSERT INTO CustomersV3 VALUES ('usmf', 'X', 'to be deleted', 1)")
        conn.execute("COMMIT")


def caught_up(state: Path, sides: tuple[Path, Path]) -> bool:
    """Nothing journaled, and both feeds read to their newest change."""
    head = "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = '_replicator_changes'"
    cursors = dict(query(state, "SELECT side, cursor FROM cursors"))
    read = [int(cursors.get(i) or 0) for i in (0, 1)]
    heads = [int(scalar(side, head)) for side in sides]
    return read == heads and not scalar(state, "SELECT count(*) FROM journal")


def test_a_delete_read_after_its_rowid_went_to_a_new_row_deletes_only_its_own_record(
    tmp_path: Path,
) -> None:
    """fno deletes X (its newest row) behind a long feed while crm's Y is written to fno:
    X goes on crm, Y is on both sides and its crm row was never deleted."""
    fno = create_db(tmp_path / "fno.db", FNO_SCHEMA)
    crm = create_db(tmp_path / "crm.db", CRM_SCHEMA)
    config = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    seed(fno)
    synced = cli("sync", "--config", str(config))
    assert synced.returncode == 0, synced.stderr
    execute(
        fno, "UPDATE CustomersV3 SET CreditLimit = CreditLimit + 1 WHERE CustomerAccount <> 'X'"
    )
    execute(fno, "DELETE FROM CustomersV3 WHERE CustomerAccount = 'X'")
    execute(crm, "INSERT INTO accounts (company, accountnumber, name) VALUES ('usmf', 'Y', 'new')")
    y = scalar(crm, "SELECT accountid FROM accounts WHERE accountnumber = 'Y'")
    with Daemon(config) as daemon:
        daemon.start()
        wait_for(lambda: caught_up(tmp_path / "state.db", (fno, crm)), "the daemon to catch up")
        assert daemon.stop() == 0, daemon.log_tail()
    ends = "SELECT {} FROM {} WHERE {} IN ('X', 'Y')"
    assert query(crm, ends.format("accountid, name", "accounts", "accountnumber")) == [(y, "new")]
    assert query(fno, ends.format("Name", "CustomersV3", "CustomerAccount")) == [("new",)]
    assert query(crm, "SELECT accountnumber FROM deleted") == [("X",)]
    assert scalar(crm, "SELECT count(*) FROM accounts WHERE creditlimit = 101") == SEED_ROWS


def test_an_insert_or_replace_of_an_integer_id_keeps_its_record_in_step(tmp_path: Path) -> None:
    """``INSERT OR REPLACE`` of an existing INTEGER PRIMARY KEY (SQLite's old upsert idiom:
    no delete trigger fires, the row gets a fresh native id) edits the record, and edits
    of it keep flowing both ways."""
    items = "CREATE TABLE {} (id INTEGER PRIMARY KEY, code TEXT UNIQUE NOT NULL, name TEXT);"
    fno = create_db(tmp_path / "fno.db", items.format("items"))
    crm = create_db(tmp_path / "crm.db", items.format("products"))
    execute(fno, "INSERT INTO items (code, name) VALUES ('A', 'a'), ('B', 'b')")
    config = write_config(
        tmp_path,
        '[[maps]]\nname = "items"\nfno = "items"\ncrm = "products"\n'
        'key = [{ fno = "code", crm = "code" }]\nfields = [{ fno = "name", crm = "name" }]\n',
    )
    with Daemon(config) as daemon:
        daemon.start()
        wait_rows(crm, "SELECT code, name FROM products ORDER BY code", [("A", "a"), ("B", "b")])
        execute(fno, "INSERT OR REPLACE INTO items (id, code, name) VALUES (2, 'B', 'replaced')")
        wait_rows(crm, "SELECT name FROM products WHERE code = 'B'", [("replaced",)])
        execute(crm, "UPDATE products SET name = 'edited on crm' WHERE code = 'B'")
        wait_rows(fno, "SELECT name FROM items WHERE code = 'B'", [("edited on crm",)])
        assert daemon.stop() == 0, daemon.log_tail()
    assert cli("errors", "--config", str(config), "list", "--json").stdout.strip() == "[]"

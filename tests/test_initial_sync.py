"""The initial sync of two SQLite sides that already hold 100,000 partly overlapping records.

60,000 customers exist only on fno, 20,000 only on crm and 20,000 on both, of which
10,000 differ in their name. After the sync every record exists once on each side, is
linked once, and the differing ones carry the ``initial_master``'s values - also when
the first run was killed half-way and the sync was simply run again.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from daemon import cli, create_db, link_count, replicator_argv, wait_for, write_config
from replicator.engine import Replicator

pytestmark = pytest.mark.slow

ONLY_FNO, BOTH, ONLY_CRM = 60_000, 20_000, 20_000
TOTAL = ONLY_FNO + BOTH + ONLY_CRM
# The integration key columns are indexed (not UNIQUE, so a duplicate would show): the
# SQLite side looks each inserted key up first, and without an index that lookup scans
# the table, which makes the sync quadratic (reported; see the test report).
FNO_SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, account TEXT NOT NULL, name TEXT, credit REAL);
CREATE INDEX customers_account ON customers (account);
"""
CRM_SCHEMA = """
CREATE TABLE accounts (
    accountid TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    accountnumber TEXT NOT NULL, name TEXT, creditlimit REAL);
CREATE INDEX accounts_number ON accounts (accountnumber);
"""
MAP = """
[[maps]]
name = "customers"
fno = "customers"
crm = "accounts"
key = [{ fno = "account", crm = "accountnumber" }]
fields = [{ fno = "name", crm = "name" }, { fno = "credit", crm = "creditlimit" }]
initial_master = "%s"
"""


def account(i: int) -> str:
    return f"C{i:06d}"


def differs(i: int) -> bool:
    """Whether record ``i`` is on both sides with a different name on each."""
    return ONLY_FNO <= i < ONLY_FNO + BOTH and i % 2 == 0


def build_sides(directory: Path, master: str) -> Path:
    """Both side files, filled in one transaction each, and the config; returns the config."""
    fno_rows = [(account(i), f"fno name {i}", float(i)) for i in range(ONLY_FNO + BOTH)]
    crm_rows = [
        (account(i), f"crm name {i}" if differs(i) else f"fno name {i}", float(i))
        for i in range(ONLY_FNO, TOTAL)
    ]
    for path, schema, insert, rows in (
        (directory / "fno.db", FNO_SCHEMA, "customers (account, name, credit)", fno_rows),
        (directory / "crm.db", CRM_SCHEMA, "accounts (accountnumber, name, creditlimit)", crm_rows),
    ):
        create_db(path, schema)
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.executemany(f"INSERT INTO {insert} VALUES (?, ?, ?)", rows)
    return write_config(directory, MAP % master)


def assert_synced(directory: Path, master: str) -> None:
    """Every record once on each side, linked once, equal on both, the master's where they
    differed."""
    with closing(sqlite3.connect(directory / "state.db")) as db:
        db.execute(f"ATTACH '{directory / 'fno.db'}' AS fno")
        db.execute(f"ATTACH '{directory / 'crm.db'}' AS crm")

        def one(statement: str) -> object:
            return db.execute(statement).fetchone()[0]

        for table, key in (("fno.customers", "account"), ("crm.accounts", "accountnumber")):
            counts = db.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {table}").fetchone()
            assert counts == (TOTAL, TOTAL), table
        assert one("SELECT count(*) FROM errors") == 0
        assert db.execute(
            "SELECT count(*), count(DISTINCT id0), count(DISTINCT id1), count(DISTINCT key)"
            " FROM links WHERE map = 'customers'"
        ).fetchone() == (TOTAL, TOTAL, TOTAL, TOTAL)
        linked_right = one(
            "SELECT count(*) FROM links AS l"
            " JOIN fno.customers AS f ON f.id = CAST(l.id0 AS INTEGER)"
            " JOIN crm.accounts AS c ON c.accountid = l.id1"
            " WHERE l.key = json_array(f.account) AND c.accountnumber = f.account"
        )
        assert linked_right == TOTAL
        disagree = one(
            "SELECT count(*) FROM fno.customers AS f JOIN crm.accounts AS c"
            " ON c.accountnumber = f.account"
            " WHERE f.name IS NOT c.name OR f.credit IS NOT c.creditlimit"
        )
        assert disagree == 0
        names = dict(
            db.execute("SELECT substr(name, 1, 3), count(*) FROM fno.customers GROUP BY 1")
        )
    # crm holds "crm name" only on the differing records; everything else is "fno name"
    won_by_crm = BOTH // 2 if master == "crm" else 0
    expected = {"fno": TOTAL - won_by_crm, "crm": won_by_crm}
    assert names == {prefix: n for prefix, n in expected.items() if n}


@pytest.mark.anyio
async def test_initial_sync_of_overlapping_sides_links_everything_once(tmp_path: Path) -> None:
    """In-process sync of 100k partly overlapping rows: 100k links, no duplicates, crm wins."""
    config = build_sides(tmp_path, "crm")
    async with Replicator(config, live=False, initial_sync=False) as rep:
        [report] = await rep.sync()
    assert report.linked == TOTAL
    assert report.created == [ONLY_CRM, ONLY_FNO]
    assert report.updated == [BOTH // 2, 0]
    assert report.errors == 0
    assert_synced(tmp_path, "crm")


def test_sync_killed_half_way_then_rerun_ends_the_same(tmp_path: Path) -> None:
    """``replicator sync`` SIGKILLed half-way and run again ends as an uninterrupted sync."""
    config = build_sides(tmp_path, "fno")
    state = tmp_path / "state.db"
    with (tmp_path / "sync.log").open("wb") as log:
        first = subprocess.Popen(
            replicator_argv("--log-format", "json", "sync", "--config", str(config)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: link_count(state) > 0 or first.poll() is not None, "first links", 60)
            assert first.poll() is None, "the sync finished before it could be killed"
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    assert 0 < link_count(state) < TOTAL
    rerun = cli("sync", "--config", str(config), timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_synced(tmp_path, "fno")


def test_sigterm_during_the_initial_sync_of_run_stops_at_once_and_the_next_run_finishes(
    tmp_path: Path,
) -> None:
    """``replicator run`` stopped by SIGTERM mid-sync exits 0 promptly; the next run completes."""
    config = build_sides(tmp_path, "fno")
    state = tmp_path / "state.db"
    with (tmp_path / "run.log").open("wb") as log:
        daemon = subprocess.Popen(
            replicator_argv("--log-format", "json", "run", "--config", str(config)),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: link_count(state) > 0 or daemon.poll() is not None, "first links", 60)
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=10) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
    assert 0 < link_count(state) < TOTAL
    rerun = cli("sync", "--config", str(config), timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_synced(tmp_path, "fno")

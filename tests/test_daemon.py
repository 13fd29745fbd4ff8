"""The daemon end to end: two real SQLite files, ``replicator run`` as a child process.

The sides play F&O (``fno``: integer primary keys) and Dataverse (``crm``: GUID primary
keys chosen by the database). Applications write plain SQL to them from other
processes; the tests watch the files and the CLI, as an operator would.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from daemon import (
    Daemon,
    cli,
    cli_json,
    connect,
    create_db,
    execute,
    link_count,
    query,
    replicator_argv,
    scalar,
    wait_for,
    wait_rows,
    write_config,
)

pytestmark = pytest.mark.slow

FNO_SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, account TEXT NOT NULL, name TEXT, credit REAL);
CREATE TABLE products (id INTEGER PRIMARY KEY, item TEXT NOT NULL, pname TEXT);
"""
CRM_SCHEMA = """
CREATE TABLE accounts (
    accountid TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    accountnumber TEXT NOT NULL,
    name TEXT,
    creditlimit REAL CHECK (creditlimit IS NULL OR creditlimit >= 0));
CREATE TABLE products (
    productid TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    itemnumber TEXT NOT NULL,
    name TEXT);
"""
MAPS = """
[[maps]]
name = "customers"
fno = "customers"
crm = "accounts"
key = [{ fno = "account", crm = "accountnumber" }]
fields = [{ fno = "name", crm = "name" }, { fno = "credit", crm = "creditlimit" }]

[[maps]]
name = "products"
fno = "products"
crm = "products"
key = [{ fno = "item", crm = "itemnumber" }]
fields = [{ fno = "pname", crm = "name" }]
create = ["fno"]
"""
FNO_CUSTOMERS = "SELECT account, name, credit FROM customers ORDER BY account"
CRM_ACCOUNTS = "SELECT accountnumber, name, creditlimit FROM accounts ORDER BY accountnumber"
FNO_PRODUCTS = "SELECT item, pname FROM products ORDER BY item"
CRM_PRODUCTS = "SELECT itemnumber, name FROM products ORDER BY itemnumber"


@dataclass
class Env:
    """The files of one end-to-end setup."""

    fno: Path
    crm: Path
    state: Path
    config: Path

    def customers(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """``(account, name, credit)`` rows of fno and of crm, in key order."""
        return query(self.fno, FNO_CUSTOMERS), query(self.crm, CRM_ACCOUNTS)

    def errors(self, map_name: str) -> int:
        """Entries of the error queue for ``map_name`` (read straight from the store)."""
        if not self.state.exists():
            return 0
        return int(scalar(self.state, "SELECT count(*) FROM errors WHERE map = ?", (map_name,)))

    def backlog(self, map_name: str) -> int:
        """Journal entries of ``map_name`` not yet finished."""
        return int(scalar(self.state, "SELECT count(*) FROM journal WHERE map = ?", (map_name,)))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    """Two side files with the schemas above and a config mapping them."""
    return Env(
        create_db(tmp_path / "fno.db", FNO_SCHEMA),
        create_db(tmp_path / "crm.db", CRM_SCHEMA),
        tmp_path / "state.db",
        write_config(tmp_path, MAPS),
    )


@pytest.fixture
def daemon(env: Env) -> Iterator[Daemon]:
    """The daemon, started on ``env`` (killed at teardown if a test left it running)."""
    with Daemon(env.config) as running:
        running.start()
        yield running


def wait_agree(
    env: Env, expected: list[tuple[Any, ...]] | None = None, timeout: float = 20
) -> None:
    """Wait until both sides hold the same customers (and ``expected`` ones, if given)."""
    last: list[Any] = []

    def agree() -> bool:
        fno, crm = env.customers()
        last[:] = [fno, crm]
        return fno == crm and (expected is None or fno == expected)

    try:
        wait_for(agree, "both sides to agree on the customers", timeout)
    except AssertionError as exc:
        fno, crm = ({row[0]: row[1:] for row in rows} for rows in last)
        differ = {k: (fno.get(k), crm.get(k)) for k in fno.keys() | crm.keys()}
        differ = {k: v for k, v in differ.items() if v[0] != v[1]}
        raise AssertionError(
            f"{exc}\n(fno, crm) by key where they differ: {dict(sorted(differ.items()))}"
            + ("" if expected is None else f"\nexpected: {expected}")
        ) from None


def assert_no_duplicates(env: Env) -> None:
    """Each integration key is held by one row on each side."""
    for path, table, key in (
        (env.fno, "customers", "account"),
        (env.crm, "accounts", "accountnumber"),
    ):
        total, distinct = query(path, f"SELECT count(*), count(DISTINCT {key}) FROM {table}")[0]
        assert total == distinct, f"{path.name}: {total - distinct} duplicate rows in {table}"


# -- replication both ways -----------------------------------------------------------------


def test_fno_changes_reach_crm_and_crm_changes_reach_fno(env: Env, daemon: Daemon) -> None:
    """An insert, an update and a delete on either side appear on the other."""
    execute(env.fno, "INSERT INTO customers (account, name, credit) VALUES ('F1', 'Fabrikam', 10)")
    wait_agree(env, [("F1", "Fabrikam", 10.0)])
    execute(env.fno, "UPDATE customers SET name = 'Fabrikam Inc', credit = 20 WHERE account = 'F1'")
    wait_agree(env, [("F1", "Fabrikam Inc", 20.0)])

    execute(
        env.crm,
        "INSERT INTO accounts (accountnumber, name, creditlimit) VALUES ('K1', 'Contoso', 5)",
    )
    wait_agree(env, [("F1", "Fabrikam Inc", 20.0), ("K1", "Contoso", 5.0)])
    execute(env.crm, "UPDATE accounts SET creditlimit = 6 WHERE accountnumber = 'K1'")
    wait_agree(env, [("F1", "Fabrikam Inc", 20.0), ("K1", "Contoso", 6.0)])

    execute(env.fno, "DELETE FROM customers WHERE account = 'F1'")
    wait_agree(env, [("K1", "Contoso", 6.0)])
    execute(env.crm, "DELETE FROM accounts WHERE accountnumber = 'K1'")
    wait_agree(env, [])
    assert env.errors("customers") == 0


def test_every_change_event_names_map_key_side_and_change_id(env: Env, daemon: Daemon) -> None:
    """The JSON log's ``change`` events carry map, key, side, change_id and outcome."""
    execute(env.fno, "INSERT INTO customers (account, name) VALUES ('F1', 'x')")
    wait_agree(env, [("F1", "x", None)])
    execute(env.fno, "DELETE FROM customers WHERE account = 'F1'")
    daemon.wait_event("change", side="fno", op="delete")
    events = [e for e in daemon.events() if e.get("event") == "change"]
    for event in events:
        assert event["map"] == "customers" and event["side"] in ("fno", "crm")
        assert isinstance(event["change_id"], int) and event["outcome"]
        assert event["key"] == ["F1"], event  # a list, not JSON text inside JSON


def test_changes_made_while_stopped_arrive_after_restart(env: Env) -> None:
    """Inserts, updates and deletes made on both sides while the daemon is down arrive later."""
    with Daemon(env.config) as daemon:
        daemon.start()
        for account in ("F1", "F2", "F3"):
            execute(env.fno, "INSERT INTO customers (account, name) VALUES (?, 'x')", (account,))
        wait_agree(env, [("F1", "x", None), ("F2", "x", None), ("F3", "x", None)])
        assert daemon.stop() == 0

        execute(env.fno, "UPDATE customers SET credit = 1 WHERE account = 'F1'")
        execute(env.crm, "UPDATE accounts SET name = 'y' WHERE accountnumber = 'F2'")
        execute(env.fno, "DELETE FROM customers WHERE account = 'F3'")
        execute(env.fno, "INSERT INTO customers (account, name) VALUES ('F4', 'new on fno')")
        execute(env.crm, "INSERT INTO accounts (accountnumber, name) VALUES ('K1', 'new on crm')")
        assert query(env.crm, "SELECT count(*) FROM accounts") == [(4,)]  # nothing moved yet

        daemon.start()
        wait_agree(
            env,
            [
                ("F1", "x", 1.0),
                ("F2", "y", None),
                ("F4", "new on fno", None),
                ("K1", "new on crm", None),
            ],
        )
        assert daemon.stop() == 0


def test_sigterm_exits_zero_and_loses_nothing(env: Env) -> None:
    """SIGTERM right after a burst of writes exits 0; after a restart every row arrives once."""
    with Daemon(env.config) as daemon:
        daemon.start()
        with closing(connect(env.fno)) as fno, closing(connect(env.crm)) as crm:
            fno.execute("BEGIN")
            fno.executemany(
                "INSERT INTO customers (account, name, credit) VALUES (?, ?, ?)",
                [(f"F{i:04d}", f"fno {i}", float(i)) for i in range(400)],
            )
            fno.execute("COMMIT")
            crm.executemany(  # autocommit: one transaction per row
                "INSERT INTO accounts (accountnumber, name, creditlimit) VALUES (?, ?, ?)",
                [(f"K{i:04d}", f"crm {i}", float(i)) for i in range(100)],
            )
            fno.execute("UPDATE customers SET credit = credit + 1000 WHERE account < 'F0050'")
        assert daemon.stop(signal.SIGTERM) == 0
        assert daemon.wait_event("daemon_stopped")

        daemon.start()
        expected = sorted(
            [(f"F{i:04d}", f"fno {i}", float(i) + (1000 if i < 50 else 0)) for i in range(400)]
            + [(f"K{i:04d}", f"crm {i}", float(i)) for i in range(100)]
        )
        wait_agree(env, expected)
        assert_no_duplicates(env)
        wait_for(lambda: link_count(env.state, "customers") == 500, "500 links")
        assert env.errors("customers") == 0
        assert daemon.stop() == 0


def fno_app(path: Path, count: int, seed: int) -> None:
    """An F&O application: inserts ``count`` customers, each followed by an update of a
    random customer (one it created, or one the replicator brought over)."""
    rng = random.Random(seed)
    with closing(connect(path)) as conn:
        for i in range(count):
            conn.execute(
                "INSERT INTO customers (account, name, credit) VALUES (?, ?, ?)",
                (f"F{i:04d}", f"fno {i}", float(i)),
            )
            conn.execute(
                "UPDATE customers SET credit = ? WHERE id = ?",
                (rng.randrange(999), pick(conn, rng, "customers", "id")),
            )


def crm_app(path: Path, count: int, seed: int) -> None:
    """A CRM application: like ``fno_app``, renaming accounts instead of changing credit."""
    rng = random.Random(seed)
    with closing(connect(path)) as conn:
        for i in range(count):
            conn.execute(
                "INSERT INTO accounts (accountnumber, name, creditlimit) VALUES (?, ?, 0)",
                (f"K{i:04d}", f"crm {i}"),
            )
            conn.execute(
                "UPDATE accounts SET name = ? WHERE accountid = ?",
                (f"renamed {i}", pick(conn, rng, "accounts", "accountid")),
            )


def pick(conn: sqlite3.Connection, rng: random.Random, table: str, pk: str) -> Any:
    """The primary key of a random row of ``table`` as the application sees it now."""
    return rng.choice([r[0] for r in conn.execute(f"SELECT {pk} FROM {table}").fetchall()])


def test_concurrent_writers_on_both_sides_converge(env: Env, daemon: Daemon) -> None:
    """Applications inserting and updating on both sides while the daemon runs end equal."""
    with ThreadPoolExecutor(2) as pool:
        apps = [pool.submit(fno_app, env.fno, 300, 1), pool.submit(crm_app, env.crm, 150, 2)]
        for app in apps:
            app.result(timeout=60)
    wait_agree(env, timeout=30)
    assert len(env.customers()[0]) == 450
    assert_no_duplicates(env)
    wait_for(lambda: link_count(env.state, "customers") == 450, "a link per row")
    assert env.errors("customers") == 0


def fno_head(env: Env) -> int:
    """The sequence number of the newest change fno's triggers recorded."""
    return int(
        scalar(env.fno, "SELECT seq FROM sqlite_sequence WHERE name = '_replicator_changes'") or 0
    )


def fno_cursor(env: Env) -> int:
    """How far the daemon has durably read fno's change feed."""
    return int(scalar(env.state, "SELECT cursor FROM cursors WHERE side = 0") or 0)


def delete_and_reuse_id_while_insert_waits(env: Env) -> None:
    """fno inserts F1; while its insert waits for crm's lock, fno deletes F1 and inserts F2,
    which SQLite gives F1's freed id. Returns once the daemon has handled all of it."""
    impatient = write_config(
        env.config.parent, MAPS, name="impatient.toml", crm_options="busy_timeout_ms = 50\n"
    )
    with Daemon(impatient) as daemon, closing(connect(env.crm)) as blocker:
        daemon.start()
        blocker.execute("BEGIN IMMEDIATE")  # crm refuses the replicator's writes meanwhile
        execute(env.fno, "INSERT INTO customers (account, name) VALUES ('F1', 'x')")
        daemon.wait_event("retrying", map="customers")  # the insert waits at crm's door
        execute(env.fno, "DELETE FROM customers WHERE account = 'F1'")
        execute(env.fno, "INSERT INTO customers (account, name) VALUES ('F2', 'y')")
        assert query(env.fno, "SELECT id FROM customers") == [(1,)]  # SQLite reused the id
        head = fno_head(env)
        wait_for(lambda: fno_cursor(env) >= head, "the daemon to read the delete")
        blocker.execute("ROLLBACK")
        wait_for(lambda: env.backlog("customers") == 0, "the journal to empty")
        assert daemon.stop() == 0


def test_delete_while_the_insert_is_in_flight_is_not_lost(env: Env) -> None:
    """A row deleted on fno while its insert still waits to be written to crm is gone on both."""
    delete_and_reuse_id_while_insert_waits(env)
    assert env.customers() == ([("F2", "y", None)], [("F2", "y", None)])


def test_a_reused_native_id_does_not_unlink_the_record_that_reused_it(env: Env) -> None:
    """After that same scenario F2 is linked: fno's row 1 (under a native id of its own,
    not F1's "1") to crm's F2 row."""
    delete_and_reuse_id_while_insert_waits(env)
    crm_f2 = scalar(env.crm, "SELECT accountid FROM accounts WHERE accountnumber = 'F2'")
    [(key, fno_f2, crm_id)] = query(env.state, "SELECT key, id0, id1 FROM links")
    assert (key, crm_id) == ('["F2"]', crm_f2)
    assert fno_f2 != "1" and fno_f2.split(".")[0] == "1"


def crm_head(env: Env) -> int:
    """The sequence number of the newest change crm's triggers recorded."""
    return int(
        scalar(env.crm, "SELECT seq FROM sqlite_sequence WHERE name = '_replicator_changes'") or 0
    )


def crm_cursor(env: Env) -> int:
    """How far the daemon has durably read crm's change feed."""
    return int(scalar(env.state, "SELECT cursor FROM cursors WHERE side = 1") or 0)


def test_delete_wins_over_an_update_racing_it_on_the_other_side(env: Env) -> None:
    """A row deleted on fno while crm updates it is gone on both sides, not re-created."""
    impatient = write_config(
        env.config.parent, MAPS, name="impatient.toml", crm_options="busy_timeout_ms = 50\n"
    )
    with Daemon(impatient) as daemon, closing(connect(env.crm)) as crm:
        daemon.start()
        execute(env.fno, "INSERT INTO customers (account, name) VALUES ('F1', 'x')")
        wait_agree(env, [("F1", "x", None)])
        wait_for(lambda: link_count(env.state, "customers") == 1, "F1 linked")
        crm.execute("BEGIN IMMEDIATE")  # crm refuses the replicator's writes meanwhile
        execute(env.fno, "DELETE FROM customers WHERE account = 'F1'")
        daemon.wait_event("retrying", map="customers")  # the delete waits at crm's door
        crm.execute("UPDATE accounts SET name = 'renamed on crm' WHERE accountnumber = 'F1'")
        crm.execute("COMMIT")
        crm.execute("BEGIN IMMEDIATE")  # the update is in; the delete still waits
        head = crm_head(env)
        wait_for(lambda: crm_cursor(env) >= head, "the daemon to read crm's update")
        crm.execute("ROLLBACK")
        wait_for(lambda: env.backlog("customers") == 0, "the journal to empty")
        wait_agree(env)
        assert query(env.fno, FNO_CUSTOMERS) == []
        assert daemon.stop() == 0


# -- rules and errors ---------------------------------------------------------------------


def test_product_born_on_crm_is_refused_and_listed_with_the_create_rule(
    env: Env, daemon: Daemon
) -> None:
    """A product created on crm (create = ["fno"]) stays off fno and is listed in ``errors``."""
    execute(env.crm, "INSERT INTO products (itemnumber, name) VALUES ('X-1000', 'Display stand')")
    wait_for(lambda: env.errors("products"), "the refused product in the error queue")
    execute(env.fno, "INSERT INTO products (item, pname) VALUES ('P-1', 'Chair')")
    wait_rows(env.crm, CRM_PRODUCTS, [("P-1", "Chair"), ("X-1000", "Display stand")])
    assert query(env.fno, FNO_PRODUCTS) == [("P-1", "Chair")]

    entries = cli_json("errors", "--config", str(env.config), "list", "--json")
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["map"], entry["side"], entry["kind"]) == ("products", "crm", "rule")
    assert "X-1000" in entry["key"]
    reason = entry["reason"]
    assert "'crm'" in reason and "'fno'" in reason and "products" in reason
    assert "creat" in reason, f"the reason does not name the create rule: {reason!r}"


def test_constraint_failure_lands_in_error_queue_and_others_keep_flowing(
    env: Env, daemon: Daemon
) -> None:
    """A value the crm CHECK refuses goes to the error queue; later records still replicate."""
    execute(env.fno, "INSERT INTO customers (account, name, credit) VALUES ('F1', 'a', 10)")
    wait_agree(env, [("F1", "a", 10.0)])

    execute(env.fno, "UPDATE customers SET credit = -5 WHERE account = 'F1'")
    execute(env.fno, "INSERT INTO customers (account, name, credit) VALUES ('F2', 'b', -1)")
    execute(env.fno, "INSERT INTO customers (account, name, credit) VALUES ('F3', 'c', 3)")
    execute(
        env.crm, "INSERT INTO accounts (accountnumber, name, creditlimit) VALUES ('K1', 'k', 4)"
    )
    wait_for(lambda: env.errors("customers") == 2, "two constraint failures in the error queue")
    wait_rows(env.crm, CRM_ACCOUNTS, [("F1", "a", 10.0), ("F3", "c", 3.0), ("K1", "k", 4.0)])
    wait_rows(
        env.fno,
        FNO_CUSTOMERS,
        [("F1", "a", -5.0), ("F2", "b", -1.0), ("F3", "c", 3.0), ("K1", "k", 4.0)],
    )

    entries = cli_json("errors", "--config", str(env.config), "list", "--json")
    assert sorted(e["key"] for e in entries) == [["F1"], ["F2"]]
    for entry in entries:
        assert (entry["map"], entry["side"]) == ("customers", "fno")
        assert "CHECK constraint failed" in entry["reason"]

    execute(env.fno, "UPDATE customers SET credit = 7 WHERE account = 'F1'")
    wait_rows(env.crm, "SELECT creditlimit FROM accounts WHERE accountnumber = 'F1'", [(7.0,)])


# -- the CLI beside a running daemon ---------------------------------------------------------


def test_status_json_shows_links_backlog_and_errors_per_map(env: Env, daemon: Daemon) -> None:
    """``status --json`` reports the running daemon and each map's links, backlog and errors."""
    for account in ("F1", "F2", "F3"):
        execute(env.fno, "INSERT INTO customers (account, name) VALUES (?, 'x')", (account,))
    execute(env.crm, "INSERT INTO products (itemnumber, name) VALUES ('X-1', 'refused')")
    wait_for(lambda: link_count(env.state, "customers") == 3, "three customer links")
    wait_for(lambda: env.errors("products") == 1, "the refused product")

    def settled() -> dict[str, Any] | None:
        status: dict[str, Any] = cli_json("status", "--config", str(env.config), "--json")
        maps = {m["map"]: m for m in status["maps"]}
        done = status["daemon"] == "running" and all(m["backlog"] == 0 for m in maps.values())
        return maps if done else None

    maps = wait_for(settled, "status to show a running daemon with no backlog")
    assert set(maps) == {"customers", "products"}
    assert (maps["customers"]["links"], maps["customers"]["errors"]) == (3, 0)
    assert (maps["products"]["links"], maps["products"]["errors"]) == (0, 1)
    for m in maps.values():
        assert {"state", "links", "backlog", "parked", "errors", "lag_s"} <= set(m)


def test_pause_holds_a_map_and_resume_catches_up(env: Env, daemon: Daemon) -> None:
    """While a map is paused nothing of it arrives (other maps flow); resume delivers it all."""
    execute(env.fno, "INSERT INTO customers (account, name, credit) VALUES ('F1', 'a', 1)")
    wait_agree(env, [("F1", "a", 1.0)])

    paused = cli("pause", "customers", "--config", str(env.config))
    assert paused.returncode == 0, paused.stderr
    daemon.wait_event("map_held", map="customers")
    execute(env.fno, "UPDATE customers SET credit = 2 WHERE account = 'F1'")
    execute(env.fno, "UPDATE customers SET credit = 3 WHERE account = 'F1'")
    execute(env.fno, "INSERT INTO customers (account, name, credit) VALUES ('F2', 'b', 1)")
    execute(
        env.crm, "INSERT INTO accounts (accountnumber, name, creditlimit) VALUES ('K1', 'k', 1)"
    )
    # a barrier: a later change of a map that is not paused arrives ...
    execute(env.fno, "INSERT INTO products (item, pname) VALUES ('P-1', 'Chair')")
    wait_rows(env.crm, CRM_PRODUCTS, [("P-1", "Chair")])
    wait_for(lambda: env.backlog("customers") >= 4, "the paused changes in the journal")
    # ... while none of the paused map's has
    assert query(env.crm, CRM_ACCOUNTS) == [("F1", "a", 1.0), ("K1", "k", 1.0)]
    assert query(env.fno, FNO_CUSTOMERS) == [("F1", "a", 3.0), ("F2", "b", 1.0)]
    status = cli_json("status", "--config", str(env.config), "--json")
    assert {m["map"]: m["state"] for m in status["maps"]}["customers"] == "paused"

    resumed = cli("resume", "customers", "--config", str(env.config))
    assert resumed.returncode == 0, resumed.stderr
    wait_agree(env, [("F1", "a", 3.0), ("F2", "b", 1.0), ("K1", "k", 1.0)])
    wait_for(lambda: env.backlog("customers") == 0, "the journal to empty after resume")


# -- validate --------------------------------------------------------------------------------


def bad_config(env: Env) -> Path:
    """A config like ``env``'s whose customers map names a column crm does not have."""
    return write_config(
        env.config.parent,
        MAPS.replace('crm = "creditlimit"', 'crm = "no_such_column"'),
        name="bad.toml",
    )


def test_validate_accepts_a_config_matching_the_sides(env: Env) -> None:
    """``validate`` exits 0 when every mapped table and column exists."""
    done = cli("validate", "--config", str(env.config))
    assert done.returncode == 0, done.stderr


def test_output_into_a_closed_pipe_ends_quietly(env: Env) -> None:
    """``replicator status | head -1``: a reader that stops early gets no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        done = subprocess.run(
            replicator_argv("validate", "--config", str(env.config)),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr


def test_validate_rejects_a_missing_column_naming_file_and_field(env: Env) -> None:
    """``validate`` exits 2 for a mapped column that does not exist, naming file and field."""
    done = cli("validate", "--config", str(bad_config(env)))
    assert done.returncode == 2
    assert "bad.toml" in done.stderr and "no_such_column" in done.stderr


def test_validate_names_the_map_of_a_missing_column(env: Env) -> None:
    """``validate``'s message for a missing column names the map it belongs to."""
    done = cli("validate", "--config", str(bad_config(env)))
    assert done.returncode == 2
    assert "customers" in done.stderr, done.stderr


def test_run_refuses_a_missing_column_as_a_bad_config(env: Env) -> None:
    """``run`` with a config naming a missing column exits 2, naming file, map and field."""
    done = cli("--log-format", "json", "run", "--config", str(bad_config(env)), timeout=30)
    assert done.returncode == 2, done.stderr
    for part in ("bad.toml", "customers", "no_such_column"):
        assert part in done.stderr, done.stderr


def test_cli_reads_the_state_store_while_the_daemon_writes(env: Env, daemon: Daemon) -> None:
    """``errors list`` and ``status`` work while the daemon is busy (no lock errors)."""
    with closing(connect(env.fno)) as fno:
        fno.execute("BEGIN")
        fno.executemany(
            "INSERT INTO customers (account, name) VALUES (?, 'x')",
            [(f"F{i:04d}",) for i in range(300)],
        )
        fno.execute("COMMIT")
    for _ in range(3):
        for args in (("status", "--json"), ("errors", "list", "--json")):
            cli_json(args[0], "--config", str(env.config), *args[1:])
    wait_for(lambda: link_count(env.state, "customers") == 300, "300 links")

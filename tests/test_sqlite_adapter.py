"""The SQLite side's own behaviour: schema checks, triggers, constraints, locks, outages."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from structlog.testing import capture_logs

from adapters import sqlite as sqlite_adapter
from adapters.sqlite import SQLiteSide, create_side
from replicator.adapter import EntitySpec, WriteOp
from replicator.errors import ConfigError, SchemaError, TransientError

ITEMS = EntitySpec("items", ("name", "qty"), ("code",))


@pytest.fixture
def anyio_backend() -> str:
    """aiosqlite is asyncio-only."""
    return "asyncio"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another application's connection to the side's database file, with an items table."""
    with closing(sqlite3.connect(tmp_path / "app.db", isolation_level=None)) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, name TEXT, qty INT)")
        yield conn


@pytest.fixture
async def side(tmp_path: Path, app: sqlite3.Connection) -> AsyncIterator[SQLiteSide]:
    """The opened (not yet prepared) side on the application's database."""
    lite = create_side("lite", {"path": "app.db", "busy_timeout_ms": 50}, tmp_path)
    await lite.open()
    yield lite
    await lite.close()


def insert(table: str = "items", **values: object) -> WriteOp:
    return WriteOp(table, "insert", "tok", values=dict(values))


@pytest.mark.anyio
async def test_missing_table_columns_and_bad_filter_are_all_listed(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """prepare names every missing table and column and every filter that does not compile."""
    app.execute("CREATE TABLE pairs (a TEXT, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID")
    specs = [
        EntitySpec("items", ("name", "colour", "size"), ("code",), filter="nope > 1"),
        EntitySpec("ghosts", ("name",), ()),
        EntitySpec("pairs", ("a",), ()),
    ]
    with pytest.raises(SchemaError) as caught:
        await side.prepare(specs)
    message = str(caught.value)
    for part in ("'lite'", "'colour'", "'size'", "'ghosts'", "'nope > 1'", "'pairs'"):
        assert part in message
    assert len(message.splitlines()) == 5


@pytest.mark.anyio
async def test_check_reports_problems_and_installs_nothing(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """check validates like prepare but creates no table and no trigger."""
    with pytest.raises(SchemaError, match="'colour'"):
        await side.check([EntitySpec("items", ("colour",), ())])
    await side.check([ITEMS])
    assert (
        app.execute("SELECT name FROM sqlite_master WHERE name LIKE '%replicator%'").fetchall()
        == []
    )


@pytest.mark.anyio
async def test_prepare_twice_keeps_user_data_and_records_each_change_once(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A second prepare changes no user row and leaves exactly one set of triggers."""
    app.execute("INSERT INTO items (code, name, qty) VALUES ('A', 'Anvil', 1)")
    await side.prepare([ITEMS])
    await side.prepare([ITEMS])
    app.execute("UPDATE items SET qty = 2")
    assert app.execute("SELECT code, name, qty FROM items").fetchall() == [("A", "Anvil", 2)]
    triggers = app.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    assert sorted(t for (t,) in triggers) == [
        "_replicator_items_delete",
        "_replicator_items_insert",
        "_replicator_items_update",
    ]
    assert len((await side.read_changes(None, 100)).changes) == 1


@pytest.mark.anyio
async def test_rows_untouched_since_install_have_version_zero(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A row older than the triggers has version "0", and a write expecting "0" applies."""
    app.execute("INSERT INTO items (id, code, name, qty) VALUES (7, 'A', 'Anvil', 1)")
    await side.prepare([ITEMS])
    row = (await side.get("items", ["7"]))["7"]
    assert (row.version, row.changed_at) == ("0", None)
    op = WriteOp("items", "update", "tok", native_id="7", values={"qty": 5}, expected_version="0")
    [result] = await side.write([op])
    assert result.status == "applied" and result.version not in (None, "0")


@pytest.mark.anyio
async def test_a_column_added_later_is_carried_after_prepare_again(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """After ALTER TABLE ADD COLUMN and a new prepare, changes carry the new column."""
    await side.prepare([ITEMS])
    app.execute("ALTER TABLE items ADD COLUMN colour TEXT")
    await side.prepare([EntitySpec("items", ("name", "qty", "colour"), ("code",))])
    app.execute("INSERT INTO items (code, name, qty, colour) VALUES ('A', 'Anvil', 1, 'red')")
    [change] = (await side.read_changes(None, 100)).changes
    assert change.values == {"code": "A", "name": "Anvil", "qty": 1, "colour": "red"}


@pytest.mark.anyio
async def test_changes_made_while_the_side_was_closed_are_read_after_reopening(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """Writes by another connection while the replicator is down are in the feed later."""
    await side.prepare([ITEMS])
    app.execute("INSERT INTO items (code, name, qty) VALUES ('A', 'Anvil', 1)")
    cursor = (await side.read_changes(None, 100)).cursor
    await side.close()
    app.execute("INSERT INTO items (code, name, qty) VALUES ('B', 'Bolt', 2)")
    await side.open()
    await side.prepare([ITEMS])
    [change] = (await side.read_changes(cursor, 100)).changes
    assert (change.token, change.values) == (None, {"code": "B", "name": "Bolt", "qty": 2})


@pytest.mark.anyio
async def test_an_insert_leaving_the_primary_key_null_is_refused_and_undone(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A TEXT primary key with no default, not mapped: the new row would have no id (NULL
    names no row, and every such row the same) so the insert is refused, naming why."""
    app.execute("CREATE TABLE products (id TEXT PRIMARY KEY, code TEXT, name TEXT)")
    await side.prepare([EntitySpec("products", ("name",), ("code",))])
    results = await side.write([insert("products", code="A", name="a")])
    assert [r.status for r in results] == ["permanent"]
    assert "'products'" in results[0].reason and "no id" in results[0].reason
    assert app.execute("SELECT count(*) FROM products").fetchone() == (0,)


@pytest.mark.anyio
async def test_foreign_key_violation_is_permanent_and_the_rest_applies(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """The user's foreign keys are enforced: a bad item is refused with SQLite's message."""
    app.execute("CREATE TABLE parts (id INTEGER PRIMARY KEY, item INT REFERENCES items(id))")
    app.execute("INSERT INTO items (id, code) VALUES (1, 'A')")
    await side.prepare([EntitySpec("parts", ("item",), ())])
    ops = [insert("parts", item=1), insert("parts", item=999), insert("parts", item=1)]
    results = await side.write(ops)
    assert [r.status for r in results] == ["applied", "permanent", "applied"]
    assert "FOREIGN KEY constraint failed" in results[1].reason
    assert "'lite'" in results[1].reason and "'parts'" in results[1].reason
    assert app.execute("SELECT count(*) FROM parts").fetchone() == (2,)


@pytest.mark.anyio
async def test_a_deferred_foreign_key_refused_at_commit_fails_only_its_item(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A deferred constraint fails the COMMIT; the batch is retried item by item."""
    app.execute(
        "CREATE TABLE parts (id INTEGER PRIMARY KEY,"
        " item INT REFERENCES items(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    app.execute("INSERT INTO items (id, code) VALUES (1, 'A')")
    await side.prepare([EntitySpec("parts", ("item",), ())])
    ops = [insert("parts", item=1), insert("parts", item=999), insert("parts", nope=1)]
    results = await side.write(ops)
    assert [r.status for r in results] == ["applied", "permanent", "permanent"]
    assert "FOREIGN KEY constraint failed" in results[1].reason
    assert "no column named nope" in results[2].reason
    assert app.execute("SELECT item FROM parts").fetchall() == [(1,)]


@pytest.mark.anyio
@pytest.mark.parametrize("action", ["ABORT", "FAIL", "ROLLBACK"])
async def test_a_trigger_raise_refuses_only_its_item(
    side: SQLiteSide, app: sqlite3.Connection, action: str
) -> None:
    """A user trigger's RAISE refuses its item with the message; the batch's others apply."""
    app.execute(
        "CREATE TRIGGER no_junk AFTER INSERT ON items WHEN NEW.name = 'junk'"
        f" BEGIN SELECT RAISE({action}, 'junk is not for sale'); END"
    )
    await side.prepare([ITEMS])
    ops = [insert(code="A", name="ok"), insert(code="B", name="junk"), insert(code="C")]
    results = await side.write(ops)
    assert [r.status for r in results] == ["applied", "permanent", "applied"]
    assert "junk is not for sale" in results[1].reason
    assert app.execute("SELECT code FROM items ORDER BY code").fetchall() == [("A",), ("C",)]
    changes = (await side.read_changes(None, 100)).changes
    assert [c.values and c.values["code"] for c in changes] == ["A", "C"]


@pytest.mark.anyio
async def test_a_guid_primary_key_made_by_a_default_is_the_native_id(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A TEXT primary key generated by a DEFAULT expression comes back as the native id."""
    app.execute(
        "CREATE TABLE docs (id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))), title TEXT)"
    )
    await side.prepare([EntitySpec("docs", ("title",), ())])
    [result] = await side.write([insert("docs", title="Spec")])
    (guid,) = app.execute("SELECT id FROM docs").fetchone()
    assert result.native_id == guid and len(guid) == 32
    assert (await side.get("docs", [guid]))[guid].values == {"title": "Spec"}
    [change] = (await side.read_changes(None, 100)).changes
    assert (change.native_id, change.token) == (guid, "tok")


@pytest.mark.anyio
async def test_a_primary_key_change_is_a_delete_and_an_upsert(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """UPDATE of the primary key is reported as a delete of the old id, then the new id."""
    await side.prepare([ITEMS])
    app.execute("INSERT INTO items (id, code) VALUES (1, 'A')")
    app.execute("UPDATE items SET id = 100 WHERE id = 1")
    changes = (await side.read_changes(None, 100)).changes
    assert [(c.native_id, c.op) for c in changes] == [
        ("1", "upsert"),
        ("1", "delete"),
        ("100", "upsert"),
    ]
    assert changes[2].values == {"code": "A", "name": None, "qty": None}


@pytest.mark.anyio
async def test_a_table_without_primary_key_is_keyed_by_rowid(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A table with no primary key uses the rowid as native id."""
    app.execute("CREATE TABLE notes (body TEXT)")
    await side.prepare([EntitySpec("notes", ("body",), ())])
    [result] = await side.write([insert("notes", body="hello")])
    assert result.native_id == "1"
    assert [r.values for r in (await side.scan("notes", None, 10)).rows] == [{"body": "hello"}]


@pytest.mark.anyio
async def test_scan_orders_integer_ids_numerically(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """scan pages through integer keys in numeric order (2, 9, 10), not text order."""
    await side.prepare([ITEMS])
    app.executemany("INSERT INTO items (id, code) VALUES (?, ?)", [(10, "c"), (2, "a"), (9, "b")])
    first = await side.scan("items", None, 2)
    assert first.next is not None
    rest = await side.scan("items", first.next, 2)
    assert rest.next is None
    assert [r.values["code"] for r in first.rows + rest.rows] == ["a", "b", "c"]


@pytest.mark.anyio
async def test_a_row_leaving_the_filter_is_reported_without_values(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """An upsert of a row outside the filter carries no values (the core reads it)."""
    await side.prepare([EntitySpec("items", ("name",), ("code",), filter="qty > 0")])
    app.execute("INSERT INTO items (code, name, qty) VALUES ('A', 'Anvil', 0)")
    [change] = (await side.read_changes(None, 100)).changes
    assert (change.op, change.values, change.version) == ("upsert", None, None)


@pytest.mark.anyio
async def test_a_locked_database_is_a_transient_error(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """While another connection holds the write lock, write raises TransientError."""
    await side.prepare([ITEMS])
    app.execute("BEGIN EXCLUSIVE")
    with pytest.raises(TransientError, match="locked"):
        await side.write([insert(code="A")])
    app.execute("ROLLBACK")
    [result] = await side.write([insert(code="A")])
    assert result.status == "applied"
    app.execute("INSERT INTO items (code) VALUES ('B')")
    tokens = [c.token for c in (await side.read_changes(None, 100)).changes]
    assert tokens == ["tok", None]


@pytest.mark.anyio
async def test_a_write_cancelled_while_waiting_for_the_lock_leaves_no_transaction(
    tmp_path: Path, app: sqlite3.Connection
) -> None:
    """A write blocked on the lock and cancelled runs to its end, as one transaction (the
    core's intents settle such a write after a crash); the token is cleared after it, the
    next write and the feed are clean."""
    lite = create_side("lite", {"path": "app.db", "busy_timeout_ms": 5000}, tmp_path)
    await lite.open()
    await lite.prepare([ITEMS])
    app.execute("BEGIN EXCLUSIVE")
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lite.write, [insert(code="lost")])
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
            app.execute("ROLLBACK")
        [result] = await lite.write([insert(code="A")])
    app.execute("INSERT INTO items (code) VALUES ('B')")
    changes = (await lite.read_changes(None, 100)).changes
    await lite.close()
    assert result.status == "applied"
    assert [(c.values and c.values["code"], c.token) for c in changes] == [
        ("lost", "tok"),
        ("A", "tok"),
        ("B", None),
    ]


@pytest.mark.anyio
async def test_a_missing_file_is_a_transient_error_on_open(tmp_path: Path) -> None:
    """Opening a side whose file does not exist raises TransientError naming side and file."""
    lite = create_side("lite", {"path": "absent.db"}, tmp_path)
    with pytest.raises(TransientError, match="'lite'.*absent.db"):
        await lite.open()
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.anyio
async def test_own_write_ends_wait_for_changes_at_once(side: SQLiteSide) -> None:
    """data_version ignores this connection's commits, so the side remembers its own writes."""
    await side.prepare([ITEMS])
    await side.read_changes(None, 100)
    await side.write([insert(code="A")])
    with anyio.fail_after(20):  # at once: well inside the 30 s asked for, even when loaded
        await side.wait_for_changes(30)
    assert len((await side.read_changes(None, 100)).changes) == 1


@pytest.mark.anyio
async def test_acknowledged_changes_are_deleted_by_close(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """Acknowledged change rows leave _replicator_changes; cursors keep counting up."""
    await side.prepare([ITEMS])
    app.execute("INSERT INTO items (code) VALUES ('A')")
    read = await side.read_changes(None, 100)
    assert read.cursor == "1"
    await side.ack(read.cursor)
    await side.close()
    assert app.execute("SELECT count(*) FROM _replicator_changes").fetchone() == (0,)
    await side.open()
    assert await side.head_cursor() == "1"
    app.execute("INSERT INTO items (code) VALUES ('B')")
    assert (await side.read_changes(read.cursor, 100)).cursor == "2"


@pytest.mark.anyio
async def test_a_purge_another_writer_holds_off_is_put_off_not_waited_for(
    tmp_path: Path, app: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the application holds the write lock, an ack neither waits out the busy
    timeout nor fails: its purge is put off, and done by a later ack once the lock is free
    (the side's reads never wait behind a purge)."""
    monkeypatch.setattr(sqlite_adapter, "_PURGE_EVERY", 1)
    monkeypatch.setattr(sqlite_adapter, "_PURGE_RETRY", 1)
    side = create_side("lite", {"path": "app.db", "busy_timeout_ms": 60_000}, tmp_path)
    await side.open()
    try:
        await side.prepare([ITEMS])
        app.execute("INSERT INTO items (code) VALUES ('A')")
        first = await side.read_changes(None, 100)
        app.execute("BEGIN IMMEDIATE")
        app.execute("INSERT INTO items (code) VALUES ('B')")
        await side.ack(first.cursor or "")  # put off: no 60 s wait, no "locked" error
        app.execute("COMMIT")
        assert app.execute("SELECT count(*) FROM _replicator_changes").fetchone() == (2,)
        second = await side.read_changes(first.cursor, 100)
        assert [c.values for c in second.changes] == [{"code": "B", "name": None, "qty": None}]
        await side.ack(second.cursor or "")
        assert app.execute("SELECT count(*) FROM _replicator_changes").fetchone() == (0,)
    finally:
        await side.close()


def test_options_are_checked(tmp_path: Path) -> None:
    """Unknown, missing and malformed options are all reported, naming the side."""
    with pytest.raises(ConfigError) as caught:
        create_side("lite", {"colour": "red", "poll_interval_ms": "fast"}, tmp_path)
    problems = caught.value.problems
    assert len(problems) == 3 and all(p.startswith("side 'lite'") for p in problems)


@pytest.mark.anyio
async def test_an_unindexed_integration_key_is_warned_about_once_indexed_not(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """prepare() warns, with the CREATE INDEX to run, when the key columns have no index."""
    spec = EntitySpec("items", ("name",), ("code",))
    with capture_logs() as logs:
        await side.prepare([spec])
    [warning] = [e for e in logs if e["event"] == "sqlite_key_not_indexed"]
    assert (
        warning["entity"] == "items" and "CREATE INDEX items_key ON items (code)" in warning["hint"]
    )
    app.execute("CREATE INDEX items_code ON items (code)")
    with capture_logs() as logs:
        await side.prepare([spec])
    assert [e for e in logs if e["event"] == "sqlite_key_not_indexed"] == []


@pytest.mark.anyio
async def test_an_integer_primary_key_as_integration_key_is_not_warned_about(
    side: SQLiteSide,
) -> None:
    """An INTEGER PRIMARY KEY is the rowid itself (no index in index_list): no warning."""
    with capture_logs() as logs:
        await side.prepare([EntitySpec("items", ("name",), ("id",))])
    assert [e for e in logs if e["event"] == "sqlite_key_not_indexed"] == []


@pytest.mark.anyio
async def test_an_integer_over_64_bits_is_refused_alone(side: SQLiteSide) -> None:
    """SQLite cannot store 2**64: that item answers permanent, the rest of the batch applies."""
    await side.prepare([ITEMS])
    results = await side.write([insert(code="big", qty=2**64), insert(code="ok", qty=1)])
    assert [r.status for r in results] == ["permanent", "applied"]
    assert "too large" in results[0].reason
    assert [r.values["code"] for r in (await side.scan("items", None, 10)).rows] == ["ok"]


@pytest.mark.anyio
async def test_a_read_queued_behind_a_trigger_repair_uses_the_re_created_table(
    tmp_path: Path,
) -> None:
    """The table is looked up when the call runs, not when it was queued: a get waiting
    behind a read that re-installs the triggers of a re-created table finds its rows."""
    with closing(sqlite3.connect(tmp_path / "app.db")) as conn:
        conn.execute("CREATE TABLE items (code TEXT, name TEXT, qty INT)")  # rowid ids
    lite = create_side("lite", {"path": "app.db", "busy_timeout_ms": 5000}, tmp_path)
    await lite.open()
    await lite.prepare([ITEMS])
    with closing(sqlite3.connect(tmp_path / "app.db", isolation_level=None)) as app:
        app.execute("DROP TABLE items")
        app.execute("CREATE TABLE items (id TEXT PRIMARY KEY, code TEXT, name TEXT, qty INT)")
        app.execute("INSERT INTO items VALUES ('g1', 'A', 'a', 1)")
        app.execute("BEGIN IMMEDIATE")  # the repair's transaction waits for this one
        got: dict[str, object] = {}

        async def get() -> None:
            got.update(await lite.get("items", ["g1"]))

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(lite.read_changes, None, 100)
                await wait_all_tasks_blocked()  # the read holds the side, waiting
                tg.start_soon(get)
                await wait_all_tasks_blocked()  # the get waits for the side
                app.execute("COMMIT")
    await lite.close()
    assert list(got) == ["g1"]


def test_finding_rows_by_key_looks_each_key_up_in_the_keys_index() -> None:
    """``find`` joins the keys asked for to the table, so SQLite searches the key's unique
    index (before: ``IN (VALUES ...)``, a scan of the whole table for every batch)."""
    from adapters import _sqlite_schema as sql

    with closing(sqlite3.connect(":memory:")) as db:
        db.execute(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY NOT NULL, company TEXT, number TEXT,"
            " name TEXT, UNIQUE (company, number))"
        )
        for statement in sql.INSTALL:
            db.execute(statement)
        spec = EntitySpec("accounts", ("name",), ("company", "number"))
        table = sql.inspect(db, spec)
        assert not isinstance(table, list)
        statement = table.by_keys(spec.key_fields, 2)
        plan = [r[3] for r in db.execute(f"EXPLAIN QUERY PLAN {statement}", ["a", "1"] * 2)]
        assert any(p.startswith("SEARCH t USING INDEX") for p in plan), plan
        assert not any(p.startswith("SCAN t") for p in plan), plan
        db.execute("INSERT INTO accounts VALUES ('x', 'a', '1', 'A1'), ('y', 'a', '2', 'A2')")
        found = sql.rows_by_keys(db, table, spec.key_fields, [("a", 1), ("b", "1")], True)
        assert [(k, r.native_id) for k, r in found.items()] == [(("a", 1), "x")]


@pytest.mark.anyio
async def test_the_echo_of_our_update_comes_without_values_a_users_update_with(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """The feed does not read the row of an update carrying our token (the core drops it by
    the token); our insert's echo keeps its values (recovery tells the row by its key),
    and another application's update has them as always."""
    await side.prepare([ITEMS])
    [made] = await side.write([insert(code="A", name="Anvil", qty=1)])
    nid = str(made.native_id)
    await side.write([WriteOp("items", "update", "tok2", native_id=nid, values={"qty": 2})])
    app.execute("UPDATE items SET qty = 3")
    ours_insert, ours_update, users = (await side.read_changes(None, 100)).changes
    assert (ours_insert.token, ours_insert.values) == (
        "tok",
        {"code": "A", "name": "Anvil", "qty": 3},
    )
    assert (ours_update.token, ours_update.values, ours_update.version) == ("tok2", None, None)
    assert (users.token, users.values) == (None, {"code": "A", "name": "Anvil", "qty": 3})

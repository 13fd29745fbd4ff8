"""The SQLite side's native ids: one row's for its whole life, never given to another row.

SQLite gives the largest deleted rowid (and INTEGER PRIMARY KEY) to the next insert; the
side must not pass that on as the same native id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from adapters.sqlite import SQLiteSide, create_side
from replicator.adapter import EntitySpec, WriteOp

CUSTOMERS = EntitySpec("cust", ("name",), ("area", "account"))
SCHEMAS = {
    "composite primary key (rowid)": (
        "CREATE TABLE cust (area TEXT, account TEXT, name TEXT, PRIMARY KEY (area, account))"
    ),
    "INTEGER PRIMARY KEY": (
        "CREATE TABLE cust (RecId INTEGER PRIMARY KEY, area TEXT, account TEXT, name TEXT,"
        " UNIQUE (area, account))"
    ),
}


@pytest.fixture
def anyio_backend() -> str:
    """aiosqlite is asyncio-only."""
    return "asyncio"


@pytest.fixture(params=list(SCHEMAS))
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """An application's connection to the side's file, with a customers table."""
    with closing(sqlite3.connect(tmp_path / "app.db", isolation_level=None)) as conn:
        conn.execute(SCHEMAS[request.param])
        yield conn


@pytest.fixture
async def side(tmp_path: Path, app: sqlite3.Connection) -> AsyncIterator[SQLiteSide]:
    """The opened side on the application's database."""
    lite = create_side("lite", {"path": "app.db"}, tmp_path)
    await lite.open()
    yield lite
    await lite.close()


def add(app: sqlite3.Connection, account: str) -> None:
    app.execute("INSERT INTO cust (area, account, name) VALUES ('usmf', ?, ?)", (account, account))


def insert_op(account: str) -> WriteOp:
    values = {"area": "usmf", "account": account, "name": account}
    return WriteOp("cust", "insert", "tok", values=values, key_fields=("area", "account"))


async def native_ids(side: SQLiteSide) -> dict[str, str]:
    """Native id by account, as the side names the rows now."""
    return {r.values["account"]: r.native_id for r in (await side.scan("cust", None, 100)).rows}


@pytest.mark.anyio
async def test_the_newest_rows_id_is_not_given_to_the_row_written_after_its_delete(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """X (the newest row) deleted, then Y written by the replicator: Y gets its own id,
    X's id names no row, and a delete or update by X's id leaves Y alone."""
    await side.prepare([CUSTOMERS])
    add(app, "A")
    add(app, "X")
    x = (await native_ids(side))["X"]
    app.execute("DELETE FROM cust WHERE account = 'X'")
    [written] = await side.write([insert_op("Y")])
    assert written.status == "applied" and written.native_id not in (None, x)
    assert await side.get("cust", [x]) == {}
    assert list(await side.get("cust", [str(written.native_id)])) == [written.native_id]
    update = WriteOp("cust", "update", "t2", native_id=x, values={"name": "stolen"})
    delete = WriteOp("cust", "delete", "t3", native_id=x)
    assert [r.status for r in await side.write([update, delete])] == ["conflict", "applied"]
    assert app.execute("SELECT account, name FROM cust ORDER BY 1").fetchall() == [
        ("A", "A"),
        ("Y", "Y"),
    ]
    feed = [(c.native_id, c.op) for c in (await side.read_changes(None, 100)).changes]
    assert feed == [
        ((await native_ids(side))["A"], "upsert"),
        (x, "upsert"),
        (x, "delete"),
        (written.native_id, "upsert"),
    ]


@pytest.mark.anyio
async def test_a_row_re_inserted_by_the_application_after_a_delete_is_a_new_row(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """Deleting the newest row twice over hands out three different native ids, each kept
    by its row through updates and a new prepare."""
    await side.prepare([CUSTOMERS])
    seen = []
    for account in ("X1", "X2", "X3"):
        add(app, account)
        seen.append((await native_ids(side))[account])
        if account != "X3":
            app.execute("DELETE FROM cust WHERE account = ?", (account,))
    assert len(set(seen)) == 3
    app.execute("UPDATE cust SET name = 'renamed' WHERE account = 'X3'")
    await side.prepare([CUSTOMERS])
    assert (await native_ids(side))["X3"] == seen[2]
    changes = (await side.read_changes(None, 100)).changes
    assert {c.native_id for c in changes if c.values and c.values["account"] == "X3"} == {seen[2]}
    [updated] = await side.write(
        [WriteOp("cust", "update", "t", native_id=seen[2], values={"name": "again"})]
    )
    assert (updated.status, updated.native_id) == ("applied", seen[2])


@pytest.mark.anyio
async def test_rows_older_than_the_install_keep_their_plain_rowid(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """Native ids given before this release (plain rowids) stay valid: no state migration."""
    add(app, "A")
    add(app, "B")
    await side.prepare([CUSTOMERS])
    assert await native_ids(side) == {"A": "1", "B": "2"}
    app.execute("DELETE FROM cust WHERE account = 'B'")
    add(app, "C")
    assert (await native_ids(side))["C"] != "2"
    assert list(await side.get("cust", ["1", "2"])) == ["1"]


@pytest.mark.anyio
async def test_an_upgrade_does_not_give_out_an_id_the_feed_still_names(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """Installed over an earlier release's bookkeeping (no top yet), the newest row's id
    whose delete is still in the feed is not handed out again."""
    await side.prepare([CUSTOMERS])
    for account in ("A", "B", "C"):
        add(app, account)
    c = (await native_ids(side))["C"]
    app.execute("DELETE FROM cust WHERE account = 'C'")
    app.execute("DELETE FROM _replicator_rowid_tops")  # as an earlier release left it
    await side.prepare([CUSTOMERS])
    add(app, "D")
    assert (await native_ids(side))["D"] != c

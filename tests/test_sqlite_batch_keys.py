"""The SQLite side checks the keys of a batch's inserts in one query, with row-by-row answers."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from adapters.sqlite import SQLiteSide, create_side
from replicator.adapter import EntitySpec, WriteOp

ITEMS = EntitySpec("items", ("name",), ("code",))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another application's connection to the side's file, with an items table."""
    with closing(sqlite3.connect(tmp_path / "app.db", isolation_level=None)) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT, name TEXT)")
        yield conn


@pytest.fixture
async def side(tmp_path: Path, app: sqlite3.Connection) -> AsyncIterator[SQLiteSide]:
    """The prepared side on the application's file."""
    lite = create_side("lite", {"path": "app.db"}, tmp_path)
    await lite.open()
    await lite.prepare([ITEMS])
    yield lite
    await lite.close()


def insert(code: object, name: str = "n") -> WriteOp:
    return WriteOp(
        "items",
        "insert",
        f"t-{code}-{name}",
        values={"code": code, "name": name},
        key_fields=("code",),
    )


def codes(app: sqlite3.Connection) -> list[tuple[object, str]]:
    return app.execute("SELECT code, name FROM items ORDER BY id").fetchall()


@pytest.mark.anyio
async def test_an_existing_key_and_a_key_repeated_in_the_batch_conflict(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A key a row holds, and the second insert of a key in one batch, answer conflict."""
    app.execute("INSERT INTO items (code, name) VALUES ('A', 'old')")
    results = await side.write([insert("A"), insert("B", "first"), insert("B", "second")])
    assert [r.status for r in results] == ["conflict", "applied", "conflict"]
    assert results[0].current is not None and results[0].current.values["name"] == "old"
    assert results[2].current is not None and results[2].current.values["name"] == "first"
    assert codes(app) == [("A", "old"), ("B", "first")]


@pytest.mark.anyio
async def test_a_key_moved_or_freed_earlier_in_the_batch_is_asked_again(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """An update that gives a row key C, and a delete that frees key D, are seen by the
    inserts after them in the same batch."""
    rid = app.execute("INSERT INTO items (code, name) VALUES ('X', 'x')").lastrowid
    gone = app.execute("INSERT INTO items (code, name) VALUES ('D', 'd')").lastrowid
    ops = [
        WriteOp("items", "update", "u", native_id=str(rid), values={"code": "C"}),
        WriteOp("items", "delete", "d", native_id=str(gone)),
        insert("C"),
        insert("D", "new"),
    ]
    assert [r.status for r in await side.write(ops)] == [
        "applied",
        "applied",
        "conflict",
        "applied",
    ]
    assert codes(app) == [("C", "x"), ("D", "new")]


@pytest.mark.anyio
async def test_keys_that_sqlite_takes_as_equal_conflict(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """``1`` and ``'1'`` are one key, as in a row-by-row check."""
    app.execute("INSERT INTO items (code, name) VALUES ('1', 'text')")
    results = await side.write([insert(1), insert(2), insert("2")])
    assert [r.status for r in results] == ["conflict", "applied", "conflict"]

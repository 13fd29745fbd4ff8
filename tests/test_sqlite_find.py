"""The SQLite side's batched ``find``: one query per chunk of keys that searches the key's
index (a join on the keys' VALUES), matching keys as SQLite's ``=`` does."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from adapters import _sqlite_schema as sql
from adapters.sqlite import SQLiteSide, create_side
from replicator.adapter import EntitySpec

SINGLE = EntitySpec("items", ("name",), ("code",))
COMPOSITE = EntitySpec("accounts", ("name",), ("company", "number"))
SCHEMA = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT UNIQUE, name TEXT)",
    "CREATE TABLE accounts (id TEXT PRIMARY KEY NOT NULL, company TEXT, number TEXT,"
    " name TEXT, UNIQUE (company, number))",
    "CREATE TABLE loose (id INTEGER PRIMARY KEY, code TEXT, name TEXT)",  # no index
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """Another application's connection to the side's file, with the tables above."""
    with closing(sqlite3.connect(tmp_path / "app.db", isolation_level=None)) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        yield conn


@pytest.fixture
async def side(tmp_path: Path, app: sqlite3.Connection) -> AsyncIterator[SQLiteSide]:
    """The prepared side on the application's file."""
    lite = create_side("lite", {"path": "app.db"}, tmp_path)
    await lite.open()
    await lite.prepare([SINGLE, COMPOSITE, EntitySpec("loose", ("name",), ("code",))])
    yield lite
    await lite.close()


def plan(db: sqlite3.Connection, spec: EntitySpec, count: int) -> list[str]:
    """SQLite's query plan of ``find``'s statement for ``count`` keys of ``spec``."""
    for statement in sql.INSTALL:
        db.execute(statement)
    table = sql.inspect(db, spec)
    assert not isinstance(table, list), table
    statement = table.by_keys(spec.key_fields, count)
    params = ["k"] * (count * len(spec.key_fields))
    return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params)]


@pytest.mark.parametrize("spec", [SINGLE, COMPOSITE], ids=["single", "composite"])
def test_find_searches_the_keys_index_for_single_and_composite_keys(spec: EntitySpec) -> None:
    """For a key of one field or of several, the plan looks each key up in the table's
    unique index and never scans the table (``IN (VALUES ...)`` scanned it)."""
    with closing(sqlite3.connect(":memory:")) as db:
        for statement in SCHEMA:
            db.execute(statement)
        steps = plan(db, spec, 500)
    assert any(s.startswith("SEARCH t USING") and "INDEX" in s for s in steps), steps
    assert not any(s.startswith("SCAN t") for s in steps), steps


@pytest.mark.anyio
async def test_a_null_key_part_matches_no_row(side: SQLiteSide, app: sqlite3.Connection) -> None:
    """A key with a NULL part finds nothing, not even a row whose part is NULL too (as with
    ``IN`` before, and as SQLite's UNIQUE treats NULLs: distinct)."""
    app.execute("INSERT INTO accounts VALUES ('x', NULL, '1', 'no company')")
    app.execute("INSERT INTO accounts VALUES ('y', 'a', '1', 'A1')")
    app.execute("INSERT INTO items (code, name) VALUES (NULL, 'no code')")
    found = await side.find("accounts", ("company", "number"), [(None, "1"), ("a", "1")])
    assert {k: r.native_id for k, r in found.items()} == {("a", "1"): "y"}
    assert await side.find("items", ("code",), [(None,)]) == {}


@pytest.mark.anyio
async def test_find_matches_keys_as_sqlite_does_in_one_answer_per_key(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """``1`` finds the row whose TEXT key is ``'1'`` (the column's affinity), each key asked
    is answered under the key as asked, and a key asked twice is answered once."""
    app.executemany("INSERT INTO items (code, name) VALUES (?, ?)", [("1", "one"), ("2", "two")])
    found = await side.find("items", ("code",), [(1,), ("2",), (1,), ("3",)])
    assert {k: r.values["name"] for k, r in found.items()} == {(1,): "one", ("2",): "two"}


@pytest.mark.anyio
async def test_find_on_a_key_without_an_index_still_answers(
    side: SQLiteSide, app: sqlite3.Connection
) -> None:
    """A key column with no index (the side warns at prepare) is still found: SQLite builds
    an automatic index for the join instead of scanning the table once per key."""
    with closing(sqlite3.connect(":memory:")) as db:
        for statement in SCHEMA:
            db.execute(statement)
        steps = plan(db, EntitySpec("loose", ("name",), ("code",)), 500)
    assert any("AUTOMATIC" in s for s in steps), steps
    app.executemany(
        "INSERT INTO loose (code, name) VALUES (?, ?)", [(f"c{i}", "n") for i in range(50)]
    )
    found = await side.find("loose", ("code",), [(f"c{i}",) for i in range(0, 60, 7)])
    assert set(found) == {(f"c{i}",) for i in range(0, 50, 7)}

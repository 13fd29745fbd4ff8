"""The adapter contract, run against every side: the memory reference and SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import msgspec
import pytest
from anyio import wait_all_tasks_blocked

from adapters.memory import MemorySide
from adapters.sqlite import create_side
from replicator.adapter import UNKNOWN_VERSION, EntitySpec, Row, ScanPage, Side, Values, WriteOp
from replicator.errors import SchemaError

FIELDS = ("name", "kind", "qty")
SPECS = [
    EntitySpec("items", FIELDS, ("code",)),
    EntitySpec("parts", FIELDS, ("code",), filter="kind = 'a'"),
]
TABLE = "(id INTEGER PRIMARY KEY, code TEXT, name TEXT, kind TEXT, qty INTEGER CHECK (qty >= 0))"


@pytest.fixture
def anyio_backend() -> str:
    """aiosqlite is asyncio-only."""
    return "asyncio"


class Harness:
    """A side under test, and the application that edits it behind the replicator's back."""

    side: Side

    def app_insert(self, entity: str, values: Values) -> str:
        raise NotImplementedError

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        raise NotImplementedError

    def app_delete(self, entity: str, native_id: str) -> None:
        raise NotImplementedError

    def refused(self, values: Values) -> Values:
        """Values that this side will refuse permanently when written next."""
        raise NotImplementedError


class MemoryHarness(Harness):
    def __init__(self) -> None:
        self.memory = MemorySide("mem", tables=["items", "parts"])
        self.side = self.memory

    def app_insert(self, entity: str, values: Values) -> str:
        return self.memory.insert(entity, values)

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        self.memory.update(entity, native_id, values)

    def app_delete(self, entity: str, native_id: str) -> None:
        self.memory.delete(entity, native_id)

    def refused(self, values: Values) -> Values:
        self.memory.fail_writes(1, "permanent")
        return values


class SQLiteHarness(Harness):
    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "side.db"
        self.app = sqlite3.connect(path, isolation_level=None)
        for table in ("items", "parts"):
            self.app.execute(f"CREATE TABLE {table} {TABLE}")
        self.side = create_side("lite", {"path": "side.db", "poll_interval_ms": 5}, tmp_path)

    def app_insert(self, entity: str, values: Values) -> str:
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        sql = f"INSERT INTO {entity} ({names}) VALUES ({marks})"
        return str(self.app.execute(sql, list(values.values())).lastrowid)

    def app_update(self, entity: str, native_id: str, values: Values) -> None:
        sets = ", ".join(f"{name} = ?" for name in values)
        self.app.execute(f"UPDATE {entity} SET {sets} WHERE id = ?", [*values.values(), native_id])

    def app_delete(self, entity: str, native_id: str) -> None:
        self.app.execute(f"DELETE FROM {entity} WHERE id = ?", [native_id])

    def refused(self, values: Values) -> Values:
        return {**values, "qty": -1}


@pytest.fixture(params=["memory", "sqlite"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    harness: Harness = MemoryHarness() if request.param == "memory" else SQLiteHarness(tmp_path)
    await harness.side.open()
    await harness.side.prepare(SPECS)
    yield harness
    await harness.side.close()
    if isinstance(harness, SQLiteHarness):
        harness.app.close()


def item(code: str, name: str = "Widget", kind: str = "a", qty: int = 1) -> Values:
    return {"code": code, "name": name, "kind": kind, "qty": qty}


@pytest.mark.anyio
async def test_check_refuses_an_entity_that_maps_no_field(h: Harness) -> None:
    """check raises SchemaError naming the side and the entity."""
    with pytest.raises(SchemaError, match="items"):
        await h.side.check([EntitySpec("items", (), ("code",))])
    await h.side.check(SPECS)


@pytest.mark.anyio
async def test_application_changes_appear_in_order_with_current_values(h: Harness) -> None:
    """App inserts, updates and deletes are reported in order, tokenless, as rows are now."""
    a = h.app_insert("items", item("A1"))
    b = h.app_insert("items", item("B1"))
    h.app_update("items", a, {"name": "Gadget"})
    h.app_delete("items", b)
    batch = await h.side.read_changes(None, 100)
    assert [(c.native_id, c.op) for c in batch.changes] == [
        (a, "upsert"),
        (b, "upsert"),
        (a, "upsert"),
        (b, "delete"),
    ]
    assert all(c.token is None for c in batch.changes)
    now = (await h.side.get("items", [a]))[a]
    assert now.values == item("A1", name="Gadget")
    for change in (batch.changes[0], batch.changes[2]):
        assert (change.values, change.version) == (now.values, now.version)
    assert batch.changes[1].values is None and batch.changes[3].values is None


@pytest.mark.anyio
async def test_replicator_write_carries_its_token_into_the_feed(h: Harness) -> None:
    """The change a replicator write causes comes back with that write's token."""
    [result] = await h.side.write([WriteOp("items", "insert", "tok-1", values=item("C1"))])
    assert result.status == "applied" and result.native_id is not None
    [change] = (await h.side.read_changes(None, 100)).changes
    assert (change.native_id, change.token, change.version) == (
        result.native_id,
        "tok-1",
        result.version,
    )
    assert change.values == item("C1")


@pytest.mark.anyio
async def test_reading_does_not_consume(h: Harness) -> None:
    """The same cursor returns the same changes; the returned cursor returns nothing new."""
    h.app_insert("items", item("A1"))
    first = await h.side.read_changes(None, 100)
    again = await h.side.read_changes(None, 100)
    assert first == again and len(first.changes) == 1 and first.cursor is not None
    after = await h.side.read_changes(first.cursor, 100)
    assert after.changes == [] and after.cursor == first.cursor


@pytest.mark.anyio
async def test_read_changes_honours_the_limit(h: Harness) -> None:
    """At most ``limit`` changes come back; the cursor continues where they stopped."""
    ids = [h.app_insert("items", item(f"L{i}")) for i in range(3)]
    first = await h.side.read_changes(None, 2)
    rest = await h.side.read_changes(first.cursor, 2)
    assert [c.native_id for c in first.changes + rest.changes] == ids
    assert rest.cursor == await h.side.head_cursor()


@pytest.mark.anyio
async def test_ack_lets_the_side_forget(h: Harness) -> None:
    """After ``ack(cursor)`` reading from the start returns only the later changes."""
    h.app_insert("items", item("A1"))
    h.app_insert("items", item("A2"))
    read = await h.side.read_changes(None, 100)
    assert read.cursor is not None
    later = h.app_insert("items", item("A3"))
    await h.side.ack(read.cursor)
    assert [c.native_id for c in (await h.side.read_changes(None, 100)).changes] == [later]


@pytest.mark.anyio
async def test_conditional_update_with_stale_version_conflicts(h: Harness) -> None:
    """An update expecting an old version answers conflict with the row as it is now."""
    a = h.app_insert("items", item("A1"))
    old = (await h.side.get("items", [a]))[a]
    h.app_update("items", a, {"name": "Changed"})
    op = WriteOp("items", "update", "tok", native_id=a, values={"name": "Mine"})
    [result] = await h.side.write([msgspec.structs.replace(op, expected_version=old.version)])
    now = (await h.side.get("items", [a]))[a]
    assert result.status == "conflict" and result.current is not None
    assert result.current.version == now.version != old.version
    assert now.values["name"] == "Changed"
    [fresh] = await h.side.write([msgspec.structs.replace(op, expected_version=now.version)])
    assert fresh.status == "applied"
    assert (await h.side.get("items", [a]))[a].values["name"] == "Mine"


@pytest.mark.anyio
async def test_an_update_expecting_the_unknown_version_conflicts_with_the_row(h: Harness) -> None:
    """``UNKNOWN_VERSION`` matches no row: the write changes nothing and returns the row."""
    a = h.app_insert("items", item("A1"))
    op = WriteOp("items", "update", "tok", a, {"name": "Mine"}, expected_version=UNKNOWN_VERSION)
    [result] = await h.side.write([op])
    now = (await h.side.get("items", [a]))[a]
    assert result.status == "conflict" and result.current == now
    assert now.values["name"] != "Mine"


@pytest.mark.anyio
async def test_insert_with_an_existing_key_conflicts(h: Harness) -> None:
    """An insert whose integration key exists answers conflict holding the existing row."""
    a = h.app_insert("items", item("K1"))
    op = WriteOp("items", "insert", "tok", values=item("K1", name="Dup"), key_fields=("code",))
    [result] = await h.side.write([op])
    assert result.status == "conflict" and result.current is not None
    assert result.current.native_id == a and result.current.values["name"] == "Widget"


@pytest.mark.anyio
async def test_delete_is_idempotent(h: Harness) -> None:
    """Deleting a row twice answers applied twice; the row is gone."""
    a = h.app_insert("items", item("D1"))
    op = WriteOp("items", "delete", "tok", native_id=a)
    assert [r.status for r in await h.side.write([op, op])] == ["applied", "applied"]
    assert await h.side.get("items", [a]) == {}


@pytest.mark.anyio
async def test_get_find_and_scan_honour_the_filter(h: Harness) -> None:
    """Rows outside the entity's filter are invisible to get, find and scan."""
    a1 = h.app_insert("parts", item("P1", kind="a"))
    b1 = h.app_insert("parts", item("P2", kind="b"))
    a2 = h.app_insert("parts", item("P3", kind="a"))
    assert list(await h.side.get("parts", [a1, b1])) == [a1]
    found = await h.side.find("parts", ["code"], [("P1",), ("P2",)])
    assert list(found) == [("P1",)] and found[("P1",)].native_id == a1
    assert [r.native_id for r in await scanned(h.side, "parts", 10)] == [a1, a2]
    assert [r.native_id for r in await scanned(h.side, "parts", 1)] == [a1, a2]


async def scanned(side: Side, entity: str, limit: int) -> list[Row]:
    """Every row of a scan, following the page tokens until ``next`` is None."""
    rows: list[Row] = []
    page: str | None = None
    for _ in range(1000):
        found = await side.scan(entity, page, limit)
        assert len(found.rows) <= limit
        rows += found.rows
        if found.next is None:
            return rows
        page = found.next
    raise AssertionError("the scan never ended")


@pytest.mark.anyio
async def test_scan_pages_by_token_and_gives_each_row_once(h: Harness) -> None:
    """Paged by its tokens, a scan gives every row once; the last page has no next token."""
    ids = [h.app_insert("items", item(f"S{i}")) for i in range(5)]
    for limit in (1, 2, 5, 10):
        assert sorted(r.native_id for r in await scanned(h.side, "items", limit)) == sorted(ids)
    last = await h.side.scan("items", None, 10)
    assert last.next is None and len(last.rows) == 5


@pytest.mark.anyio
async def test_an_empty_entity_scans_as_one_empty_last_page(h: Harness) -> None:
    """A scan of an entity with no rows answers no rows and no next page."""
    assert await h.side.scan("items", None, 10) == ScanPage(rows=[], next=None)


@pytest.mark.anyio
async def test_one_permanent_failure_does_not_fail_the_others(h: Harness) -> None:
    """A refused item answers permanent; the other items of the batch are applied."""
    ops = [
        WriteOp("items", "insert", "t1", values=h.refused(item("X1"))),
        WriteOp("items", "insert", "t2", values=item("X2")),
        WriteOp("items", "insert", "t3", values=item("X3")),
    ]
    results = await h.side.write(ops)
    assert [r.status for r in results] == ["permanent", "applied", "applied"]
    assert results[0].reason
    rows = await scanned(h.side, "items", 10)
    assert sorted(r.values["code"] for r in rows) == ["X2", "X3"]


@pytest.mark.anyio
async def test_wait_for_changes_returns_early_after_an_application_write(h: Harness) -> None:
    """With nothing new the wait lasts; an application write ends it early."""
    await h.side.read_changes(None, 100)
    with anyio.move_on_after(0.1) as idle:
        await h.side.wait_for_changes(30)
    assert idle.cancelled_caught
    woke = anyio.Event()

    async def waiter() -> None:
        await h.side.wait_for_changes(30)
        woke.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await wait_all_tasks_blocked()
        h.app_insert("items", item("W1"))
        with anyio.fail_after(5):
            await woke.wait()

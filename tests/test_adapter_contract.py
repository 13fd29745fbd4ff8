"""The adapter contract, run against every side: the memory reference, SQLite files and the
Dataverse emulator (``contract_sides``). Where the protocol lets sides differ, a test asks
the side's declared capability (``carries_tokens``, ``coalesces_changes``, ``ack_forgets``)
and checks the promise that goes with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import msgspec
import pytest
from anyio import wait_all_tasks_blocked

from contract_sides import SIDES, Harness, harness
from replicator.adapter import UNKNOWN_VERSION, EntitySpec, Row, ScanPage, Side, Values, WriteOp
from replicator.errors import SchemaError


@pytest.fixture(params=SIDES)
async def h(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    async with harness(request.param, tmp_path, monkeypatch) as prepared:
        yield prepared


def item(code: str, name: str = "Widget", kind: str = "a", qty: int = 1) -> Values:
    return {"code": code, "name": name, "kind": kind, "qty": qty}


@pytest.mark.anyio
async def test_check_refuses_an_entity_that_maps_no_field(h: Harness) -> None:
    """check raises SchemaError naming the side and the entity."""
    with pytest.raises(SchemaError, match="items"):
        await h.side.check([EntitySpec("items", (), ("code",))])
    await h.side.check(h.specs)


def assert_feed_reports(
    side: Side, reported: list[tuple[str, str]], made: list[tuple[str, str]]
) -> None:
    """The feed reported the changes made: all of them in order; or, on a side that
    coalesces changes, per row a subsequence of the row's changes ending with its last."""
    if not getattr(side, "coalesces_changes", False):
        assert reported == made
        return
    assert {nid for nid, _ in reported} <= {nid for nid, _ in made}
    for row in dict.fromkeys(nid for nid, _ in made):
        theirs = [op for nid, op in reported if nid == row]
        mine = iter([op for nid, op in made if nid == row])
        assert all(op in mine for op in theirs), f"{row}: {theirs} out of order"
        assert theirs and theirs[-1] == [op for nid, op in made if nid == row][-1]


async def assert_same_position(h: Harness, cursors: list[str | None]) -> None:
    """Each cursor is at the same place in the feed: none has a change to give now, and
    after one more application change each gives exactly that one."""
    for cursor in cursors:
        assert (await h.side.read_changes(cursor, 100)).changes == []
    new = h.app_insert("items", item("Z9"))
    for cursor in cursors:
        changes = (await h.side.read_changes(cursor, 100)).changes
        assert [(c.native_id, c.op) for c in changes] == [(new, "upsert")]


@pytest.mark.anyio
async def test_application_changes_appear_in_order_with_current_values(h: Harness) -> None:
    """App inserts, updates and deletes are reported in order, tokenless, as rows are now."""
    start = await h.side.head_cursor()
    a = h.app_insert("items", item("A1"))
    b = h.app_insert("items", item("B1"))
    h.app_update("items", a, {"name": "Gadget"})
    h.app_delete("items", b)
    batch = await h.side.read_changes(start, 100)
    made = [(a, "upsert"), (b, "upsert"), (a, "upsert"), (b, "delete")]
    assert_feed_reports(h.side, [(c.native_id, c.op) for c in batch.changes], made)
    assert all(c.token is None for c in batch.changes)
    now = (await h.side.get("items", [a]))[a]
    assert now.values == item("A1", name="Gadget")
    for change in batch.changes:
        if change.native_id == a:
            assert (change.values, change.version) == (now.values, now.version)
        else:
            assert change.values is None


@pytest.mark.anyio
async def test_replicator_write_comes_back_as_its_echo(h: Harness) -> None:
    """The change a replicator write causes comes back with that write's token; on a side
    that cannot carry tokens, with no token and the version the write returned."""
    [result] = await h.side.write([WriteOp("items", "insert", "tok-1", values=item("C1"))])
    assert result.status == "applied" and result.native_id is not None
    assert result.version
    [change] = (await h.side.read_changes(None, 100)).changes
    token = "tok-1" if getattr(h.side, "carries_tokens", True) else None
    assert (change.native_id, change.token, change.version) == (
        result.native_id,
        token,
        result.version,
    )
    assert change.values == item("C1")


@pytest.mark.anyio
async def test_reading_does_not_consume(h: Harness) -> None:
    """The same cursor returns the same changes; the returned cursor returns nothing new."""
    h.app_insert("items", item("A1"))
    first = await h.side.read_changes(None, 100)
    again = await h.side.read_changes(None, 100)
    assert first.changes == again.changes and len(first.changes) == 1
    assert first.cursor is not None and again.cursor is not None
    after = await h.side.read_changes(first.cursor, 100)
    assert after.changes == []
    await assert_same_position(h, [first.cursor, again.cursor, after.cursor])


@pytest.mark.anyio
async def test_read_changes_honours_the_limit(h: Harness) -> None:
    """At most ``limit`` changes come back; the cursor continues where they stopped."""
    ids = [h.app_insert("items", item(f"L{i}")) for i in range(3)]
    first = await h.side.read_changes(None, 2)
    rest = await h.side.read_changes(first.cursor, 2)
    assert [c.native_id for c in first.changes + rest.changes] == ids
    await assert_same_position(h, [rest.cursor, await h.side.head_cursor()])


@pytest.mark.anyio
async def test_ack_lets_the_side_forget(h: Harness) -> None:
    """After ``ack(cursor)`` reading from the start returns only the later changes; a side
    whose ``ack`` forgets nothing reads every row as it is now from the start instead."""
    first = h.app_insert("items", item("A1"))
    second = h.app_insert("items", item("A2"))
    read = await h.side.read_changes(None, 100)
    assert read.cursor is not None
    later = h.app_insert("items", item("A3"))
    await h.side.ack(read.cursor)
    assert [c.native_id for c in (await h.side.read_changes(read.cursor, 100)).changes] == [later]
    from_start = (await h.side.read_changes(None, 100)).changes
    if getattr(h.side, "ack_forgets", True):
        assert [c.native_id for c in from_start] == [later]
    else:
        assert [(c.native_id, c.op) for c in from_start] == [
            (first, "upsert"),
            (second, "upsert"),
            (later, "upsert"),
        ]


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
        # a side that polls its server (Dataverse) ends the wait at its next poll, when the
        # change may be there; the harness polls every 0.2 s, so the idle wait above lasts.
        # Early means well inside the 30 s asked for, however loaded the machine is
        with anyio.fail_after(20):
            await woke.wait()

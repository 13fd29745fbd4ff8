"""The state store: transactions under cancellation and in turns, translated errors."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from replicator.adapter import Change
from replicator.errors import StoreBusy, StoreError
from replicator.model import Commit, Link
from replicator.store import Store

pytestmark = pytest.mark.anyio


async def test_a_transaction_cancelled_while_it_begins_leaves_none_open(tmp_path: Path) -> None:
    """Cancelled while its BEGIN is in aiosqlite's thread (a shutdown), a transaction ends
    cleanly: the next one starts (before, "cannot start a transaction within a
    transaction" stopped the daemon with exit 1 on SIGTERM)."""
    store = await Store.open(tmp_path / "state.db")
    try:

        async def begin_then_wait() -> None:
            async with store.transaction():
                await anyio.sleep_forever()

        path = tmp_path / "state.db"
        with anyio.fail_after(10), closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # the store's BEGIN waits for this one
            async with anyio.create_task_group() as tg:
                tg.start_soon(begin_then_wait)
                await wait_all_tasks_blocked()  # its BEGIN is waiting in aiosqlite's thread
                tg.cancel_scope.cancel()
                other.execute("ROLLBACK")  # the BEGIN goes through now
            await store.set_meta("after", "ok")  # a transaction of its own
        assert await store.get_meta("after") == "ok"
    finally:
        await store.close()


# -- writes take turns; driver errors are translated ----------------------------------------


class Rollback(Exception):
    """Makes a test's transaction roll back."""


async def test_a_write_waits_for_another_tasks_open_transaction(tmp_path: Path) -> None:
    """A write from another task never lands inside an open transaction (the committer's):
    when that one rolls back, the write is still there (before, it was rolled back too)."""
    store = await Store.open(tmp_path / "state.db")
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                with pytest.raises(Rollback):
                    async with store.transaction():
                        tg.start_soon(store.set_meta, "heartbeat", "kept")
                        await wait_all_tasks_blocked()  # the write waits for its turn
                        raise Rollback
        assert await store.get_meta("heartbeat") == "kept"
    finally:
        await store.close()


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite waits 50 ms for another process's lock (10 s in production)."""
    from replicator import store_db

    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 50)


@pytest.mark.usefixtures("short_busy_timeout")
async def test_a_command_on_a_store_locked_elsewhere_fails_naming_the_file(
    tmp_path: Path,
) -> None:
    """A one-shot command's write to a store another process holds locked beyond the busy
    timeout raises StoreBusy naming the file (before: a raw sqlite3.OperationalError)."""
    path = tmp_path / "state.db"
    store = await Store.open(path)
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with anyio.fail_after(10), pytest.raises(StoreBusy) as caught:
                await store.set_paused("customers", True)
            other.execute("ROLLBACK")
        assert f"state store {path} is locked by another process" in str(caught.value)
        await store.set_paused("customers", True)  # released: it goes through
        assert (await store.map_states())["customers"][1] is True
    finally:
        await store.close()


async def test_a_file_that_is_not_a_database_is_a_store_error_naming_it(tmp_path: Path) -> None:
    """Opening random bytes as the store raises StoreError naming the file, and leaves no
    connection behind (before: a raw sqlite3.DatabaseError, and a process that hung)."""
    path = tmp_path / "state.db"
    path.write_bytes(bytes(range(256)) * 16)
    threads = set(threading.enumerate())
    with anyio.fail_after(10), pytest.raises(StoreError) as caught:
        await Store.open(path)
    assert str(caught.value).startswith(f"state store {path}: ")
    assert "not a database" in str(caught.value)
    for thread in set(threading.enumerate()) - threads:  # a closed connection's thread ends
        thread.join(timeout=10)
        assert not thread.is_alive(), "a connection's thread was left running"


# -- the group commit is one thread hop -------------------------------------------------


def _links(n: int) -> list[Commit]:
    return [
        Commit(
            acks=[i],
            link=Link(
                id=i + 1,
                map="customers",
                key=f"k{i}",
                ids=[f"a{i}", f"b{i}"],
                versions=[None, None],
                shadow={},
                tokens=[None, None],
            ),
        )
        for i in range(n)
    ]


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Callable[[Store], list[int]]:
    """Counts a store's calls into aiosqlite's thread (one item per call)."""

    def count(store: Store) -> list[int]:
        conn = store.db._conn
        calls: list[int] = []
        real = conn._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return await real(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

        monkeypatch.setattr(conn, "_execute", counted)
        return calls

    return count


async def test_a_group_commit_is_one_call_to_the_stores_thread(
    tmp_path: Path, hops: Callable[[Store], list[int]]
) -> None:
    """A commit of many steps (links, acks, the native-id check) runs as one call into
    aiosqlite's thread (before: one per statement, BEGIN and COMMIT: 4.7 ms a commit)."""
    store = await Store.open(tmp_path / "state.db")
    try:
        calls = hops(store)
        assert await store.commit(_links(50)) == [None] * 50
        assert len(calls) == 1
        assert (await store.link(50)) is not None
    finally:
        await store.close()


async def test_journaling_a_batch_is_one_call_to_the_stores_thread(
    tmp_path: Path, hops: Callable[[Store], list[int]]
) -> None:
    """An intake's batch (500 changes, in chunks, and the cursor) is journaled in one call
    into aiosqlite's thread (before: one per chunk, the cursor, BEGIN and COMMIT)."""
    store = await Store.open(tmp_path / "state.db")
    try:
        calls = hops(store)
        items = [("customers", Change("accounts", str(i), "upsert")) for i in range(500)]
        entries = await store.append_journal(1, items, "500")
        assert len(calls) == 1
        assert [e.change.native_id for e in entries] == [str(i) for i in range(500)]
        assert await store.cursor(1) == "500"
        assert len(await store.journal_after("customers", 0, 1000)) == 500
    finally:
        await store.close()


@pytest.mark.usefixtures("short_busy_timeout")
async def test_a_patient_group_commit_waits_out_another_processs_lock(tmp_path: Path) -> None:
    """The engine's group commit, met by another process's write lock, waits until it is
    released and then commits, nothing lost."""
    path = tmp_path / "state.db"
    locked = anyio.Event()
    store = await Store.open(path, patient=True, on_locked=lambda since: locked.set())
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other, anyio.fail_after(20):
            other.execute("BEGIN IMMEDIATE")
            async with anyio.create_task_group() as tg:
                tg.start_soon(store.commit, _links(3))
                await locked.wait()  # the commit met the lock and waits
                other.execute("ROLLBACK")
        assert store.db.locked_since is None
        assert (await store.link(3)) is not None
    finally:
        await store.close()


@pytest.mark.usefixtures("short_busy_timeout")
async def test_an_impatient_group_commit_on_a_locked_store_raises_store_busy(
    tmp_path: Path,
) -> None:
    """A one-shot command's group commit on a store locked elsewhere raises StoreBusy
    naming the file, and commits nothing."""
    path = tmp_path / "state.db"
    store = await Store.open(path)
    try:
        with closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            with anyio.fail_after(10), pytest.raises(StoreBusy, match=str(path)):
                await store.commit(_links(2))
            other.execute("ROLLBACK")
        assert (await store.link(1)) is None
    finally:
        await store.close()

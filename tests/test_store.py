"""The state store's transactions under cancellation."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

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
            async with store.transaction():
                await store.set_meta("after", "ok")
        assert await store.get_meta("after") == "ok"
    finally:
        await store.close()

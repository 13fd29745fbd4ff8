"""The core against a side that gives a deleted row's native id to a new row.

A remote side's ids are not trusted blindly: a change or a write result naming an id that
another record held must not delete or overwrite that record, and the record that held it
is resolved by its own delete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, stored_link, until, write_config
from replicator.adapter import ChangeBatch, Values
from replicator.engine import Replicator
from replicator.model import Commit
from replicator.store import Store

pytestmark = pytest.mark.anyio

FNO, CRM = "CustomersV3", "accounts"
FAST_RETRIES = "[engine]\nretry_first_s = 0.01\nretry_max_s = 0.05\n\n"


class ReusingSide(MemorySide):
    """A side that reuses the newest deleted id, and whose feed can be held unread."""

    def __init__(self, name: str) -> None:
        super().__init__(name, reuse_ids=True)
        self.released = anyio.Event()
        self.released.set()

    def hold(self) -> None:
        self.released = anyio.Event()

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        if not self.released.is_set():
            return ChangeBatch([], cursor)
        return await super().read_changes(cursor, limit)

    async def wait_for_changes(self, max_wait: float) -> None:
        if not self.released.is_set():
            with anyio.move_on_after(max_wait):
                await self.released.wait()
        else:
            await super().wait_for_changes(max_wait)


def customer(account: str) -> Values:
    return {"dataAreaId": "usmf", "CustomerAccount": account, "Name": account}


def account(number: str) -> Values:
    return {"company": "usmf", "accountnumber": number, "name": number}


def accounts(side: MemorySide, entity: str, field: str) -> dict[str, str]:
    """Native id by account number."""
    return {str(v[field]): nid for nid, v in side.rows(entity).items()}


@asynccontextmanager
async def running(tmp_path: Path, fno: MemorySide, crm: MemorySide) -> AsyncIterator[Replicator]:
    cfg = write_config(tmp_path, FAST_RETRIES + COMPANY_CUSTOMERS_MAP)
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        yield rep


async def settled(rep: Replicator) -> None:
    with anyio.fail_after(10):
        await rep.wait_idle()


async def test_an_id_given_again_before_its_delete_is_read_deletes_only_the_deleted_record(
    tmp_path: Path,
) -> None:
    """X (fno's newest row) is deleted; before fno's feed shows it, crm's new Y is written
    to fno and gets X's id. X goes on both sides; Y stays, its crm row never re-created."""
    fno, crm = ReusingSide("fno"), MemorySide("crm")
    with capture_logs() as logs:
        async with running(tmp_path, fno, crm) as rep:
            fno.insert(FNO, customer("A"))
            x = fno.insert(FNO, customer("X"))
            await settled(rep)
            fno.hold()
            fno.delete(FNO, x)
            y_crm = crm.insert(CRM, account("Y"))
            await until(lambda: "Y" in accounts(fno, FNO, "CustomerAccount"))
            assert accounts(fno, FNO, "CustomerAccount")["Y"] == x  # the id given again
            fno.released.set()
            await settled(rep)
            assert await rep.ctx.store.errors() == []
            status = await rep.status()
    assert sorted(accounts(crm, CRM, "accountnumber")) == ["A", "Y"]
    assert accounts(crm, CRM, "accountnumber")["Y"] == y_crm
    assert sorted(accounts(fno, FNO, "CustomerAccount")) == ["A", "Y"]
    assert status["maps"][0]["links"] == 2
    assert any(e["event"] == "native_id_taken" for e in logs)


async def test_a_delete_of_an_id_now_naming_a_linked_row_leaves_that_row(
    tmp_path: Path,
) -> None:
    """X is born and deleted on fno while its feed is held, and crm's Y, written to fno,
    gets X's id: the delete read later is X's, not Y's, and deletes nothing."""
    fno, crm = ReusingSide("fno"), MemorySide("crm")
    with capture_logs() as logs:
        async with running(tmp_path, fno, crm) as rep:
            fno.insert(FNO, customer("A"))
            await settled(rep)
            fno.hold()
            x = fno.insert(FNO, customer("X"))
            fno.delete(FNO, x)
            y_crm = crm.insert(CRM, account("Y"))
            await until(lambda: "Y" in accounts(fno, FNO, "CustomerAccount"))
            assert accounts(fno, FNO, "CustomerAccount")["Y"] == x
            fno.released.set()
            await settled(rep)
            assert await rep.ctx.store.errors() == []
    assert accounts(crm, CRM, "accountnumber")["Y"] == y_crm
    assert sorted(accounts(crm, CRM, "accountnumber")) == ["A", "Y"]
    assert sorted(accounts(fno, FNO, "CustomerAccount")) == ["A", "Y"]
    assert any(e["event"] == "stale_delete" for e in logs)


async def test_a_commit_linking_a_row_another_link_holds_is_not_made(tmp_path: Path) -> None:
    """The store refuses a link onto a native id another link holds, answering with that
    link, and keeps it (before, INSERT OR REPLACE silently deleted it)."""
    store = await Store.open(tmp_path / "state.db")
    try:
        x = stored_link(1, '["X"]', ["7", "a"], ["1", "1"])
        y = stored_link(2, '["Y"]', ["7", "b"], ["2", "2"])
        z = stored_link(3, '["Z"]', ["8", "c"], ["3", "3"])
        assert await store.commit([Commit(link=x)]) == [None]
        answers = await store.commit([Commit(link=y, acks=[5]), Commit(link=z)])
        assert [a and a.key for a in answers] == ['["X"]', None]
        assert (await store.link_by_native("customers", 0, "7")) == x
        assert await store.link(2) is None and await store.link(3) == z
        assert await store.commit([Commit(drop_link=1), Commit(link=y)]) == [None, None]
        assert (await store.link_by_native("customers", 0, "7")) == y
    finally:
        await store.close()


async def test_a_row_replaced_without_a_delete_is_its_record_s_row(tmp_path: Path) -> None:
    """fno replaces A's row by a new row of A's key, its old row gone with no delete in
    the feed (SQLite's REPLACE): the new row is A's, and edits flow both ways again."""
    fno, crm = MemorySide("fno"), MemorySide("crm")
    async with running(tmp_path, fno, crm) as rep:
        a = fno.insert(FNO, customer("A"))
        await settled(rep)
        a_crm = accounts(crm, CRM, "accountnumber")["A"]
        fno.replace(FNO, a, {**customer("A"), "Name": "replaced"})
        await settled(rep)
        assert crm.rows(CRM)[a_crm]["name"] == "replaced"
        crm.update(CRM, a_crm, {"name": "edited on crm"})
        await settled(rep)
        assert await rep.ctx.store.errors() == []
    assert [v["Name"] for v in fno.rows(FNO).values()] == ["edited on crm"]
    assert accounts(crm, CRM, "accountnumber") == {"A": a_crm}

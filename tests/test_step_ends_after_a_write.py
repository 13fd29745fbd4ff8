"""A reconcile step whose rows keep changing under its writes (issue 10's crash workload at
2,500 changes/s): the conflict rounds of one step, made deterministic by sides that let
a "user" edit a row just before the replicator's write to it.

* A step may end after a first write (parked on a group the other side's row learned in a
  later round): the link it commits must not say that row still holds the shadow at the
  version read before that write, or a change the feed read before the write is taken
  as current and its old values undo the write (a crm name edit overwritten by an older
  name, after a "conflict" with an fno value fno no longer held).
* A lookup value met on the changed side's own row, read again after a conflict, parks the
  record like one learned from the other side: its target may not be linked yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from adapters.memory import MemorySide
from replicator.adapter import ChangeBatch, WriteOp, WriteResult
from replicator.engine import Replicator

pytestmark = pytest.mark.anyio

CONFIG = """
[state]
path = "state.db"
[sides.fno]
adapter = "memory"
[sides.crm]
adapter = "memory"

[[maps]]
name = "groups"
fno = "CustCustomerGroup"
crm = "groups"
key = [ { fno = "dataAreaId", crm = "company" }, { fno = "CustomerGroupId", crm = "groupid" } ]
fields = [ { fno = "Description", crm = "description" } ]

[[maps]]
name = "customers"
fno = "CustomersV3"
crm = "accounts"
key = [ { fno = "dataAreaId", crm = "company" },
        { fno = "CustomerAccount", crm = "accountnumber" } ]
fields = [ { fno = "Name", crm = "name" },
           { fno = "CreditLimit", crm = "creditlimit" },
           { fno = "CustomerGroupId", crm = "groupid", lookup = "groups" } ]
"""

Hook = Callable[[], Awaitable[None]]


class EditedSide(MemorySide):
    """A memory side (versions only grow, as SQLite's) on which a hook edits a row just
    before the replicator's next write to an entity, and can wait for the feed's next read."""

    versions_ordered = True

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.hooks: dict[str, list[Hook]] = {}
        self.feed_read = anyio.Event()

    def before_write(self, entity: str, *hooks: Hook) -> None:
        """Run ``hooks`` before the replicator's next writes to ``entity``, one each."""
        self.hooks.setdefault(entity, []).extend(hooks)

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        for op in ops:
            if self.hooks.get(op.entity):
                await self.hooks[op.entity].pop(0)()
        return await super().write(ops)

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        batch = await super().read_changes(cursor, limit)
        self.feed_read.set()
        return batch

    async def read_by_feed(self) -> None:
        """Wait until the feed is read after now (what was changed so far is journaled
        with its values as they are now)."""
        self.feed_read = anyio.Event()
        await self.feed_read.wait()

    def only(self, entity: str) -> str:
        [native_id] = self.rows(entity)
        return native_id


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[tuple[Replicator, EditedSide, EditedSide]]:
    """The engine on two edited memory sides, with group 10 and customer C1 linked."""
    cfg = tmp_path / "replicator.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    fno, crm = EditedSide("fno"), EditedSide("crm")
    async with Replicator(cfg, sides={"fno": fno, "crm": crm}) as rep:
        fno.insert("CustCustomerGroup", group("10"))
        fno.insert(
            "CustomersV3",
            {
                "dataAreaId": "usmf",
                "CustomerAccount": "C1",
                "Name": "a",
                "CreditLimit": 1.0,
                "CustomerGroupId": "10",
            },
        )
        await idle(rep)
        yield rep, fno, crm


def group(gid: str) -> dict[str, Any]:
    return {"dataAreaId": "usmf", "CustomerGroupId": gid, "Description": f"group {gid}"}


async def idle(rep: Replicator) -> None:
    with anyio.fail_after(15):
        await rep.wait_idle()


async def parked(rep: Replicator) -> int:
    maps = (await rep.status())["maps"]
    return int(next(m for m in maps if m["map"] == "customers")["parked"])


def link_group(side: EditedSide) -> None:
    """The feed shows group 20 at last (its description edited): it is linked."""
    groups = side.rows("CustCustomerGroup").items()
    [native_id] = [n for n, g in groups if g["CustomerGroupId"] == "20"]
    side.update("CustCustomerGroup", native_id, {"Description": "group 20, seen"})


async def nothing() -> None:
    """A write let through as it is."""


def regroup(side: EditedSide) -> Hook:
    """fno makes group 20, unseen by its feed (so not linked), and moves C1 to it."""

    async def hook() -> None:
        side.insert("CustCustomerGroup", group("20"))
        side.feed.pop()  # seen once ``link_group``
        side.update("CustomersV3", side.only("CustomersV3"), {"CustomerGroupId": "20"})

    return hook


def edit(side: EditedSide, entity: str, values: dict[str, Any], *, read: bool = False) -> Hook:
    """A user's edit of the entity's only row (and, if ``read``, the feed reads it)."""

    async def hook() -> None:
        side.update(entity, side.only(entity), values)
        if read:
            await side.read_by_feed()

    return hook


def assert_both_hold(fno: EditedSide, crm: EditedSide, name: str) -> None:
    """The one customer holds ``name``, credit limit 2 and group 20 on both sides."""
    [customer] = fno.rows("CustomersV3").values()
    [account] = crm.rows("accounts").values()
    wanted = (name, 2.0, "20")
    assert (customer["Name"], customer["CreditLimit"], customer["CustomerGroupId"]) == wanted
    assert (account["name"], account["creditlimit"], account["groupid"]) == wanted


async def test_a_step_parked_after_its_first_write_does_not_let_an_older_change_undo_it(
    tmp_path: Path,
) -> None:
    """crm renames C1 to b. The step's fno write meets fno's credit limit edit (read by the
    feed at once), so it merges again and writes b to fno; its crm write meets a second
    crm rename, c; writing c to fno meets fno moving C1 to group 20, not linked: the step
    parks. The credit limit change, read before the write of b, must not be taken as
    fno's row now: its name a would win a conflict against c, and crm would end on a."""
    async with running(tmp_path) as (rep, fno, crm):
        fno.before_write(
            "CustomersV3",
            edit(fno, "CustomersV3", {"CreditLimit": 2.0}, read=True),
            nothing,  # b is written
            regroup(fno),
        )
        crm.before_write("accounts", edit(crm, "accounts", {"name": "c"}))
        crm.update("accounts", crm.only("accounts"), {"name": "b"})
        await idle(rep)
        assert await rep.ctx.store.errors() == []
        [account] = crm.rows("accounts").values()
        assert account["name"] == "c"
        assert account["groupid"] == "10"
        link_group(fno)
        await idle(rep)
        assert await parked(rep) == 0
        assert await rep.ctx.store.errors() == []
    assert_both_hold(fno, crm, "c")


async def test_a_group_met_on_the_changed_row_read_again_after_a_conflict_parks(
    tmp_path: Path,
) -> None:
    """fno raises C1's credit limit. The step's crm write meets crm's rename (b), so it
    writes b back to fno, which meets fno moving C1 to group 20, not linked: the record
    parks (crm's foreign key would refuse group 20) and takes the group once it is."""
    async with running(tmp_path) as (rep, fno, crm):
        crm.before_write("accounts", edit(crm, "accounts", {"name": "b"}))
        fno.before_write("CustomersV3", regroup(fno))
        fno.update("CustomersV3", fno.only("CustomersV3"), {"CreditLimit": 2.0})
        await idle(rep)
        assert await rep.ctx.store.errors() == []
        [account] = crm.rows("accounts").values()
        assert account["groupid"] == "10"  # not a group crm does not hold yet
        assert await parked(rep) == 1
        link_group(fno)
        await idle(rep)
        assert await parked(rep) == 0
        assert await rep.ctx.store.errors() == []
    assert_both_hold(fno, crm, "b")

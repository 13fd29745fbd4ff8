"""The window between a write and the commit of its outcome, cut by a crash (in-process).

A ``DyingSide`` applies a write (or not) and then never answers; cancelling the engine
then is a kill -9 at that instant. A user changes the row before the restart; after it,
recovery (replicator/recovery.py) must treat the change as made after the replicated
write, exactly as if nothing had crashed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import anyio
import msgspec
import pytest

from adapters.memory import MemorySide
from conftest import NAME_PHONE_MAP, SELF_REFERENCE_MAP, stored_link, write_config
from replicator import rules
from replicator.adapter import Change, ChangeBatch, WriteOp, WriteResult
from replicator.config import load_config
from replicator.context import Context
from replicator.engine import Replicator
from replicator.errors import TransientError
from replicator.model import Commit, Intent
from replicator.recovery import recover
from replicator.store import MIGRATIONS, Store


class DyingSide(MemorySide):
    """A memory side whose armed write applies (or not) and then never answers.

    ``armed`` is "after" (the write reaches the side) or "before" (it does not);
    ``spare`` writes pass before the armed one. ``failing_reads`` make the feed
    unreadable for that many reads.
    """

    def __init__(self, name: str, *, tokens: bool = True) -> None:
        super().__init__(name, tokens=tokens)
        self.armed: str | None = None
        self.spare = 0
        self.failing_reads = 0
        self.applied = anyio.Event()

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if self.armed is None or self.spare > 0:
            self.spare -= 1
            return await super().write(ops)
        if self.armed == "after":
            await super().write(ops)
        self.applied.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        if self.failing_reads > 0:
            self.failing_reads -= 1
            raise TransientError("the feed is away (test fault)")
        return await super().read_changes(cursor, limit)


def config_of(tmp_path: Path, engine: str = "") -> Path:
    return write_config(tmp_path, engine + NAME_PHONE_MAP)


async def crash_when_written(config: Path, sides: dict[str, MemorySide], dying: DyingSide) -> None:
    """Start the engine (initial sync included) and "kill" it once ``dying`` got its write."""
    async with anyio.create_task_group() as tg:

        async def engine() -> None:
            async with Replicator(config, sides=sides):
                await anyio.sleep_forever()

        tg.start_soon(engine)
        with anyio.fail_after(10):
            await dying.applied.wait()
        tg.cancel_scope.cancel()
    dying.armed = None


async def crash_after_change(
    config: Path, fno: MemorySide, crm: DyingSide, change: Callable[[], object], when: str = "after"
) -> None:
    """Run the engine until idle, make ``change`` on fno and "kill" it at crm's write."""
    with anyio.CancelScope() as kill:
        async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
            with anyio.fail_after(10):
                await rep.wait_idle()
                crm.armed = when
                change()
                await crm.applied.wait()
            kill.cancel()
    crm.armed = None


async def settle(config: Path, fno: MemorySide, crm: MemorySide) -> None:
    """Restart the engine on the same sides and state, and let it settle."""
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()


def fields(side: MemorySide, entity: str, key: str, *names: str) -> dict[str, Any]:
    """Rows by key: one field's value, or a tuple of several."""
    return {
        v[key]: v[names[0]] if len(names) == 1 else tuple(v[n] for n in names)
        for v in side.rows(entity).values()
    }


def crm_id(crm: MemorySide, account: str = "C1") -> str:
    return next(k for k, v in crm.rows("accounts").items() if v["accountnumber"] == account)


async def intents_left(config: Path) -> int:
    store = await Store.open(load_config(config).state_path)
    try:
        return len(await store.intents())
    finally:
        await store.close()


def insert_c1(fno: MemorySide) -> Callable[[], object]:
    return lambda: fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": "1"})


# -- live sync --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("write", ["insert", "update"])
@pytest.mark.parametrize("user", ["edit", "delete"])
async def test_what_a_user_does_between_a_write_and_its_lost_commit_is_kept(
    tmp_path: Path, write: str, user: str
) -> None:
    """crm edits or deletes a row just created or updated from fno, and the process is
    killed before the write's outcome was committed: after the restart the user wins."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    if write == "insert":
        change = insert_c1(fno)
    else:
        nid = fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a"})
        change = lambda: fno.update("CustomersV3", nid, {"Name": "b"})  # noqa: E731
    await crash_after_change(config, fno, crm, change)
    if user == "edit":
        crm.update("accounts", crm_id(crm), {"name": "edited on crm"})
        expected = {"C1": "edited on crm"}
    else:
        crm.delete("accounts", crm_id(crm))
        expected = {}
    await settle(config, fno, crm)
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name") == expected
    assert fields(crm, "accounts", "accountnumber", "name") == expected
    assert await intents_left(config) == 0


@pytest.mark.anyio
async def test_without_tokens_the_row_tells_that_a_lost_write_happened(tmp_path: Path) -> None:
    """crm's feed carries no tokens (like Dataverse). Killed after an update reached crm;
    then fno changes the same field again and crm a different one: the write is known by
    the row, so fno's newer value is no conflict with it, and both edits stand."""
    config = write_config(tmp_path, NAME_PHONE_MAP + 'conflict = "crm"\n')
    fno, crm = MemorySide("fno"), DyingSide("crm", tokens=False)
    nid = fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": "1"})
    await crash_after_change(
        config, fno, crm, lambda: fno.update("CustomersV3", nid, {"Name": "b"})
    )
    fno.update("CustomersV3", nid, {"Name": "c"})
    crm.update("accounts", crm_id(crm), {"telephone1": "9"})
    await settle(config, fno, crm)
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name", "Phone") == {"C1": ("c", "9")}
    assert fields(crm, "accounts", "accountnumber", "name", "telephone1") == {"C1": ("c", "9")}
    assert await intents_left(config) == 0


@pytest.mark.anyio
@pytest.mark.parametrize("when", ["before", "after"])
async def test_without_tokens_a_lost_create_is_made_once(tmp_path: Path, when: str) -> None:
    """crm's feed carries no tokens: killed before or after a create reached crm, the
    restart leaves exactly one row there, linked."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm", tokens=False)
    await crash_after_change(config, fno, crm, insert_c1(fno), when=when)
    await settle(config, fno, crm)
    assert fields(crm, "accounts", "accountnumber", "name") == {"C1": "a"}
    assert crm.writes == 1
    assert await intents_left(config) == 0


@pytest.mark.anyio
async def test_a_crash_between_a_write_and_its_commit_alone_changes_nothing(
    tmp_path: Path,
) -> None:
    """Killed after a create reached crm but before its commit: the replay links, no duplicate."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    await crash_after_change(config, fno, crm, insert_c1(fno))
    writes = crm.writes
    await settle(config, fno, crm)
    assert fields(crm, "accounts", "accountnumber", "name") == {"C1": "a"}
    assert crm.writes == writes, "the replayed create wrote again"
    assert len(crm.rows("accounts")) == 1


@pytest.mark.anyio
async def test_a_crash_before_the_write_reached_the_side_writes_it_once(tmp_path: Path) -> None:
    """The intent was committed but the write never happened: the replay makes it, once."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    await crash_after_change(config, fno, crm, insert_c1(fno), when="before")
    assert crm.rows("accounts") == {} and await intents_left(config) == 1
    await settle(config, fno, crm)
    assert fields(crm, "accounts", "accountnumber", "name", "telephone1") == {"C1": ("a", "1")}
    assert crm.writes == 1
    assert await intents_left(config) == 0


@pytest.mark.anyio
async def test_the_second_write_of_a_step_and_an_edit_after_it_are_recovered(
    tmp_path: Path,
) -> None:
    """A step merged changes of both sides and wrote both; killed after the second write,
    a user edit made after it stands: the newest intent found settles the link."""
    config = write_config(tmp_path, NAME_PHONE_MAP + 'conflict = "crm"\n')  # crm would win
    fno, crm = DyingSide("fno"), DyingSide("crm")  # a conflict on Phone: it must be none
    fid = fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": "1"})
    await settle(config, fno, crm)
    fno.update("CustomersV3", fid, {"Name": "b"})  # while stopped: both sides change,
    crm.update("accounts", crm_id(crm), {"telephone1": "2"})  # one field each
    fno.armed = "after"  # the step writes crm (Name), then fno (Phone): die after that
    await crash_when_written(config, {"fno": fno, "crm": crm}, fno)
    assert fields(fno, "CustomersV3", "CustomerAccount", "Phone") == {"C1": "2"}
    fno.update("CustomersV3", fid, {"Phone": "3"})
    await settle(config, fno, crm)
    both = {"C1": ("b", "3")}
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name", "Phone") == both
    assert fields(crm, "accounts", "accountnumber", "name", "telephone1") == both


@pytest.mark.anyio
async def test_a_row_renamed_between_a_create_and_a_lost_commit_is_linked_not_duplicated(
    tmp_path: Path,
) -> None:
    """crm renames the key of a record created on it just before a crash: recovery still
    finds the created row (the only new one carrying the token), and the rename follows."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    await crash_after_change(config, fno, crm, insert_c1(fno))
    crm.update("accounts", crm_id(crm), {"accountnumber": "C9"})
    await settle(config, fno, crm)
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name") == {"C9": "a"}
    assert fields(crm, "accounts", "accountnumber", "name") == {"C9": "a"}


@pytest.mark.anyio
async def test_recovery_waits_for_a_feed_that_is_away(tmp_path: Path) -> None:
    """The side written is unreadable at restart: recovery retries, then settles."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    await crash_after_change(config, fno, crm, insert_c1(fno))
    crm.update("accounts", crm_id(crm), {"name": "edited on crm"})
    crm.failing_reads = 3
    await settle(config, fno, crm)
    assert crm.failing_reads == 0
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name") == {"C1": "edited on crm"}


class TriggerSide(DyingSide):
    """crm with "triggers": inserting an account touches account C0 before and after, in
    the same write, so those changes carry the replicator's token as well."""

    def _insert(self, op: WriteOp, table: dict[str, Any]) -> WriteResult:
        self.touch(op, table)
        result = super()._insert(op, table)
        self.touch(op, table)
        return result

    def touch(self, op: WriteOp, table: dict[str, Any]) -> None:
        for nid in [n for n, row in table.items() if row.values.get("accountnumber") == "C0"]:
            self._put(op.entity, nid, {**table[nid].values, "telephone1": "touched"}, op.token)


@pytest.mark.anyio
async def test_recovery_links_the_inserted_row_not_another_row_its_write_touched(
    tmp_path: Path,
) -> None:
    """Two rows of the map carry the token of a lost insert: the one with the link's key
    is the inserted one; C0's link is left alone."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), TriggerSide("crm")
    fno.insert("CustomersV3", {"CustomerAccount": "C0", "Name": "zero", "Phone": "0"})
    await crash_after_change(config, fno, crm, insert_c1(fno))
    await settle(config, fno, crm)
    c1 = next(k for k, v in fno.rows("CustomersV3").items() if v["CustomerAccount"] == "C1")
    fno.update("CustomersV3", c1, {"Name": "renamed"})
    await settle(config, fno, crm)
    names = {"C0": "zero", "C1": "renamed"}
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name") == names
    assert fields(crm, "accounts", "accountnumber", "name") == names
    assert len(crm.rows("accounts")) == 2


# -- initial sync -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_edit_between_an_initial_sync_write_and_its_lost_commit_is_kept(
    tmp_path: Path,
) -> None:
    """The initial sync created a row on crm and was killed before linking it; a user
    edits it; the next sync links it and the edit stands (fno is the initial master)."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    insert_c1(fno)()
    crm.armed = "after"
    await crash_when_written(config, {"fno": fno, "crm": crm}, crm)
    crm.update("accounts", crm_id(crm), {"name": "edited on crm"})
    await settle(config, fno, crm)
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name") == {"C1": "edited on crm"}
    assert fields(crm, "accounts", "accountnumber", "name") == {"C1": "edited on crm"}
    assert len(crm.rows("accounts")) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("user", ["edit", "delete"])
async def test_what_a_user_does_to_a_row_linked_before_the_sync_was_killed_is_kept(
    tmp_path: Path, user: str
) -> None:
    """The sync linked C1 in its first batch and died in its second; C1 edited or deleted
    on crm meanwhile: when the sync runs again the edit is kept (the pair is merged against
    its shadow) and the delete reaches fno (the row is not created again)."""
    config = config_of(tmp_path, "[engine]\nbatch_size = 1\n\n")
    fno, crm = MemorySide("fno"), DyingSide("crm")
    for account in ("C1", "C2"):
        fno.insert("CustomersV3", {"CustomerAccount": account, "Name": "a"})
    crm.armed, crm.spare = "before", 1
    await crash_when_written(config, {"fno": fno, "crm": crm}, crm)
    if user == "edit":
        crm.update("accounts", crm_id(crm), {"name": "edited on crm"})
        expected = {"C1": "edited on crm", "C2": "a"}
    else:
        crm.delete("accounts", crm_id(crm))
        expected = {"C2": "a"}
    await settle(config, fno, crm)
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name") == expected
    assert fields(crm, "accounts", "accountnumber", "name") == expected


@pytest.mark.anyio
async def test_without_tokens_a_sync_write_that_never_happened_is_not_taken_as_made(
    tmp_path: Path,
) -> None:
    """Both sides hold C1, with the same phone and differing names; crm's feed carries no
    tokens (like Dataverse). Killed after the intent of crm's write (the master's name)
    was committed, before the write reached crm: the phone crm held all along is no sign
    of the write, so the rerun decides the name by the initial rule again (fno's), not as
    an edit crm made since a link that never was."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm", tokens=False)
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": "5"})
    crm.insert("accounts", {"accountnumber": "C1", "name": "z", "telephone1": "5"})
    crm.armed = "before"
    await crash_when_written(config, {"fno": fno, "crm": crm}, crm)
    assert await intents_left(config) == 1
    await settle(config, fno, crm)
    both = {"C1": ("a", "5")}
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name", "Phone") == both
    assert fields(crm, "accounts", "accountnumber", "name", "telephone1") == both


@pytest.mark.anyio
@pytest.mark.parametrize("edited", [False, True])
async def test_a_sync_job_killed_between_its_two_writes_is_finished_by_the_rerun(
    tmp_path: Path, edited: bool
) -> None:
    """C1 needs a write on both sides (fno, the master, lacks a phone; crm's name differs).
    Killed after fno's write, before crm's: the rerun links the phone both now hold and
    decides the name, never agreed, by the initial rule again (fno's), as it would for an
    edit of crm's name made before the sync began."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": None})
    crm.insert("accounts", {"accountnumber": "C1", "name": "z", "telephone1": "5"})
    crm.armed = "before"
    await crash_when_written(config, {"fno": fno, "crm": crm}, crm)
    assert fields(fno, "CustomersV3", "CustomerAccount", "Phone") == {"C1": "5"}
    if edited:
        crm.update("accounts", crm_id(crm), {"name": "edited on crm"})
    await settle(config, fno, crm)
    both = {"C1": ("a", "5")}
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name", "Phone") == both
    assert fields(crm, "accounts", "accountnumber", "name", "telephone1") == both


@pytest.mark.anyio
async def test_a_re_sync_killed_between_its_two_writes_leaves_a_link_the_daemon_can_trust(
    tmp_path: Path,
) -> None:
    """C1 is linked; while stopped, fno edits the name and crm the phone; a ``sync`` of the
    (already synced) map is killed after fno's write. The daemon, which does not sync the
    map again, ends with both edits on both sides."""
    config = config_of(tmp_path)
    fno, crm = MemorySide("fno"), DyingSide("crm")
    fid = fno.insert("CustomersV3", {"CustomerAccount": "C1", "Name": "a", "Phone": "5"})
    await settle(config, fno, crm)
    fno.update("CustomersV3", fid, {"Name": "b"})
    crm.update("accounts", crm_id(crm), {"telephone1": "6"})
    crm.armed = "before"
    async with anyio.create_task_group() as tg:

        async def sync_command() -> None:
            sides = {"fno": fno, "crm": crm}
            async with Replicator(config, sides=sides, initial_sync=False, live=False) as rep:
                await rep.sync(["customers"])

        tg.start_soon(sync_command)
        with anyio.fail_after(10):
            await crm.applied.wait()
        tg.cancel_scope.cancel()
    crm.armed = None
    await settle(config, fno, crm)
    both = {"C1": ("b", "6")}
    assert fields(fno, "CustomersV3", "CustomerAccount", "Name", "Phone") == both
    assert fields(crm, "accounts", "accountnumber", "name", "telephone1") == both


@pytest.mark.anyio
async def test_a_second_sync_keeps_a_self_reference_the_first_deferred(tmp_path: Path) -> None:
    """C1 is invoiced to C2, not linked yet when C1 was planned (the field was deferred, the
    shadow holds none): syncing again before the live patch keeps the reference."""
    config = write_config(tmp_path, SELF_REFERENCE_MAP)
    fno, crm = MemorySide("fno"), MemorySide("crm")
    for side, entity, key, name, ref in (
        (fno, "CustomersV3", "CustomerAccount", "Name", "InvoiceAccount"),
        (crm, "accounts", "accountnumber", "name", "billingaccount"),
    ):
        side.insert(entity, {key: "C1", name: "one", ref: "C2"})
        side.insert(entity, {key: "C2", name: "two", ref: None})
    for _ in range(2):
        sides = {"fno": fno, "crm": crm}
        with anyio.fail_after(10):  # a sync leaves the patch to the live sync: no drain wait
            async with Replicator(config, sides=sides, initial_sync=False, live=False) as rep:
                await rep.sync(["customers"])
    refs = {"C1": "C2", "C2": None}
    assert fields(fno, "CustomersV3", "CustomerAccount", "InvoiceAccount") == refs
    assert fields(crm, "accounts", "accountnumber", "billingaccount") == refs


# -- the pieces ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_store_of_the_previous_schema_gains_the_intents_table(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    async with aiosqlite.connect(path) as db:
        for i, script in enumerate(MIGRATIONS[:2]):
            await db.executescript(f"{script}; PRAGMA user_version = {i + 1};")
        await db.execute("INSERT INTO meta VALUES ('instance', 'abc')")
        await db.commit()
    store = await Store.open(path)
    try:
        assert await store.intents() == []
        assert store.instance == "abc"
    finally:
        await store.close()


@pytest.mark.anyio
async def test_an_intent_a_previous_release_left_is_kept_and_new_ones_say_what_they_write(
    tmp_path: Path,
) -> None:
    """Upgrading a store with an intent left by a crash (before ``Intent.written``): it
    reads back with ``written`` unknown (recovery then judges by the shadow, as before);
    an intent committed now keeps the fields its update changes."""
    path = tmp_path / "state.db"
    link = stored_link(
        7, '["C1"]', ["1", "g"], ["v", "*"], tokens=[None, "t1"], shadow={"Name": "a"}
    )
    async with aiosqlite.connect(path) as db:
        for i, script in enumerate(MIGRATIONS[:3]):
            await db.executescript(f"{script}; PRAGMA user_version = {i + 1};")
        await db.execute(
            "INSERT INTO intents (token, link_id, side, link, created_at) VALUES (?,?,?,?,?)",
            ("t1", 7, 1, msgspec.msgpack.encode(link), 1.0),
        )
        await db.commit()
    store = await Store.open(path)
    try:
        await store.commit(
            [
                Commit(
                    intents=[
                        Intent(token="t2", side=1, link=link, created_at=2.0, written={"Name": "a"})
                    ]
                )
            ]
        )
        assert await store.intents() == [
            Intent(token="t1", side=1, link=link, created_at=1.0),
            Intent(token="t2", side=1, link=link, created_at=2.0, written={"Name": "a"}),
        ]
    finally:
        await store.close()


@pytest.mark.anyio
async def test_recovery_does_not_take_a_row_another_link_holds(tmp_path: Path) -> None:
    """An echo names a crm row that is linked to another record: the intent's link is not
    restored over that link (the replay decides), and the intent is forgotten."""
    config = load_config(config_of(tmp_path))
    store = await Store.open(config.state_path)
    try:
        ctx = Context(config, store, [MemorySide("fno"), MemorySide("crm")])
        other = stored_link(1, '["C0"]', ["f0", "c0"], ["1", "1"])
        lost = stored_link(2, '["C1"]', ["f1", None], ["1", ""], tokens=[None, "t2"])
        await store.commit(
            [
                Commit(link=other),
                Commit(intents=[Intent(token="t2", side=1, link=lost, created_at=0.0)]),
            ]
        )
        echo = Change("accounts", "c0", "upsert", "t2", {"accountnumber": "C1"})
        await store.append_journal(1, [("customers", echo)], None)
        await recover(ctx)
        assert await store.intents() == []
        assert await store.link(2) is None
        assert await store.link(1) == other
    finally:
        await store.close()


@pytest.mark.anyio
async def test_an_intent_of_a_map_no_longer_configured_is_forgotten(tmp_path: Path) -> None:
    config = load_config(config_of(tmp_path))
    store = await Store.open(config.state_path)
    try:
        ctx = Context(config, store, [MemorySide("fno"), MemorySide("crm")])
        lost = stored_link(
            2, '["V1"]', ["f1", None], ["1", ""], tokens=[None, "t2"], map_name="vendors"
        )
        await store.commit(
            [Commit(intents=[Intent(token="t2", side=1, link=lost, created_at=0.0)])]
        )
        echo = Change("accounts", "c1", "upsert", "t2", {"accountnumber": "V1"})
        await store.append_journal(1, [("vendors", echo)], None)
        await recover(ctx)
        assert await store.intents() == [] and await store.link(2) is None
    finally:
        await store.close()


@pytest.mark.anyio
async def test_new_link_ids_do_not_reuse_those_of_intents_left(tmp_path: Path) -> None:
    """An intent left behind (e.g. by a sync the host retries in-process) keeps its link id
    out of reach of new records until recovery settles it."""
    store = await Store.open(tmp_path / "state.db")
    try:
        linked = stored_link(3, '["C0"]', ["f0", "c0"], ["1", "1"])
        lost = stored_link(7, '["C1"]', ["f1", None], ["1", ""], tokens=[None, "t7"])
        await store.commit(
            [
                Commit(link=linked),
                Commit(intents=[Intent(token="t7", side=1, link=lost, created_at=0.0)]),
            ]
        )
        assert await store.next_link_id() == 8
    finally:
        await store.close()


def test_the_shadow_after_one_side_is_written_holds_what_both_hold() -> None:
    shadow = {"a": 1, "b": 1, "c": 1}
    written = {"a": 2, "b": 2, "c": 1}
    assert rules.shadow_after_write(shadow, written, {"a": 2, "b": 1}) == {"a": 2, "b": 1, "c": 1}
    assert shadow == {"a": 1, "b": 1, "c": 1}, "the shadow given is not changed"


def test_a_linked_pair_merges_against_its_shadow_and_new_fields_by_the_master(
    tmp_path: Path,
) -> None:
    m = load_config(config_of(tmp_path)).maps[0]
    ids = {f.names[0]: f.id for f in m.all_fields}
    key, name, phone = ids["CustomerAccount"], ids["Name"], ids["Phone"]
    fno = {key: "C1", name: "a", phone: "f"}
    crm = {key: "C1", name: "edited", phone: "c"}
    merged = rules.relink_merge(m, {key: "C1", name: "a"}, (fno, crm), winner=0)
    assert merged == {key: "C1", name: "edited", phone: "f"}  # crm changed the name since
    # the shadow; the phone was never agreed: fno, the initial master, decides


# -- rows a side's own logic creates inside our write ----------------------------------------

TWO_MAPS = (
    NAME_PHONE_MAP
    + """
[[maps]]
name = "contacts"
fno = "ContactPersons"
crm = "contacts"
key = [ { fno = "ContactId", crm = "contactnumber" } ]
fields = [ { fno = "Name", crm = "fullname" } ]
"""
)


class PluginSide(MemorySide):
    """crm with a "plugin": creating an account also creates, in the same write (so with
    the replicator's token), a primary contact and a second account."""

    def _insert(self, op: WriteOp, table: dict[str, Any]) -> WriteResult:
        result = super()._insert(op, table)
        account = op.values.get("accountnumber")
        if op.entity == "accounts" and not str(account).endswith("-auto"):
            self._put(
                "contacts", "p1", {"contactnumber": f"{account}-P", "fullname": "p"}, op.token
            )
            values = {"accountnumber": f"{account}-auto", "name": "auto"}
            self._put("accounts", "a1", values, op.token)
        return result


@pytest.mark.anyio
async def test_rows_a_plugin_creates_in_our_write_are_replicated_not_taken_for_echoes(
    tmp_path: Path,
) -> None:
    """The contact and the extra account carry our token, but they are not the row we
    wrote: they are new records, replicated to fno like any other."""
    fno, crm = MemorySide("fno"), PluginSide("crm")
    config = write_config(tmp_path, TWO_MAPS)
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
            insert_c1(fno)()
            await rep.wait_idle()
    assert sorted(fields(fno, "CustomersV3", "CustomerAccount", "Name").items()) == [
        ("C1", "a"),
        ("C1-auto", "auto"),
    ]
    assert fields(fno, "ContactPersons", "ContactId", "Name") == {"C1-P": "p"}

"""The pipeline works in batches: the router's lookups and the actors' side reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from adapters.memory import MemorySide
from conftest import COMPANY_CUSTOMERS_MAP, routed, until, write_config
from replicator.adapter import ChangeBatch, Row
from replicator.engine import Replicator
from replicator.errors import TransientError
from replicator.pipeline.batcher import Batcher
from replicator.pipeline.reader import Reader

pytestmark = pytest.mark.anyio


class HeldFeed(MemorySide):
    """A memory side whose feed shows nothing past the point ``hold()`` marked (empty
    reads, as on a quiet side) until ``release()``: the echoes of writes made meanwhile
    wait."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.held_at: int | None = None
        self.read_up_to = 0

    @property
    def head(self) -> int:
        return self.first_seq + len(self.feed)

    def hold(self) -> None:
        self.held_at = self.head

    def release(self) -> None:
        """Show the rest at the next read (a host waiting for quiet reads again soon)."""
        self.held_at = None

    async def read_changes(self, cursor: str | None, limit: int) -> ChangeBatch:
        if self.held_at is not None:
            limit = max(0, min(limit, self.held_at - int(cursor or 0)))
        batch = await super().read_changes(cursor, limit)
        self.read_up_to = int(batch.cursor or 0)
        return batch


async def test_the_router_finds_a_batch_of_new_records_without_a_query_per_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty rows created at once are routed with a batched query by key, not one store
    round trip each (before: one ``link_by_key`` per row, which capped inserts at 500/s).

    crm's echoes of the thirty creates are held back until they are all linked: an echo
    that meets its actor ending is rightly looked up on its own (the actor may just have
    stored its link), and when that happens depends on the machine's load."""
    fno, crm = MemorySide("fno"), HeldFeed("crm")
    config = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        store = rep.ctx.store
        single, batched = [], []
        one, many = store.link_by_key, store.links_by_key

        async def counted_one(*args: Any) -> Any:
            single.append(args)
            return await one(*args)

        async def counted_many(*args: Any) -> Any:
            batched.append(args)
            return await many(*args)

        monkeypatch.setattr(store, "link_by_key", counted_one)
        monkeypatch.setattr(store, "links_by_key", counted_many)
        crm.hold()
        for i in range(30):
            fno.insert("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": f"C{i}"})
        with anyio.fail_after(10):
            await rep.wait_idle()
        assert len(crm.rows("accounts")) == 30
        assert single == [], "a store query per new record"
        assert 1 <= len(batched) < 10
        assert crm.read_up_to < crm.head, "the echoes were not held back"
        writes = fno.writes
        crm.release()
        with anyio.fail_after(10):
            await rep.wait_idle()
        assert crm.read_up_to == crm.head, "the echoes were not read"
    assert single == [], "an echo of a linked row was looked up by key"
    assert fno.writes == writes, "an echo was written back"


class SlowSide(MemorySide):
    """A memory side whose reads wait for ``go`` (a side busy with an earlier call)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.go = anyio.Event()
        self.gets: list[tuple[str, list[str]]] = []

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        self.gets.append((entity, list(native_ids)))
        await self.go.wait()
        if entity == "broken":
            raise TransientError("side 'slow': injected")
        return await super().get(entity, native_ids)


async def test_reads_that_queue_up_meanwhile_are_one_side_call_per_entity() -> None:
    """Actors' reads asked while the side is busy go out together, one ``get`` per entity;
    each actor gets its own rows; a failing call fails only the reads of its entity."""
    side = SlowSide("slow")
    ids = [side.insert("items", {"code": f"I{i}"}) for i in range(4)]
    reader = Reader(side, 100)
    answers: dict[str, Any] = {}

    async def read(name: str, entity: str, wanted: list[str]) -> None:
        try:
            answers[name] = sorted(await reader.get(entity, wanted))
        except TransientError as exc:
            answers[name] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(reader.run)
            tg.start_soon(read, "first", "items", ids[:1])
            await wait_all_tasks_blocked()  # the first call is at the side
            for i, name in enumerate(("a", "b", "c")):
                tg.start_soon(read, name, "items", ids[i + 1 : i + 2])
            tg.start_soon(read, "bad", "broken", ["x"])
            await wait_all_tasks_blocked()
            side.go.set()
            while len(answers) < 5:
                await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert side.gets == [("items", ids[:1]), ("items", sorted(ids[1:])), ("broken", ["x"])]
    assert [answers[n] for n in ("first", "a", "b", "c")] == [[i] for i in ids]
    assert isinstance(answers["bad"], TransientError)


class PoisonSide(MemorySide):
    """A memory side whose ``get`` raises ``KeyError`` whenever it is asked for ``bad``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.bad = ""
        self.calls: list[list[str]] = []

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        self.calls.append(list(native_ids))
        if self.bad in native_ids:
            raise KeyError("ExtensionField")
        return await super().get(entity, native_ids)


async def test_one_bad_row_fails_only_its_own_read_and_the_batch_is_halved_to_find_it() -> None:
    """A batched ``get`` that raises (not transiently) is asked again in halves: the read
    of the bad row alone gets the error, its 15 neighbours their rows, in a few calls."""
    side = PoisonSide("poison")
    ids = [side.insert("items", {"code": f"I{i}"}) for i in range(16)]
    side.bad = ids[5]
    reader = Reader(side, 100)
    answers: dict[str, Any] = {}

    async def read(native_id: str) -> None:
        try:
            answers[native_id] = list(await reader.get("items", [native_id]))
        except KeyError as exc:
            answers[native_id] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for native_id in ids:
                tg.start_soon(read, native_id)
            await wait_all_tasks_blocked()  # all 16 queued before the reader runs
            await tg.start(reader.run)
            while len(answers) < len(ids):
                await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert isinstance(answers.pop(side.bad), KeyError)
    assert answers == {n: [n] for n in ids if n != side.bad}
    assert len(side.calls[0]) == 16, "one call for the whole batch first"
    assert len(side.calls) <= 1 + 2 * 4, "about two calls per halving, not one per row"


class CountedSide(MemorySide):
    """A memory side that counts the rows its ``get`` was asked for."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.asked: list[str] = []

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        self.asked += native_ids
        return await super().get(entity, native_ids)


async def test_a_new_row_is_read_once_on_its_own_side(tmp_path: Path) -> None:
    """A row created on one side is read there once to be created on the other (before:
    twice, the create reading again the row the actor had just read)."""
    fno, crm = CountedSide("fno"), MemorySide("crm")
    config = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        with anyio.fail_after(10):
            await rep.wait_idle()
        nid = fno.insert("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "C1"})
        with anyio.fail_after(10):
            await rep.wait_idle()
        assert len(crm.rows("accounts")) == 1
    assert fno.asked.count(nid) == 1


class DeletedAfterRead(MemorySide):
    """A side where a user deletes each new row just after the replicator read it, and the
    replicator journals and routes that delete before it creates the row's partner."""

    rep: Replicator

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.doomed: set[str] = set()

    async def get(self, entity: str, native_ids: Sequence[str]) -> dict[str, Row]:
        rows = await super().get(entity, native_ids)
        for nid in self.doomed & set(rows):
            self.doomed.discard(nid)
            self.delete(entity, nid)
            await until(lambda: routed(self.rep, self.feed, "customers", 0))
        return rows  # as read: the row is gone by the time its partner is created


async def test_a_row_deleted_right_after_its_read_is_not_left_created(tmp_path: Path) -> None:
    """With the create trusting the actor's one read, a row deleted after that read still
    ends on neither side: its delete waits in the record's mailbox behind the insert and
    deletes the partner just created (no link, no error, nothing resurrected)."""
    fno, crm = DeletedAfterRead("fno"), MemorySide("crm")
    config = write_config(tmp_path, COMPANY_CUSTOMERS_MAP)
    async with Replicator(config, sides={"fno": fno, "crm": crm}) as rep:
        fno.rep = rep
        with anyio.fail_after(10):
            await rep.wait_idle()
        fno.doomed.add(fno.insert("CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "C1"}))
        with anyio.fail_after(10):
            await rep.wait_idle()
        assert fno.doomed == set()  # the row was read, then deleted
        assert fno.rows("CustomersV3") == {} and crm.rows("accounts") == {}
        assert await rep.ctx.store.errors() == []
        status = await rep.status()
    assert [m["links"] for m in status["maps"] if m["map"] == "customers"] == [0]


async def test_a_writer_batch_waits_a_moment_for_more_and_goes_when_full() -> None:
    """A batch that is not full waits ``gather_s`` for more items, but goes as soon as it
    is full (before: each item that came alone was a batch, a transaction, of its own)."""
    batches: list[list[int]] = []

    async def handle(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [i * 10 for i in items]

    batcher = Batcher(handle, max_batch=3, gather_s=60.0)
    answers: list[int] = []

    async def submit(i: int) -> None:
        answers.append(await batcher.submit(i))

    with anyio.fail_after(10):  # far below gather_s: the full batch did not wait it out
        async with anyio.create_task_group() as tg:
            await tg.start(batcher.run)
            tg.start_soon(submit, 1)
            await wait_all_tasks_blocked()  # the batch of 1 waits for more
            assert batches == []
            for i in (2, 3):
                tg.start_soon(submit, i)
            while len(answers) < 3:
                await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
    assert batches == [[1, 2, 3]]
    assert sorted(answers) == [10, 20, 30]

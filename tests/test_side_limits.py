"""A side's own limits: the writer keeps its batches within the side's batch size and has
as many in flight as the side allows (a remote side takes several requests at once)."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from adapters.memory import MemorySide
from replicator.adapter import SideLimits, WriteOp, WriteResult
from replicator.pipeline.writer import Writer

pytestmark = pytest.mark.anyio


class CountingSide(MemorySide):
    """A memory side that records its batch sizes and how many writes ran at once."""

    def __init__(self, limits: SideLimits) -> None:
        super().__init__("crm")
        self.limits = limits
        self.sizes: list[int] = []
        self.running = 0
        self.most = 0
        self.release = anyio.Event()

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.sizes.append(len(ops))
        self.running += 1
        self.most = max(self.most, self.running)
        if self.most >= 3:
            self.release.set()
        with anyio.fail_after(5):
            await self.release.wait()
        self.running -= 1
        return await super().write(ops)


@pytest.mark.parametrize("in_flight", [1, 3])
async def test_the_writer_keeps_a_sides_batch_size_and_calls_in_flight(in_flight: int) -> None:
    """Twelve writes to a side that takes 2 operations a call and ``in_flight`` calls at
    once: no call carries more than 2, and up to ``in_flight`` run together."""
    side = CountingSide(SideLimits(batch_size=2, in_flight=in_flight))
    if in_flight == 1:
        side.release.set()
    writer = Writer(side, 1, 500, lambda _: None, {})
    results: list[WriteResult] = []
    async with anyio.create_task_group() as tg:
        await tg.start(writer.run)

        async def one(i: int) -> None:
            op = WriteOp("accounts", "insert", f"t{i}", values={"n": i})
            results.append(await writer.submit(op))

        async with anyio.create_task_group() as writes:
            for i in range(12):
                writes.start_soon(one, i)
        tg.cancel_scope.cancel()
    assert [r.status for r in results] == ["applied"] * 12
    assert max(side.sizes) <= 2 and sum(side.sizes) == 12
    assert side.most == in_flight

"""A batcher: many tasks submit items, one task handles them in batches, each gets its answer.

The writers (one per side) and the committer are batchers: actors submit a write or a
commit and wait for its own answer, while the batcher turns whatever has queued up
into one transaction or one batch request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

T = TypeVar("T")
R = TypeVar("R")


class _Request(Generic[T, R]):
    __slots__ = ("item", "done", "result", "error")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = anyio.Event()
        self.result: R | None = None
        self.error: BaseException | None = None


class Batcher(Generic[T, R]):
    """Runs ``handle(items) -> answers`` over batches of at most ``max_batch`` items."""

    def __init__(
        self,
        handle: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        max_batch: int,
        capacity: int = 4096,
    ) -> None:
        self.handle = handle
        self.max_batch = max_batch
        self._send: MemoryObjectSendStream[_Request[T, R]]
        self._receive: MemoryObjectReceiveStream[_Request[T, R]]
        self._send, self._receive = anyio.create_memory_object_stream(capacity)

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its answer (or the batch's exception)."""
        request: _Request[T, R] = _Request(item)
        await self._send.send(request)
        await request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Handle batches until cancelled."""
        task_status.started()
        async with self._receive:
            async for first in self._receive:
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._receive.receive_nowait())
                    except anyio.WouldBlock:
                        break
                await self._handle(batch)

    async def _handle(self, batch: list[_Request[T, R]]) -> None:
        try:
            answers = await self.handle([r.item for r in batch])
            for request, answer in zip(batch, answers, strict=True):
                request.result = answer
        except Exception as exc:  # every waiter gets the batch's failure
            for request in batch:
                request.error = exc
        finally:
            for request in batch:
                request.done.set()

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


async def put(stream: MemoryObjectSendStream[T], item: T) -> None:
    """Send ``item``, waiting only if the stream is full.

    anyio's ``send`` passes through the event loop once per item even when there is room;
    a stage that hands on hundreds of items a batch (an intake, every actor's submit)
    would pay a scheduler round per item for nothing.
    """
    try:
        stream.send_nowait(item)
    except anyio.WouldBlock:
        await stream.send(item)


class _Request(Generic[T, R]):
    __slots__ = ("item", "done", "result", "error")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = anyio.Event()
        self.result: R | None = None
        self.error: BaseException | None = None


class Batcher(Generic[T, R]):
    """Runs ``handle(items) -> answers`` over batches of at most ``max_batch`` items.

    ``gather_s``: how long a batch that is not full waits for more items once its first
    came (0: it takes only what queued meanwhile). ``concurrency``: how many batches may be
    handled at once (a remote side takes several requests in flight); one batch gathers at
    a time, and the next gathers while the ones before it are handled.
    """

    def __init__(
        self,
        handle: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        max_batch: int,
        capacity: int = 4096,
        gather_s: float = 0.0,
        concurrency: int = 1,
    ) -> None:
        self.handle = handle
        self.concurrency = max(1, concurrency)
        self._gathering = anyio.Lock()
        self.max_batch = max_batch
        self.gather_s = gather_s
        self._send: MemoryObjectSendStream[_Request[T, R]]
        self._receive: MemoryObjectReceiveStream[_Request[T, R]]
        self._send, self._receive = anyio.create_memory_object_stream(capacity)
        self._full: anyio.Event | None = None  # set once the gathering batch can fill up
        self._room = 0  # how many more items the gathering batch takes

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its answer (or the batch's exception)."""
        request: _Request[T, R] = _Request(item)
        await put(self._send, request)
        full = self._full
        if full is not None and self._receive.statistics().current_buffer_used >= self._room:
            full.set()
        await request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Handle batches until cancelled."""
        task_status.started()
        async with self._receive, anyio.create_task_group() as tg:
            for _ in range(self.concurrency - 1):
                tg.start_soon(self._loop)
            await self._loop()

    async def _loop(self) -> None:
        while True:
            async with self._gathering:
                try:
                    first = await self._receive.receive()
                except anyio.EndOfStream:
                    return
                batch = await self._gather(first)
            await self._handle(batch)

    async def _gather(self, first: _Request[T, R]) -> list[_Request[T, R]]:
        """``first`` and what queued meanwhile; if that is not a full batch, what comes
        within ``gather_s`` too, or until it is full (the wait is on an event, never on a
        receive that a timeout would cancel with an item in hand)."""
        batch = [first]
        self._drain(batch)
        if self.gather_s > 0 and len(batch) < self.max_batch:
            self._full, self._room = anyio.Event(), self.max_batch - len(batch)
            with anyio.move_on_after(self.gather_s):
                await self._full.wait()
            self._full = None
            self._drain(batch)
        return batch

    def _drain(self, batch: list[_Request[T, R]]) -> None:
        while len(batch) < self.max_batch:
            try:
                batch.append(self._receive.receive_nowait())
            except anyio.WouldBlock:
                return

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

"""A batcher: many tasks submit items, one task handles them in batches, each gets its answer.

The writers (one per side) and the committer are batchers: actors submit a write or a
commit and wait for its own answer, while the batcher turns whatever has queued up
into one transaction or one batch request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

T = TypeVar("T")
R = TypeVar("R")


async def put(stream: MemoryObjectSendStream[T], item: T) -> None:
    """Send ``item``, waiting only if the stream is full.

    anyio's ``send`` passes through the event loop once per item even when there is room;
    a stage that hands on hundreds of items a batch (an intake) would pay a scheduler
    round per item for nothing.
    """
    try:
        stream.send_nowait(item)
    except anyio.WouldBlock:
        await stream.send(item)
    except anyio.BrokenResourceError:
        # the receiver is gone: at a shutdown this sender is being cancelled too, and
        # sees its cancellation here, not a failure to log (a crashed receiver re-raises)
        await anyio.lowlevel.checkpoint()
        raise


class _Round(Generic[T, R]):
    """The items of one batch, as they come, and the batch's answers once handled.

    Every submitter of a batch waits on the round's one event (not an event each: a
    batch of hundreds costs one), then reads its own answer by position.
    """

    __slots__ = ("items", "answers", "error", "done", "full")

    def __init__(self, gathers: bool) -> None:
        self.items: list[T] = []
        self.answers: Sequence[R] = ()
        self.error: BaseException | None = None
        self.done = anyio.Event()
        self.full = anyio.Event() if gathers else None


class Batcher(Generic[T, R]):
    """Runs ``handle(items) -> answers`` over batches of at most ``max_batch`` items.

    ``gather_s``: how long a batch that is not full waits for more items once its first
    came (0: it takes only what came before its handler got to it). ``concurrency``: how
    many batches may be handled at once (a remote side takes several requests in flight);
    one batch gathers at a time, and the next gathers while the ones before it are handled.

    Items join the open round; a handler takes the oldest round, closes it once it is full
    or its gathering time is up, and answers all its items at once. While a batch is
    handled, what comes meanwhile fills the next round: that is the group commit.
    """

    def __init__(
        self,
        handle: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        max_batch: int,
        gather_s: float = 0.0,
        concurrency: int = 1,
    ) -> None:
        self.handle = handle
        self.concurrency = max(1, concurrency)
        self.max_batch = max(1, max_batch)
        self.gather_s = gather_s
        self._open: _Round[T, R] | None = None  # the round new items join
        self._ready: deque[_Round[T, R]] = deque()  # rounds no handler took yet
        self._wake = anyio.Event()  # set when a round is ready
        self._stopped = False

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its answer (or the batch's exception)."""
        if self._stopped:
            raise anyio.BrokenResourceError("the batcher has stopped")
        round_ = self._open
        if round_ is None:
            round_ = self._open = _Round(self.gather_s > 0)
            self._ready.append(round_)
            self._wake.set()
        index = len(round_.items)
        round_.items.append(item)
        if len(round_.items) >= self.max_batch:
            self._close(round_)
        await round_.done.wait()
        if round_.error is not None:
            if isinstance(round_.error, anyio.BrokenResourceError):
                # the batcher stopped because its task group is cancelled, and so, most
                # likely, is this waiter: it sees its cancellation, not an outage to log
                await anyio.lowlevel.checkpoint()
            raise round_.error
        return round_.answers[index]

    def _close(self, round_: _Round[T, R]) -> None:
        """No more items join ``round_``: the next ones open a round of their own."""
        if self._open is round_:
            self._open = None
        if round_.full is not None:
            round_.full.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Handle batches until cancelled; then every waiting submitter gets
        ``BrokenResourceError`` (nothing it submitted was handled)."""
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                for _ in range(self.concurrency - 1):
                    tg.start_soon(self._loop)
                await self._loop()
        finally:
            self._stopped = True
            self._open = None
            while self._ready:
                self._abandon(self._ready.popleft())

    async def _loop(self) -> None:
        while True:
            while not self._ready:
                if self._wake.is_set():
                    self._wake = anyio.Event()
                await self._wake.wait()
            round_ = self._ready.popleft()
            try:
                await self._gather(round_)
                self._close(round_)
                round_.answers = await self.handle(round_.items)
                if len(round_.answers) != len(round_.items):
                    raise RuntimeError(
                        f"a batch of {len(round_.items)} got {len(round_.answers)} answers"
                    )
            except Exception as exc:  # every waiter gets the batch's failure
                round_.error = exc
            except BaseException:
                self._abandon(round_)
                raise
            round_.done.set()

    async def _gather(self, round_: _Round[T, R]) -> None:
        """Give a round that is not full ``gather_s`` to fill (the wait is on an event,
        never on a receive a timeout would cancel with an item in hand)."""
        if round_.full is not None and len(round_.items) < self.max_batch:
            with anyio.move_on_after(self.gather_s):
                await round_.full.wait()

    def _abandon(self, round_: _Round[T, R]) -> None:
        self._close(round_)
        if not round_.done.is_set():
            round_.error = anyio.BrokenResourceError("the batcher stopped before this batch")
            round_.done.set()

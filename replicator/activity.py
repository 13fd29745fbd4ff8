"""Activity: what is in flight, so a host (and a drain) can wait until all is quiet."""

from __future__ import annotations

import itertools

import anyio


class Activity:
    """Counts in-flight changes and intake reads, so a host can wait until all is quiet.

    Quiet means: no change in flight, and every side's intake finished an empty read
    that started after the last write to that side and after the wait began.
    """

    def __init__(self, sides: int) -> None:
        self.inflight = 0
        self._tick = itertools.count(1)
        self.last_write = [0] * sides
        self.empty_read = [0] * sides
        self._changed = anyio.Event()
        self.quiet_waiters = 0
        """Hosts in ``wait_quiet``: while there are any, intakes read again at their side's
        poll interval (quiet needs a fresh empty read), not only when the side says so."""
        self.quiet_wanted = anyio.Event()
        """Set when a host starts waiting for quiet (it wakes intakes in a long wait)."""

    def tick(self) -> int:
        return next(self._tick)

    def notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def add(self, n: int) -> None:
        self.inflight += n
        self.notify()

    def done(self, n: int = 1) -> None:
        self.inflight -= n
        self.notify()

    def wrote(self, side: int) -> None:
        self.last_write[side] = self.tick()

    def read_empty(self, side: int, started: int) -> None:
        self.empty_read[side] = max(self.empty_read[side], started)
        self.notify()

    def quiet_since(self, since: int) -> bool:
        return self.inflight == 0 and all(
            e > max(since, w) for e, w in zip(self.empty_read, self.last_write, strict=True)
        )

    async def wait_drained(self) -> None:
        """Wait until no change is in flight."""
        while self.inflight > 0:
            await self._changed.wait()

    async def wait_quiet(self) -> None:
        since = self.tick()
        self.quiet_waiters += 1
        self.quiet_wanted.set()
        self.quiet_wanted = anyio.Event()
        try:
            while not self.quiet_since(since):
                await self._changed.wait()
        finally:
            self.quiet_waiters -= 1

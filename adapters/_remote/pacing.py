"""How fast one remote side sends: retries, the request budget, throttling and concurrency.

Dataverse's service protection limits are per user and per web server (powerapps-docs
api-limits.md): 6,000 requests and 1,200 s of execution within a sliding 300 s window, and 52
concurrent requests; the server's ``x-ms-dop-hint`` says how many requests to keep in flight
(send-parallel-requests.md). F&O's priority-based and resource-based throttling
(priority-based-throttling.md, service-protection-api-limits.md) answers 429 with
``Retry-After`` as well, and sends no hint. A 429 says how long to wait. ``Pacer`` keeps all of
it for one side (its log events are named after the side's ``kind``): the transport asks it
before each request (``ready``, ``slot``) and tells it what came back (``answered``,
``throttled``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import anyio
import msgspec
import structlog

from replicator.backoff import Backoff

log = structlog.get_logger()

MAX_CONCURRENCY = 52
"""Dataverse refuses more concurrent requests of one user at once (the most any side sends)."""


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    """The most requests a side sends within a sliding window (a ``$batch`` counts as one)."""

    requests: int = 6000
    window_s: float = 300.0


class Pacer:
    """One side's pace: the budget window, throttling pauses and the adaptive concurrency.

    ``in_flight`` starts at ``most`` (the side's ``max_in_flight``); a 429 halves it (once per
    pause), ``in_flight`` successes in a row raise it by one, never above ``most``, the latest
    ``x-ms-dop-hint`` or 52.
    """

    def __init__(
        self,
        side: str,
        most: int,
        *,
        kind: str,
        backoff: Backoff,
        budget: Budget,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.side = side
        self.kind = kind
        """The adapter's name, the prefix of its log events (``dataverse_throttled``)."""
        self.backoff = backoff
        self.in_flight = self._most = self._ceiling = min(most, MAX_CONCURRENCY)
        self.slot = anyio.CapacityLimiter(self.in_flight)
        """Hold it while a request is in flight."""
        self._budget = budget
        self._clock = clock
        self._sent: deque[float] = deque()
        self._budget_lock = anyio.Lock()
        self._resume_at = 0.0
        self._successes = 0
        self.on_throttled: Callable[[float], None] | None = None
        """Told the seconds of every 429 waited out (the engine's metrics)."""

    async def ready(self) -> None:
        """Wait out a throttling pause, then for room in the budget (and take it)."""
        if (pause := self._resume_at - self._clock()) > 0:
            await anyio.sleep(pause)
        async with self._budget_lock:
            window, limit = self._budget.window_s, self._budget.requests
            while self._sent and self._sent[0] <= self._clock() - window:
                self._sent.popleft()
            if len(self._sent) >= limit:
                wait = max(self._sent[0] + window - self._clock(), 0.0)
                log.info(
                    f"{self.kind}_budget_wait", side=self.side, wait_s=round(wait, 3), limit=limit
                )
                await anyio.sleep(wait)
                self._sent.popleft()
            self._sent.append(self._clock())

    def throttled(self, retry_after: str | None, code: str) -> float:
        """A 429: pause the side for ``Retry-After`` and halve its concurrency; the wait."""
        wait = _seconds(retry_after) or self.backoff.delay(1)
        now = self._clock()
        if now >= self._resume_at:  # the first 429 of this pause
            self._resize(max(1, self.in_flight // 2))
        self._resume_at = max(self._resume_at, now + wait)
        log.warning(
            f"{self.kind}_throttled",
            side=self.side,
            wait_s=wait,
            code=code,
            in_flight=self.in_flight,
        )
        if self.on_throttled is not None:
            self.on_throttled(wait)
        return wait

    def answered(self, status: int, dop_hint: str | None) -> None:
        """Learn from an answer: follow ``x-ms-dop-hint``, grow after enough successes."""
        if dop_hint and dop_hint.strip().isdigit() and int(dop_hint) > 0:
            self._ceiling = min(self._most, int(dop_hint))
        if status < 429 or 429 < status < 500:
            self._successes += 1
        if self.in_flight > self._ceiling:
            self._resize(self._ceiling)
        elif self._successes >= self.in_flight and self.in_flight < self._ceiling:
            self._resize(self.in_flight + 1)

    def _resize(self, in_flight: int) -> None:
        self.in_flight, self._successes = in_flight, 0
        self.slot.total_tokens = in_flight


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds; None if missing or an HTTP date (both services send seconds)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds > 0 else None

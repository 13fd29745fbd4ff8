"""Injected throttling and outages (``priority-based-throttling.md``,
``service-protection-api-limits.md``): the next n requests answer 429 with ``Retry-After``
(seconds), or a 5xx, in the order they were injected.

The docs give the status and the header, not the body; the emulator sends F&O's error shape
with the common wording of its throttling answer (a comment in ``refusal`` says so).
"""

from __future__ import annotations

import math
from collections import deque

from emulators.fno.errors import FnoError


class Throttling:
    """The queue of injected refusals; ``next()`` pops the one the next request gets."""

    def __init__(self) -> None:
        self._queue: deque[FnoError] = deque()

    def throttle(self, count: int, retry_after_s: float = 1.0) -> None:
        """Refuse the next ``count`` requests with 429 and that Retry-After."""
        seconds = max(1, math.ceil(retry_after_s))
        # No documented body: the wording of the throttling answers users report.
        refusal = FnoError(
            429,
            f"Rate limit is exceeded. Try again in {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
        )
        self._queue.extend([refusal] * count)

    def fail(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with a server error (503: unavailable)."""
        refusal = FnoError(status, "The service is temporarily unavailable.")
        self._queue.extend([refusal] * count)

    def next(self) -> FnoError | None:
        return self._queue.popleft() if self._queue else None

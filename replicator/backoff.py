"""One backoff policy for everything that waits before trying again.

A failed try waits longer each time: ``first_s`` after the first, doubling up to
``most_s``, each wait drawn between half its step and all of it, so that many records (or
requests) that failed together do not all come back at the same moment, and no wait is
longer than ``most_s``. A ``Retry-After`` the other side sent wins when it asks for more.

Who uses it: a record's actor and a map's catch-up (the engine's ``[engine]
retry_first_s`` and ``retry_max_s``), an intake whose feed is down, the engine retrying a
side away at start or an initial sync a side's outage cut short (engine.py), a patient
state-store connection waiting out another process's lock (store_db.py), and the remote
sides' HTTP transport (which also gives up after ``attempts``).
"""

from __future__ import annotations

import random

import msgspec


class Backoff(msgspec.Struct, frozen=True, kw_only=True):
    """Exponential backoff with jitter; see the module docstring."""

    first_s: float = 0.5
    most_s: float = 30.0
    attempts: int = 5
    """Tries in all before a caller that gives up does so (the engine never does)."""

    def step(self, attempt: int) -> float:
        """The longest wait after failed try number ``attempt`` (>= 1)."""
        doublings = min(max(attempt, 1) - 1, 60)
        return min(self.most_s, self.first_s * float(2**doublings))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (>= 1): half to all of its
        step, or ``retry_after`` if that is longer."""
        step = self.step(attempt)
        return max(random.uniform(step / 2, step), retry_after or 0.0)
